/*
 * Zone availability of the groups' instance types (docs/cloud-aws.md
 * "Zone availability"): DescribeInstanceTypeOfferings with LocationType
 * availability-zone, filtered on the instance types the cluster's groups
 * launch, read as the last step of a groups listing when a type is new or
 * the answer older than OFFER_TTL. A (type, zone) of a group that AWS does
 * not offer is left out of the group's offerings, and a warning names the
 * group, the type and the zone each time the answer is read. When the call
 * fails (no permission, say) nothing is narrowed and a warning says so.
 */
#include <stdio.h>
#include <string.h>

#include "aws_impl.h"
#include "log.h"

#define OFFER_TTL 600.0 /* seconds an answer is used: offerings change rarely */

void stv__aws_offered_free(struct offered *v, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    stv_free(v[i].type);
    stv_free(v[i].zone);
  }
  stv_free(v);
}

static int has(char *const *v, size_t n, const char *s) {
  size_t i;
  for (i = 0; i < n; i++)
    if (strcmp(v[i], s) == 0) return 1;
  return 0;
}

int stv__aws_offered(struct aws *a, const char *type, const char *zone) {
  size_t i;
  if (a->offer_unknown || !has(a->offer_types, a->noffer_types, type)) return 1;
  for (i = 0; i < a->noffered; i++)
    if (strcmp(a->offered[i].type, type) == 0 && strcmp(a->offered[i].zone, zone) == 0) return 1;
  return 0;
}

/* Calls fn for each group of the cluster in op's pages with the types it launches; stops at a non-zero. */
static int each_group(struct groups_op *op, int (*fn)(struct groups_op *op, const struct stv__aws_asg *g,
                                                      const char *const *types, size_t n)) {
  size_t p, i;
  int rc;
  for (p = 0; p < op->npages; p++)
    for (i = 0; i < op->pages[p].nasgs; i++) {
      const struct stv__aws_asg *g = &op->pages[p].asgs[i];
      const char *plain[16];
      const char *const *types;
      size_t n;
      if (!stv__aws_ours(op->a, g)) continue;
      n = stv__aws_group_types(op->a, g, plain, 16, &types);
      if ((rc = fn(op, g, types, n)) != 0) return rc;
    }
  return 0;
}

/* Adds g's types to op->otypes; 0 or STV_ENOMEM. */
static int collect_group(struct groups_op *op, const struct stv__aws_asg *g, const char *const *types,
                         size_t n) {
  size_t t;
  (void)g;
  for (t = 0; t < n; t++) {
    if (has(op->otypes, op->notypes, types[t])) continue;
    if (stv_grow((void **)&op->otypes, &op->ocap, op->notypes + 1, sizeof(*op->otypes)) != 0 ||
        (op->otypes[op->notypes] = stv_strdup(types[t])) == NULL)
      return STV_ENOMEM;
    op->notypes++;
  }
  return 0;
}

/* Warns of each (type, zone) of g the answer just read leaves out. */
static int report_group(struct groups_op *op, const struct stv__aws_asg *g, const char *const *types,
                        size_t n) {
  size_t t, z;
  for (t = 0; t < n; t++)
    for (z = 0; z < g->nzones; z++)
      if (!stv__aws_offered(op->a, types[t], g->zones[z]))
        stv_log(STV_LOG_WARN,
                "aws: offering dropped: AWS does not offer the instance type in that zone of the group "
                "(DescribeInstanceTypeOfferings)",
                STV_LOG_STR("group", g->name), STV_LOG_STR("type", types[t]),
                STV_LOG_STR("zone", g->zones[z]));
  return 0;
}

/* Whether the answer in hand is stale or misses one of the groups' types. */
static int wanted(struct groups_op *op) {
  struct aws *a = op->a;
  size_t i;
  if (stv_clock_now(a->cloud.clock) >= a->offer_until) return op->notypes > 0;
  for (i = 0; i < op->notypes; i++)
    if (!has(a->offer_types, a->noffer_types, op->otypes[i])) return 1;
  return 0;
}

/* The answer read in full: it replaces the one in hand. */
static void adopt(struct groups_op *op) {
  struct aws *a = op->a;
  size_t i;
  stv__aws_offered_free(a->offered, a->noffered);
  for (i = 0; i < a->noffer_types; i++) stv_free(a->offer_types[i]);
  stv_free(a->offer_types);
  a->offered = op->got;
  a->noffered = op->ngot;
  a->offer_types = op->otypes;
  a->noffer_types = op->notypes;
  a->offer_until = stv_clock_now(a->cloud.clock) + OFFER_TTL;
  a->offer_unknown = 0;
  op->got = NULL;
  op->ngot = op->capgot = 0;
  op->otypes = NULL;
  op->notypes = op->ocap = 0;
  (void)each_group(op, report_group);
}

static int offers_page(struct groups_op *op, const char *token);

/* A failure: nothing narrowed until the next try, OFFER_TTL later. */
static void offers_failed(struct groups_op *op, int code, const char *msg) {
  struct aws *a = op->a;
  size_t i;
  stv_log(STV_LOG_WARN,
          "aws: zone availability not read; the groups' offerings are not narrowed to the zones that offer "
          "their types (grant ec2:DescribeInstanceTypeOfferings)",
          STV_LOG_STR("code", stv_err_name(code)), STV_LOG_STR("error", msg));
  for (i = 0; i < a->noffer_types; i++) stv_free(a->offer_types[i]);
  stv_free(a->offer_types);
  a->offer_types = op->otypes; /* asked about, so that the next try waits OFFER_TTL */
  a->noffer_types = op->notypes;
  op->otypes = NULL;
  op->notypes = op->ocap = 0;
  a->offer_unknown = 1;
  a->offer_until = stv_clock_now(a->cloud.clock) + OFFER_TTL;
  op->then(op, 0, "");
}

static void on_offers(struct req *r, int code, const char *msg, struct stv__aws_answer *ans) {
  struct groups_op *op = r->op;
  size_t i;
  if (code != 0) {
    offers_failed(op, code, msg);
    return;
  }
  for (i = 0; i < ans->nofferings; i++) {
    struct offered *o;
    if (stv_grow((void **)&op->got, &op->capgot, op->ngot + 1, sizeof(*op->got)) != 0) {
      offers_failed(op, STV_ENOMEM, "out of memory");
      return;
    }
    o = &op->got[op->ngot];
    o->type = stv_strdup(ans->offerings[i].type);
    o->zone = stv_strdup(ans->offerings[i].zone);
    op->ngot++;
    if (o->type == NULL || o->zone == NULL) {
      offers_failed(op, STV_ENOMEM, "out of memory");
      return;
    }
  }
  if (ans->next_token == NULL) {
    op->ochunk += FILTER_VALUES;
    if (op->ochunk >= op->notypes) {
      adopt(op);
      op->then(op, 0, "");
      return;
    }
  }
  if (offers_page(op, ans->next_token) != 0) offers_failed(op, STV_ENOMEM, "out of memory");
}

static int offers_page(struct groups_op *op, const char *token) {
  struct req *r =
      stv__aws_req_new(op->a, 1, "DescribeInstanceTypeOfferings", STV__AWS_OFFERINGS, on_offers, op);
  size_t i;
  if (r == NULL) return STV_ENOMEM;
  stv__aws_form(&r->form, "LocationType", "availability-zone");
  stv__aws_form(&r->form, "Filter.1.Name", "instance-type");
  for (i = op->ochunk; i < op->notypes && i < op->ochunk + FILTER_VALUES; i++)
    stv__aws_formf(&r->form, op->otypes[i], "Filter.1.Value.%zu", i - op->ochunk + 1);
  stv__aws_form(&r->form, "MaxResults", "1000");
  if (token != NULL) stv__aws_form(&r->form, "NextToken", token);
  stv__aws_req_go(r);
  return 0;
}

void stv__aws_offers_next(struct groups_op *op) {
  if (op->only != NULL) { /* one group looked up by name: its offerings are not needed */
    op->then(op, 0, "");
    return;
  }
  if (each_group(op, collect_group) != 0) {
    offers_failed(op, STV_ENOMEM, "out of memory");
    return;
  }
  if (!wanted(op)) {
    op->then(op, 0, "");
    return;
  }
  op->ochunk = 0;
  if (offers_page(op, NULL) != 0) offers_failed(op, STV_ENOMEM, "out of memory");
}
