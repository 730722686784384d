/*
 * The AWS answers the adapter reads, parsed with libxml2 into compact
 * structs (aws_internal.h), and the error mapping.
 *
 * Hostile bodies: the size is capped before parsing; the parser never
 * touches the network (XML_PARSE_NONET), never substitutes entities (no
 * XML_PARSE_NOENT), keeps libxml2's depth and amplification limits (no
 * XML_PARSE_HUGE), and any DOCTYPE or entity reference in the document is
 * refused outright: AWS's answers have neither.
 */
#include "aws_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#define MAX_DEPTH 32

typedef xmlNode node;

/* The first element child of n named name (local name), or NULL. */
static node *child(const node *n, const char *name) {
  node *c;
  if (n == NULL) return NULL;
  for (c = n->children; c != NULL; c = c->next)
    if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0) return c;
  return NULL;
}

/* The next element sibling of c with the same name, or NULL. */
static node *next_same(const node *c) {
  node *s;
  for (s = c->next; s != NULL; s = s->next)
    if (s->type == XML_ELEMENT_NODE && strcmp((const char *)s->name, (const char *)c->name) == 0) return s;
  return NULL;
}

/* Follows a path of element names separated by '/'. */
static node *path(const node *n, const char *p) {
  char name[64];
  while (n != NULL && *p != '\0') {
    size_t k = strcspn(p, "/");
    if (k >= sizeof(name)) return NULL;
    memcpy(name, p, k);
    name[k] = '\0';
    n = child(n, name);
    p += k;
    if (*p == '/') p++;
  }
  return (node *)n;
}

/* The text of element n (concatenated text children), interned; NULL when n is NULL. */
static const char *text(struct stv__aws_answer *a, const node *n, int *nomem) {
  char buf[4096];
  size_t len = 0;
  const node *c;
  const char *s;
  if (n == NULL) return NULL;
  for (c = n->children; c != NULL; c = c->next) {
    size_t k;
    if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) continue;
    k = strlen((const char *)c->content);
    if (k > sizeof(buf) - 1 - len) k = sizeof(buf) - 1 - len; /* longer values are not AWS's */
    memcpy(buf + len, c->content, k);
    len += k;
  }
  buf[len] = '\0';
  if ((s = stv_strpool_intern(&a->pool, buf, len)) == NULL) *nomem = 1;
  return s;
}

static size_t count_members(const node *list, const char *name) {
  size_t n = 0;
  const node *c;
  for (c = child(list, name); c != NULL; c = next_same(c)) n++;
  return n;
}

/* Allocates one zeroed entry of size bytes per elem child of list into *out (NULL when none); 0 or STV_ENOMEM. */
static int alloc_members(const node *list, const char *elem, size_t size, void **out, size_t *n) {
  *n = count_members(list, elem);
  *out = NULL;
  if (*n > 0 && (*out = stv_calloc(*n, size)) == NULL) return STV_ENOMEM;
  return 0;
}

/* Refuses entity references and over-deep nesting anywhere under n. */
static int check_tree(const node *n, int depth) {
  const node *c;
  if (depth > MAX_DEPTH) return STV_ELIMIT;
  for (c = n->children; c != NULL; c = c->next) {
    int rc;
    if (c->type == XML_ENTITY_REF_NODE || c->type == XML_ENTITY_NODE || c->type == XML_ENTITY_DECL ||
        c->type == XML_DTD_NODE)
      return STV_EPARSE;
    if (c->type == XML_ELEMENT_NODE && (rc = check_tree(c, depth + 1)) != 0) return rc;
  }
  return 0;
}

/* Parses body into a document whose root is checked; *out NULL on error. */
static int read_doc(const char *action, const char *body, size_t len, xmlDoc **out, struct stv_err *err) {
  xmlParserCtxtPtr ctxt;
  xmlDoc *doc;
  int rc;
  *out = NULL;
  if (len > STV__AWS_MAX_BODY)
    return stv_err_set(err, STV_EPARSE, "%s: the answer is %zu bytes, more than the %zu this program reads",
                       action, len, (size_t)STV__AWS_MAX_BODY);
  if (len == 0) return stv_err_set(err, STV_EPARSE, "%s: the answer is empty", action);
  if ((ctxt = xmlNewParserCtxt()) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  doc = xmlCtxtReadMemory(ctxt, body, (int)len, "answer.xml", NULL,
                          XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
  if (doc == NULL) {
    const xmlError *e = xmlCtxtGetLastError(ctxt);
    char what[160];
    snprintf(what, sizeof(what), "%s", e != NULL && e->message != NULL ? e->message : "unreadable");
    what[strcspn(what, "\n")] = '\0';
    rc = stv_err_set(err, STV_EPARSE, "%s: the answer is not well-formed XML (line %d: %s)", action,
                     e != NULL ? e->line : 0, what);
    xmlFreeParserCtxt(ctxt);
    return rc;
  }
  xmlFreeParserCtxt(ctxt);
  if (doc->intSubset != NULL || doc->extSubset != NULL) {
    xmlFreeDoc(doc);
    return stv_err_set(err, STV_EPARSE, "%s: the answer has a DOCTYPE, which AWS never sends; refused",
                       action);
  }
  if (xmlDocGetRootElement(doc) == NULL) {
    xmlFreeDoc(doc);
    return stv_err_set(err, STV_EPARSE, "%s: the answer has no root element", action);
  }
  if ((rc = check_tree(xmlDocGetRootElement(doc), 0)) != 0) {
    xmlFreeDoc(doc);
    if (rc == STV_ELIMIT)
      return stv_err_set(err, STV_EPARSE, "%s: the answer nests deeper than %d elements; refused", action,
                         MAX_DEPTH);
    return stv_err_set(err, STV_EPARSE,
                       "%s: the answer has an entity reference, which AWS never sends; refused", action);
  }
  *out = doc;
  return 0;
}

int stv__aws_parse_error(const char *body, size_t len, struct stv__aws_error *e) {
  struct stv__aws_answer a;
  struct stv_err err = {0, ""};
  xmlDoc *doc = NULL;
  const node *root, *en;
  int nomem = 0, rc = STV_EPARSE;
  const char *code, *msg;
  e->code[0] = e->message[0] = '\0';
  memset(&a, 0, sizeof(a));
  stv_strpool_init(&a.pool);
  if (read_doc("error", body, len, &doc, &err) != 0) goto out;
  root = xmlDocGetRootElement(doc);
  if (strcmp((const char *)root->name, "ErrorResponse") == 0)
    en = child(root, "Error");
  else if (strcmp((const char *)root->name, "Response") == 0)
    en = path(root, "Errors/Error");
  else
    en = NULL;
  if (en == NULL || (code = text(&a, child(en, "Code"), &nomem)) == NULL) goto out;
  msg = text(&a, child(en, "Message"), &nomem);
  snprintf(e->code, sizeof(e->code), "%s", code);
  snprintf(e->message, sizeof(e->message), "%s", msg != NULL ? msg : "");
  rc = 0;
out:
  xmlFreeDoc(doc);
  stv_strpool_close(&a.pool);
  return rc;
}

static int has_prefix(const char *s, const char *p) {
  return strncmp(s, p, strlen(p)) == 0;
}

static int has_suffix(const char *s, const char *p) {
  size_t n = strlen(s), k = strlen(p);
  return n >= k && strcmp(s + n - k, p) == 0;
}

/* The IAM action of an API action: "autoscaling:SetDesiredCapacity". */
static void permission(char *buf, size_t n, const char *service, const char *action) {
  snprintf(buf, n, "%s:%s", service, action);
}

int stv__aws_map_error(const char *service, const char *action, long status, const char *body, size_t len,
                       char *msg, size_t n) {
  struct stv__aws_error e;
  char perm[160];
  const char *c;
  int code;
  if (stv__aws_parse_error(body, len, &e) != 0) {
    snprintf(msg, n, "%s %s: HTTP %ld with no AWS error document", service, action, status);
    if (status == 429 || status == 503) return STV_ETHROTTLED;
    if (status == 404) return STV_ENOTFOUND;
    if (status == 400) return STV_EINVAL;
    return STV_EIO;
  }
  c = e.code;
  permission(perm, sizeof(perm), service, action);
  if (strcmp(c, "AccessDenied") == 0 || strcmp(c, "AccessDeniedException") == 0 ||
      strcmp(c, "UnauthorizedOperation") == 0 || strcmp(c, "AuthFailure") == 0) {
    snprintf(msg, n,
             "%s %s: %s: the role lacks the permission %s (grant it: docs/cloud-aws.md has the policy): %s",
             service, action, c, perm, e.message);
    return STV_EUNSUPPORTED;
  }
  if (strcmp(c, "ExpiredToken") == 0 || strcmp(c, "ExpiredTokenException") == 0 ||
      strcmp(c, "RequestExpired") == 0 || strcmp(c, "InvalidClientTokenId") == 0 ||
      strcmp(c, "SignatureDoesNotMatch") == 0 || strcmp(c, "AuthFailure.TokenExpired") == 0)
    code = STV_ETIMEDOUT;
  else if (has_prefix(c, "InsufficientInstanceCapacity") || strcmp(c, "InsufficientCapacity") == 0 ||
           has_prefix(c, "InsufficientHostCapacity") ||
           strcmp(c, "InsufficientReservedInstanceCapacity") == 0)
    code = STV_ECAPACITY;
  else if (strcmp(c, "Throttling") == 0 || strcmp(c, "ThrottlingException") == 0 ||
           strcmp(c, "RequestLimitExceeded") == 0 || strcmp(c, "TooManyRequestsException") == 0 ||
           strcmp(c, "SlowDown") == 0 || strcmp(c, "ServiceUnavailable") == 0 ||
           strcmp(c, "Unavailable") == 0)
    code = STV_ETHROTTLED;
  else if (has_suffix(c, "NotFound") || has_suffix(c, ".NotFound") || strcmp(c, "ResourceNotFound") == 0)
    code = STV_ENOTFOUND;
  else if (strcmp(c, "LimitExceeded") == 0 || has_suffix(c, "LimitExceeded") ||
           strcmp(c, "VcpuLimitExceeded") == 0 || strcmp(c, "InstanceLimitExceeded") == 0 ||
           strcmp(c, "ServiceLinkedRoleFailure") == 0)
    code = STV_ELIMIT;
  else if (strcmp(c, "ValidationError") == 0 || has_prefix(c, "InvalidParameter") ||
           has_prefix(c, "Invalid") || strcmp(c, "MissingParameter") == 0 ||
           strcmp(c, "ScalingActivityInProgress") == 0 || strcmp(c, "ResourceInUse") == 0 ||
           strcmp(c, "ResourceContention") == 0)
    code = strcmp(c, "ScalingActivityInProgress") == 0 || strcmp(c, "ResourceContention") == 0
               ? STV_ETHROTTLED
               : STV_EINVAL;
  else if (status >= 500)
    code = STV_EIO;
  else
    code = STV_EIO;
  snprintf(msg, n, "%s %s: %s: %s", service, action, c, e.message);
  return code;
}

/* ---------------------------------------------------------------------- */
/* Answers                                                                */

const char *stv__aws_tag(const struct stv__aws_asg *g, const char *key) {
  size_t i;
  for (i = 0; i < g->ntags; i++)
    if (strcmp(g->tags[i].key, key) == 0) return g->tags[i].value;
  return NULL;
}

static int parse_int(const char *action, const char *what, const char *s, int64_t *out, struct stv_err *err) {
  char *end;
  long long v;
  if (s == NULL) return stv_err_set(err, STV_EPARSE, "%s: %s is missing", action, what);
  v = strtoll(s, &end, 10);
  if (end == s || *end != '\0' || v < 0)
    return stv_err_set(err, STV_EPARSE, "%s: %s is \"%.40s\", not a count", action, what, s);
  *out = v;
  return 0;
}

/* Reads the text of every `member` (or `item`) under list into a pooled array. */
static int text_list(struct stv__aws_answer *a, const node *list, const char *elem, const char *field,
                     const char ***out, size_t *n, int *nomem) {
  const node *m;
  size_t k = 0, cap = count_members(list, elem);
  *out = NULL;
  *n = 0;
  if (cap == 0) return 0;
  if ((*out = stv_calloc(cap, sizeof(**out))) == NULL) return STV_ENOMEM;
  for (m = child(list, elem); m != NULL; m = next_same(m)) {
    const char *s = text(a, field != NULL ? child(m, field) : m, nomem);
    if (s != NULL) (*out)[k++] = s;
  }
  *n = k;
  return 0;
}

static int parse_asg(struct stv__aws_answer *a, const char *action, const node *m, struct stv__aws_asg *g,
                     int *nomem, struct stv_err *err) {
  const node *mip = child(m, "MixedInstancesPolicy"), *c, *dist;
  size_t k;
  int rc;
  g->name = text(a, child(m, "AutoScalingGroupName"), nomem);
  if (g->name == NULL) return stv_err_set(err, STV_EPARSE, "%s: a group has no AutoScalingGroupName", action);
  if ((rc = parse_int(action, "MinSize", text(a, child(m, "MinSize"), nomem), &g->min, err)) != 0 ||
      (rc = parse_int(action, "MaxSize", text(a, child(m, "MaxSize"), nomem), &g->max, err)) != 0 ||
      (rc = parse_int(action, "DesiredCapacity", text(a, child(m, "DesiredCapacity"), nomem), &g->desired,
                      err)) != 0)
    return stv_err_prefix(err, "group %s", g->name);
  if (text_list(a, child(m, "AvailabilityZones"), "member", NULL, &g->zones, &g->nzones, nomem) != 0)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  g->od_pct = 100;
  c = mip != NULL ? path(mip, "LaunchTemplate/LaunchTemplateSpecification") : child(m, "LaunchTemplate");
  g->lt_id = text(a, child(c, "LaunchTemplateId"), nomem);
  g->lt_name = text(a, child(c, "LaunchTemplateName"), nomem);
  g->lt_version = text(a, child(c, "Version"), nomem);
  g->lc_name = text(a, child(m, "LaunchConfigurationName"), nomem);
  if (mip != NULL) {
    g->mixed = 1;
    if (text_list(a, path(mip, "LaunchTemplate/Overrides"), "member", "InstanceType", &g->types, &g->ntypes,
                  nomem) != 0)
      return stv_err_set(err, STV_ENOMEM, "out of memory");
    if ((dist = child(mip, "InstancesDistribution")) != NULL) {
      const char *base = text(a, child(dist, "OnDemandBaseCapacity"), nomem);
      const char *pct = text(a, child(dist, "OnDemandPercentageAboveBaseCapacity"), nomem);
      if (base != NULL && (rc = parse_int(action, "OnDemandBaseCapacity", base, &g->od_base, err)) != 0)
        return stv_err_prefix(err, "group %s", g->name);
      if (pct != NULL &&
          (rc = parse_int(action, "OnDemandPercentageAboveBaseCapacity", pct, &g->od_pct, err)) != 0)
        return stv_err_prefix(err, "group %s", g->name);
      g->spot_strategy = text(a, child(dist, "SpotAllocationStrategy"), nomem);
    }
  }
  if (alloc_members(child(m, "Tags"), "member", sizeof(*g->tags), (void **)&g->tags, &g->ntags) != 0)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  for (k = 0, c = child(child(m, "Tags"), "member"); c != NULL; c = next_same(c), k++) {
    g->tags[k].key = text(a, child(c, "Key"), nomem);
    g->tags[k].value = text(a, child(c, "Value"), nomem);
    if (g->tags[k].key == NULL)
      return stv_err_set(err, STV_EPARSE, "%s: group %s: a tag has no Key", action, g->name);
    if (g->tags[k].value == NULL) g->tags[k].value = "";
  }
  if (alloc_members(child(m, "Instances"), "member", sizeof(*g->inst), (void **)&g->inst, &g->ninst) != 0)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  for (k = 0, c = child(child(m, "Instances"), "member"); c != NULL; c = next_same(c), k++) {
    struct stv__aws_asg_instance *in = &g->inst[k];
    in->id = text(a, child(c, "InstanceId"), nomem);
    in->zone = text(a, child(c, "AvailabilityZone"), nomem);
    in->type = text(a, child(c, "InstanceType"), nomem);
    in->lifecycle_state = text(a, child(c, "LifecycleState"), nomem);
    if (in->id == NULL || in->zone == NULL)
      return stv_err_set(err, STV_EPARSE, "%s: group %s: an instance has no InstanceId or AvailabilityZone",
                         action, g->name);
  }
  return 0;
}

static int parse_asgs(struct stv__aws_answer *a, const char *action, const node *res, int *nomem,
                      struct stv_err *err) {
  const node *list = child(res, "AutoScalingGroups"), *m;
  size_t k = 0;
  int rc;
  if (list == NULL)
    return stv_err_set(err, STV_EPARSE, "%s: the answer has no AutoScalingGroups element", action);
  if (alloc_members(list, "member", sizeof(*a->asgs), (void **)&a->asgs, &a->nasgs) != 0)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  for (m = child(list, "member"); m != NULL; m = next_same(m), k++)
    if ((rc = parse_asg(a, action, m, &a->asgs[k], nomem, err)) != 0) return rc;
  return 0;
}

static const char *tag_item(struct stv__aws_answer *a, const node *set, const char *key, int *nomem) {
  const node *it;
  for (it = child(set, "item"); it != NULL; it = next_same(it)) {
    const char *k = text(a, child(it, "key"), nomem);
    if (k != NULL && strcmp(k, key) == 0) return text(a, child(it, "value"), nomem);
  }
  return NULL;
}

static int parse_instances(struct stv__aws_answer *a, const char *action, const node *root, int *nomem,
                           struct stv_err *err) {
  const node *rs = child(root, "reservationSet"), *r, *it;
  size_t n = 0, k = 0;
  if (rs == NULL) return stv_err_set(err, STV_EPARSE, "%s: the answer has no reservationSet element", action);
  for (r = child(rs, "item"); r != NULL; r = next_same(r))
    n += count_members(child(r, "instancesSet"), "item");
  if (n > 0 && (a->instances = stv_calloc(n, sizeof(*a->instances))) == NULL)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  for (r = child(rs, "item"); r != NULL; r = next_same(r)) {
    for (it = child(child(r, "instancesSet"), "item"); it != NULL; it = next_same(it), k++) {
      struct stv__aws_ec2_instance *in = &a->instances[k];
      in->id = text(a, child(it, "instanceId"), nomem);
      in->type = text(a, child(it, "instanceType"), nomem);
      in->zone = text(a, path(it, "placement/availabilityZone"), nomem);
      in->lifecycle = text(a, child(it, "instanceLifecycle"), nomem);
      in->state = text(a, path(it, "instanceState/name"), nomem);
      in->launch_time = text(a, child(it, "launchTime"), nomem);
      in->group = tag_item(a, child(it, "tagSet"), "aws:autoscaling:groupName", nomem);
      if (in->id == NULL || in->type == NULL || in->zone == NULL || in->state == NULL)
        return stv_err_set(err, STV_EPARSE,
                           "%s: instance %s lacks instanceId, instanceType, placement/availabilityZone or "
                           "instanceState/name",
                           action, in->id != NULL ? in->id : "(no id)");
    }
  }
  a->ninstances = k;
  return 0;
}

static int parse_spot(struct stv__aws_answer *a, const char *action, const node *root, int *nomem,
                      struct stv_err *err) {
  const node *set = child(root, "spotPriceHistorySet"), *it;
  size_t k = 0;
  if (set == NULL)
    return stv_err_set(err, STV_EPARSE, "%s: the answer has no spotPriceHistorySet element", action);
  if (alloc_members(set, "item", sizeof(*a->prices), (void **)&a->prices, &a->nprices) != 0)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  for (it = child(set, "item"); it != NULL; it = next_same(it), k++) {
    struct stv__aws_spot_price *p = &a->prices[k];
    const char *price;
    char *end;
    p->type = text(a, child(it, "instanceType"), nomem);
    p->zone = text(a, child(it, "availabilityZone"), nomem);
    p->timestamp = text(a, child(it, "timestamp"), nomem);
    price = text(a, child(it, "spotPrice"), nomem);
    if (p->type == NULL || p->zone == NULL || price == NULL)
      return stv_err_set(err, STV_EPARSE, "%s: item %zu lacks instanceType, availabilityZone or spotPrice",
                         action, k);
    p->price = strtod(price, &end);
    if (end == price || *end != '\0' || !(p->price >= 0) || p->price > 1e6)
      return stv_err_set(err, STV_EPARSE, "%s: item %zu: spotPrice \"%.40s\" is not a price", action, k,
                         price);
  }
  return 0;
}

static int parse_activities(struct stv__aws_answer *a, const char *action, const node *res, int *nomem,
                            struct stv_err *err) {
  const node *list = child(res, "Activities"), *m;
  size_t k = 0;
  if (list == NULL) return stv_err_set(err, STV_EPARSE, "%s: the answer has no Activities element", action);
  if (alloc_members(list, "member", sizeof(*a->activities), (void **)&a->activities, &a->nactivities) != 0)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  for (m = child(list, "member"); m != NULL; m = next_same(m), k++) {
    struct stv__aws_activity *v = &a->activities[k];
    v->id = text(a, child(m, "ActivityId"), nomem);
    v->group = text(a, child(m, "AutoScalingGroupName"), nomem);
    v->status = text(a, child(m, "StatusCode"), nomem);
    v->message = text(a, child(m, "StatusMessage"), nomem);
    v->description = text(a, child(m, "Description"), nomem);
    v->start = text(a, child(m, "StartTime"), nomem);
    if (v->id == NULL || v->status == NULL)
      return stv_err_set(err, STV_EPARSE, "%s: activity %zu lacks ActivityId or StatusCode", action, k);
  }
  return 0;
}

static int parse_offerings(struct stv__aws_answer *a, const char *action, const node *root, int *nomem,
                           struct stv_err *err) {
  const node *set = child(root, "instanceTypeOfferingSet"), *it;
  size_t k = 0;
  if (set == NULL)
    return stv_err_set(err, STV_EPARSE, "%s: the answer has no instanceTypeOfferingSet element", action);
  if (alloc_members(set, "item", sizeof(*a->offerings), (void **)&a->offerings, &a->nofferings) != 0)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  for (it = child(set, "item"); it != NULL; it = next_same(it), k++) {
    a->offerings[k].type = text(a, child(it, "instanceType"), nomem);
    a->offerings[k].zone = text(a, child(it, "location"), nomem);
    if (a->offerings[k].type == NULL || a->offerings[k].zone == NULL)
      return stv_err_set(err, STV_EPARSE, "%s: item %zu lacks instanceType or location", action, k);
  }
  return 0;
}

/* A figure of an answer: a finite number in [0, 1e9], or STV_EPARSE naming where. */
static int parse_num(const char *action, const char *where, const char *field, const char *s, double *out,
                     struct stv_err *err) {
  char *end;
  if (s == NULL) return stv_err_set(err, STV_EPARSE, "%s: %s lacks %s", action, where, field);
  *out = strtod(s, &end);
  if (end == s || *end != '\0' || !(*out >= 0) || *out > 1e9)
    return stv_err_set(err, STV_EPARSE, "%s: %s: %s \"%.40s\" is not a non-negative figure", action, where,
                       field, s);
  return 0;
}

static int parse_reservation(struct stv__aws_answer *a, const char *action, const node *it, size_t k,
                             struct stv__aws_reservation *r, int *nomem, struct stv_err *err) {
  const node *c;
  char where[160];
  double v = 0;
  int rc;
  r->id = text(a, child(it, "reservedInstancesId"), nomem);
  snprintf(where, sizeof(where), "reservation %.100s", r->id != NULL ? r->id : "(no reservedInstancesId)");
  if (r->id == NULL) snprintf(where, sizeof(where), "item %zu (no reservedInstancesId)", k);
  r->type = text(a, child(it, "instanceType"), nomem);
  r->zone = text(a, child(it, "availabilityZone"), nomem);
  r->scope = text(a, child(it, "scope"), nomem);
  r->state = text(a, child(it, "state"), nomem);
  r->product = text(a, child(it, "productDescription"), nomem);
  r->tenancy = text(a, child(it, "instanceTenancy"), nomem);
  r->offering_class = text(a, child(it, "offeringClass"), nomem);
  r->offering_type = text(a, child(it, "offeringType"), nomem);
  r->start = text(a, child(it, "start"), nomem);
  r->currency = text(a, child(it, "currencyCode"), nomem);
  if (r->type == NULL || r->state == NULL)
    return stv_err_set(err, STV_EPARSE, "%s: %s lacks instanceType or state", action, where);
  if ((rc = parse_int(action, "instanceCount", text(a, child(it, "instanceCount"), nomem), &r->count, err)) !=
          0 ||
      (rc = parse_int(action, "duration", text(a, child(it, "duration"), nomem), &r->duration, err)) != 0)
    return stv_err_prefix(err, "%s", where);
  if ((rc = parse_num(action, where, "fixedPrice", text(a, child(it, "fixedPrice"), nomem), &r->fixed, err)) !=
      0)
    return rc;
  if (child(it, "usagePrice") != NULL &&
      (rc = parse_num(action, where, "usagePrice", text(a, child(it, "usagePrice"), nomem), &r->usage, err)) !=
          0)
    return rc;
  for (c = child(child(it, "recurringCharges"), "item"); c != NULL; c = next_same(c)) {
    const char *freq = text(a, child(c, "frequency"), nomem);
    if ((rc = parse_num(action, where, "recurringCharges amount", text(a, child(c, "amount"), nomem), &v,
                        err)) != 0)
      return rc;
    if (freq == NULL || strcmp(freq, "Hourly") != 0)
      return stv_err_set(err, STV_EPARSE, "%s: %s: a recurring charge is %s, not Hourly", action, where,
                         freq != NULL ? freq : "without frequency");
    r->recurring += v;
  }
  return 0;
}

static int parse_reserved(struct stv__aws_answer *a, const char *action, const node *root, int *nomem,
                          struct stv_err *err) {
  const node *set = child(root, "reservedInstancesSet"), *it;
  size_t k = 0;
  int rc;
  if (set == NULL)
    return stv_err_set(err, STV_EPARSE, "%s: the answer has no reservedInstancesSet element", action);
  if (alloc_members(set, "item", sizeof(*a->reservations), (void **)&a->reservations, &a->nreservations) != 0)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  for (it = child(set, "item"); it != NULL; it = next_same(it), k++)
    if ((rc = parse_reservation(a, action, it, k, &a->reservations[k], nomem, err)) != 0) return rc;
  return 0;
}

int stv__aws_reservation_hourly(const struct stv__aws_reservation *r, double *out, struct stv_err *err) {
  double h;
  if (r->fixed > 0 && r->duration <= 0)
    return stv_err_set(err, STV_EPARSE, "reservation %s: an upfront price of %g with a term of %lld s", r->id,
                       r->fixed, (long long)r->duration);
  h = (r->fixed > 0 ? r->fixed / ((double)r->duration / 3600.0) : 0) + r->usage + r->recurring;
  if (!isfinite(h) || h > 1e6)
    return stv_err_set(err, STV_EPARSE, "reservation %s: an effective price of %g per hour is no price", r->id,
                       h);
  *out = h;
  return 0;
}

static int parse_lcs(struct stv__aws_answer *a, const char *action, const node *res, int *nomem,
                     struct stv_err *err) {
  const node *list = child(res, "LaunchConfigurations"), *m;
  size_t k = 0;
  if (list == NULL)
    return stv_err_set(err, STV_EPARSE, "%s: the answer has no LaunchConfigurations element", action);
  if (alloc_members(list, "member", sizeof(*a->lcs), (void **)&a->lcs, &a->nlcs) != 0)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  for (m = child(list, "member"); m != NULL; m = next_same(m), k++) {
    a->lcs[k].name = text(a, child(m, "LaunchConfigurationName"), nomem);
    a->lcs[k].type = text(a, child(m, "InstanceType"), nomem);
    a->lcs[k].spot_price = text(a, child(m, "SpotPrice"), nomem);
    if (a->lcs[k].spot_price != NULL && a->lcs[k].spot_price[0] == '\0') a->lcs[k].spot_price = NULL;
    if (a->lcs[k].name == NULL || a->lcs[k].type == NULL)
      return stv_err_set(err, STV_EPARSE, "%s: launch configuration %zu lacks LaunchConfigurationName or "
                         "InstanceType", action, k);
  }
  return 0;
}

static int parse_sts(struct stv__aws_answer *a, const char *action, const node *res, int *nomem,
                     struct stv_err *err) {
  const node *c = child(res, "Credentials");
  a->creds.key_id = text(a, child(c, "AccessKeyId"), nomem);
  a->creds.secret = text(a, child(c, "SecretAccessKey"), nomem);
  a->creds.token = text(a, child(c, "SessionToken"), nomem);
  a->creds.expiration = text(a, child(c, "Expiration"), nomem);
  if (a->creds.key_id == NULL || a->creds.secret == NULL || a->creds.token == NULL ||
      a->creds.expiration == NULL)
    return stv_err_set(err, STV_EPARSE,
                       "%s: Credentials lacks AccessKeyId, SecretAccessKey, SessionToken or Expiration",
                       action);
  return 0;
}

/* The root's name each kind expects, and whether a Result element wraps the data (Query API). */
static const struct {
  const char *result; /* NULL: EC2's shape, the data under the root */
} kinds[] = {
    [STV__AWS_ASGS] = {"DescribeAutoScalingGroupsResult"},
    [STV__AWS_INSTANCES] = {NULL},
    [STV__AWS_SPOT] = {NULL},
    [STV__AWS_ACTIVITIES] = {"DescribeScalingActivitiesResult"},
    [STV__AWS_OFFERINGS] = {NULL},
    [STV__AWS_STS] = {"AssumeRoleWithWebIdentityResult"},
    [STV__AWS_LT] = {NULL},
    [STV__AWS_RESERVED] = {NULL},
    [STV__AWS_LCS] = {"DescribeLaunchConfigurationsResult"},
    [STV__AWS_EMPTY] = {NULL},
};

int stv__aws_parse(enum stv__aws_kind kind, const char *action, const char *body, size_t len,
                   struct stv__aws_answer *a, struct stv_err *err) {
  xmlDoc *doc = NULL;
  const node *root, *res;
  char want[128];
  int nomem = 0, rc;
  memset(a, 0, sizeof(*a));
  stv_strpool_init(&a->pool);
  if ((rc = read_doc(action, body, len, &doc, err)) != 0) return rc;
  root = xmlDocGetRootElement(doc);
  snprintf(want, sizeof(want), "%sResponse", action);
  if (strcmp((const char *)root->name, want) != 0) {
    rc = stv_err_set(err, STV_EPARSE, "%s: the answer's root element is <%.60s>, not <%s>", action,
                     (const char *)root->name, want);
    goto out;
  }
  res = root;
  if (kinds[kind].result != NULL && (res = child(root, kinds[kind].result)) == NULL) {
    rc = stv_err_set(err, STV_EPARSE, "%s: the answer has no %s element", action, kinds[kind].result);
    goto out;
  }
  switch (kind) {
  case STV__AWS_ASGS:
    rc = parse_asgs(a, action, res, &nomem, err);
    break;
  case STV__AWS_INSTANCES:
    rc = parse_instances(a, action, res, &nomem, err);
    break;
  case STV__AWS_SPOT:
    rc = parse_spot(a, action, res, &nomem, err);
    break;
  case STV__AWS_ACTIVITIES:
    rc = parse_activities(a, action, res, &nomem, err);
    break;
  case STV__AWS_OFFERINGS:
    rc = parse_offerings(a, action, res, &nomem, err);
    break;
  case STV__AWS_STS:
    rc = parse_sts(a, action, res, &nomem, err);
    break;
  case STV__AWS_LT:
    if (child(res, "launchTemplateVersionSet") == NULL)
      rc = stv_err_set(err, STV_EPARSE, "%s: the answer has no launchTemplateVersionSet element", action);
    else
      a->lt_type =
          text(a, path(res, "launchTemplateVersionSet/item/launchTemplateData/instanceType"), &nomem);
    break;
  case STV__AWS_RESERVED:
    rc = parse_reserved(a, action, res, &nomem, err);
    break;
  case STV__AWS_LCS:
    rc = parse_lcs(a, action, res, &nomem, err);
    break;
  case STV__AWS_EMPTY:
    rc = 0;
    break;
  }
  if (rc == 0 && kind != STV__AWS_EMPTY && kind != STV__AWS_STS && kind != STV__AWS_LT &&
      kind != STV__AWS_RESERVED) {
    a->next_token = text(a, child(res, kinds[kind].result != NULL ? "NextToken" : "nextToken"), &nomem);
    if (a->next_token != NULL && a->next_token[0] == '\0') a->next_token = NULL;
  }
  if (rc == 0 && nomem) rc = stv_err_set(err, STV_ENOMEM, "out of memory");
out:
  xmlFreeDoc(doc);
  return rc;
}

void stv__aws_answer_close(struct stv__aws_answer *a) {
  size_t i;
  for (i = 0; i < a->nasgs; i++) {
    stv_free(a->asgs[i].zones);
    stv_free(a->asgs[i].types);
    stv_free(a->asgs[i].tags);
    stv_free(a->asgs[i].inst);
  }
  stv_free(a->asgs);
  stv_free(a->instances);
  stv_free(a->prices);
  stv_free(a->activities);
  stv_free(a->offerings);
  stv_free(a->reservations);
  stv_free(a->lcs);
  stv_strpool_close(&a->pool);
  memset(a, 0, sizeof(*a));
  stv_strpool_init(&a->pool);
}
