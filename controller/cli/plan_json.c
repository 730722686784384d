/*
 * The plan of `stevedore recommend` as JSON: the contract documented in
 * README.md ("JSON output"). Every string is made valid UTF-8 before it is
 * printed (see recommend_internal.h).
 */
#include <stdio.h>
#include <string.h>

#include "recommend_internal.h"

void stv__json_add_str_or_null(cJSON *o, const char *key, const char *v) {
  if (v != NULL)
    cJSON_AddStringToObject(o, key, v);
  else
    cJSON_AddNullToObject(o, key);
}

cJSON *stv__json_array_add_object(cJSON *arr) {
  cJSON *o = cJSON_CreateObject();
  if (o != NULL && !cJSON_AddItemToArray(arr, o)) {
    cJSON_Delete(o);
    o = NULL;
  }
  return o;
}

static cJSON *labels_json(const struct stv_labels *l, const char *hostname) {
  cJSON *o = cJSON_CreateObject();
  uint32_t i;
  int done = hostname == NULL;
  if (o == NULL) return NULL;
  for (i = 0; i <= l->n; i++) {
    /* Keep keys sorted: kubernetes.io/hostname goes in its place. */
    if (!done && (i == l->n || strcmp(l->kv[i].key, "kubernetes.io/hostname") > 0)) {
      if (!cJSON_AddStringToObject(o, "kubernetes.io/hostname", hostname)) goto fail;
      done = 1;
    }
    if (i < l->n && !cJSON_AddStringToObject(o, l->kv[i].key, l->kv[i].value)) goto fail;
  }
  return o;
fail:
  cJSON_Delete(o);
  return NULL;
}

/* Adds "taints": [{key, value, effect}] of template t to n; 0 on ENOMEM. */
static int add_taints_json(cJSON *n, const struct stv_template *t) {
  cJSON *arr = cJSON_AddArrayToObject(n, "taints");
  uint32_t i;
  if (arr == NULL) return 0;
  for (i = 0; i < t->ntaints; i++) {
    cJSON *o = stv__json_array_add_object(arr);
    if (o == NULL) return 0;
    if (!cJSON_AddStringToObject(o, "key", t->taints[i].key) ||
        !cJSON_AddStringToObject(o, "value", t->taints[i].value ? t->taints[i].value : "") ||
        !cJSON_AddStringToObject(o, "effect", stv_effect_name(t->taints[i].effect)))
      return 0;
  }
  return 1;
}

static int add_quantity(cJSON *o, const char *key, int64_t v, int milli) {
  char q[40];
  return cJSON_AddStringToObject(o, key, stv_quantity_format(v, milli, !milli, q, sizeof(q))) != NULL;
}

/* summary.headroom: what the virtual pods asked for, where they went, their units. */
static int headroom_json(cJSON *sum, const struct stv_recommend_result *r,
                         const struct stv__headroom_stats *h) {
  cJSON *o = cJSON_AddObjectToObject(sum, "headroom"), *units;
  size_t i;
  if (o == NULL) return 0;
  cJSON_AddNumberToObject(o, "pods", (double)h->pods);
  cJSON_AddNumberToObject(o, "placed", (double)h->placed);
  cJSON_AddNumberToObject(o, "unplaced", (double)h->unplaced);
  if (!add_quantity(o, "cpu", h->cpu, 1) || !add_quantity(o, "memory", h->memory, 0)) return 0;
  cJSON_AddNumberToObject(o, "on_existing_nodes", (double)h->on_existing);
  cJSON_AddNumberToObject(o, "on_new_nodes", (double)h->on_new);
  cJSON_AddNumberToObject(o, "hourly_cost", h->hourly_cost);
  if (h->unplaced > 0) cJSON_AddStringToObject(o, "unplaced_reason", h->unplaced_reason);
  units = cJSON_AddArrayToObject(o, "units");
  if (units == NULL) return 0;
  for (i = 0; i < r->headroom.nunits; i++) {
    const struct stv_headroom_unit *u = &r->headroom.units[i];
    cJSON *e = stv__json_array_add_object(units);
    if (e == NULL) return 0;
    cJSON_AddNumberToObject(e, "count", (double)u->count);
    if (!add_quantity(e, "cpu", u->cpu, 1) || !add_quantity(e, "memory", u->memory, 0)) return 0;
    if (!cJSON_AddBoolToObject(e, "automatic", r->headroom.automatic && i + 1 == r->headroom.nunits))
      return 0;
  }
  return 1;
}

/* summary.lower_bound_kind and summary.gap_reasons; 0 on ENOMEM. */
/*
 * How the optimizer stopped: "stopped" (the rule: optimal, gap, stalled,
 * time limit, work budget, done, no gain, none), "stop_text", "gap_tolerance", the
 * gap it judged by ("stop_gap", when it had a bound) and its "work".
 */
static int stop_json(cJSON *opt, const struct stv_recommend_result *r) {
  const struct stv_plan *plan = &r->plan;
  char text[256];
  if (cJSON_AddStringToObject(opt, "stopped", stv_stop_reason_name(plan->stop_reason)) == NULL ||
      cJSON_AddStringToObject(opt, "stop_text", stv__stop_text(r, text, sizeof(text))) == NULL ||
      cJSON_AddNumberToObject(opt, "gap_tolerance", plan->gap_tolerance > 0 ? plan->gap_tolerance : 0) ==
          NULL ||
      cJSON_AddNumberToObject(opt, "work", (double)plan->work) == NULL)
    return 0;
  if (plan->stop_gap >= 0 && cJSON_AddNumberToObject(opt, "stop_gap", plan->stop_gap) == NULL) return 0;
  return 1;
}

static int gap_json(cJSON *sum, const struct stv_plan *plan, const struct stv__gap_explain *g) {
  cJSON *arr;
  size_t i;
  if (plan->has_lower_bound &&
      !cJSON_AddStringToObject(sum, "lower_bound_kind", stv__bound_kind_name(plan->lower_bound_kind)))
    return 0;
  if ((arr = cJSON_AddArrayToObject(sum, "gap_reasons")) == NULL) return 0;
  for (i = 0; i < g->n; i++) {
    cJSON *o = stv__json_array_add_object(arr);
    if (o == NULL) return 0;
    if (!cJSON_AddStringToObject(o, "code", g->r[i].code) ||
        !cJSON_AddStringToObject(o, "text", g->r[i].text))
      return 0;
  }
  return 1;
}

/* Adds "preempts" (the victims evicted there) to the JSON of existing node index node. */
static int preempts_json(cJSON *n, const struct stv_snapshot *s, const struct stv_plan *plan, int32_t node) {
  cJSON *arr = NULL;
  char name[600];
  size_t i;
  uint32_t k;
  for (i = 0; i < plan->npreemptions; i++) {
    const struct stv_plan_preemption *e = &plan->preemptions[i];
    if (e->node != node) continue;
    if (arr == NULL && (arr = cJSON_AddArrayToObject(n, "preempts")) == NULL) return 0;
    for (k = 0; k < e->nvictims; k++)
      if (!cJSON_AddItemToArray(arr, cJSON_CreateString(stv__pod_key(s, e->victims[k], name, sizeof(name)))))
        return 0;
  }
  return 1;
}

/* "preemptions" and "not_planned" of the plan's JSON. */
static int skipped_json(cJSON *root, const struct stv_snapshot *s, const struct stv_plan *plan) {
  cJSON *pre = cJSON_AddArrayToObject(root, "preemptions"), *np;
  char name[600];
  size_t i;
  uint32_t k;
  if (pre == NULL) return 0;
  for (i = 0; i < plan->npreemptions; i++) {
    const struct stv_plan_preemption *e = &plan->preemptions[i];
    cJSON *o = stv__json_array_add_object(pre), *v;
    if (o == NULL) return 0;
    if (!cJSON_AddStringToObject(o, "pod", stv__pod_key(s, e->pod, name, sizeof(name))) ||
        !cJSON_AddNumberToObject(o, "priority", s->pods[e->pod].priority) ||
        !cJSON_AddStringToObject(o, "node", s->nodes[e->node].name) ||
        (v = cJSON_AddArrayToObject(o, "victims")) == NULL ||
        !cJSON_AddNumberToObject(o, "pdb_violations", e->pdb_violations))
      return 0;
    for (k = 0; k < e->nvictims; k++)
      if (!cJSON_AddItemToArray(v, cJSON_CreateString(stv__pod_key(s, e->victims[k], name, sizeof(name)))))
        return 0;
  }
  if ((np = cJSON_AddArrayToObject(root, "not_planned")) == NULL) return 0;
  for (i = 0; i < plan->nskipped; i++) {
    const struct stv_plan_skip *e = &plan->skipped[i];
    cJSON *o = stv__json_array_add_object(np);
    if (o == NULL) return 0;
    if (!cJSON_AddStringToObject(o, "pod", stv__pod_key(s, e->pod, name, sizeof(name))) ||
        !cJSON_AddStringToObject(o, "category", stv_not_planned_name((enum stv_not_planned)e->category)) ||
        !cJSON_AddStringToObject(o, "reason", e->reason))
      return 0;
  }
  return 1;
}

/* The "summary" object's counts and costs; 0 on ENOMEM. */
static int summary_json(cJSON *sum, const struct stv_recommend_result *r,
                        const struct stv__headroom_stats *h) {
  const struct stv_plan *plan = &r->plan;
  struct stv__gap_explain gx;
  /* Headroom's virtual pods are not counted as pods: they have their own summary. */
  cJSON_AddNumberToObject(sum, "pending_pods", (double)(plan->npending - h->pods));
  cJSON_AddNumberToObject(sum, "placed_pods", (double)(plan->nplaced - h->placed));
  cJSON_AddNumberToObject(sum, "unschedulable_pods", (double)(plan->nunsched - h->unplaced));
  cJSON_AddNumberToObject(sum, "not_planned_pods", (double)plan->nskipped);
  cJSON_AddNumberToObject(sum, "preemptions", (double)plan->npreemptions);
  cJSON_AddNumberToObject(sum, "preempted_pods", (double)plan->nvictims);
  cJSON_AddNumberToObject(sum, "new_nodes", (double)plan->nnew);
  cJSON_AddNumberToObject(sum, "new_nodes_hourly_cost", plan->new_cost);
  if (plan->has_lower_bound) {
    cJSON_AddNumberToObject(sum, "lower_bound_hourly_cost", plan->lower_bound);
    /* The gap: how far above the bound the plan may be, relative to the bound. */
    if (plan->lower_bound > 0)
      cJSON_AddNumberToObject(sum, "gap", (plan->new_cost - plan->lower_bound) / plan->lower_bound);
  }
  cJSON_AddStringToObject(sum, "currency", r->problem.currency ? r->problem.currency : "USD");
  if (plan->optimized) {
    cJSON *opt = cJSON_AddObjectToObject(sum, "optimizer");
    if (opt == NULL) return 0;
    cJSON_AddNumberToObject(opt, "heuristic_hourly_cost", plan->heuristic_cost);
    cJSON_AddBoolToObject(opt, "lp_converged", plan->lp_converged);
    cJSON_AddNumberToObject(opt, "columns", (double)plan->columns);
    if (!stop_json(opt, r)) return 0;
  }
  if (plan->spot_limits_broken) cJSON_AddBoolToObject(sum, "spot_limits_broken", 1);
  stv__explain_gap(r, &gx);
  if (!gap_json(sum, plan, &gx)) return 0;
  if (r->headroom.npods > 0 && !headroom_json(sum, r, h)) return 0;
  if (r->stats.pvcs + r->stats.pvs + r->stats.storage_classes + r->stats.csinodes != 0 ||
      r->stats.vol_unchecked_pods != 0) {
    cJSON *vol = cJSON_AddObjectToObject(sum, "volumes");
    if (vol == NULL) return 0;
    cJSON_AddNumberToObject(vol, "unchecked_pods", (double)r->stats.vol_unchecked_pods);
    cJSON_AddNumberToObject(vol, "blocked_pods", (double)r->stats.vol_blocked_pods);
    cJSON_AddNumberToObject(vol, "attach_limited_drivers", (double)r->stats.attach_drivers);
  }
  return 1;
}

/* One element of "nodes"; NULL on ENOMEM. */
static cJSON *node_json(const struct stv_problem *pb, const struct stv_plan *plan,
                        const struct stv_plan_node *pn) {
  const struct stv_snapshot *s = pb->snap;
  cJSON *n = cJSON_CreateObject(), *pods, *labels;
  char name[600];
  uint32_t q;
  if (n == NULL) return NULL;
  cJSON_AddStringToObject(n, "name", pn->name);
  cJSON_AddBoolToObject(n, "new", pn->existing < 0);
  stv__json_add_str_or_null(n, "instance_type", stv__plan_node_type(pb, pn));
  if (pn->existing < 0) {
    const struct stv_template *t = &pb->tmpl[pn->tmpl];
    cJSON_AddStringToObject(n, "capacity_type", stv_capacity_type_name(t->capacity_type));
    cJSON_AddStringToObject(n, "zone", t->zone ? t->zone : "");
    int64_t cpu = stv_plan_node_cpu(s, pn);
    cJSON_AddNumberToObject(n, "hourly_cost", stv_template_cost(t, cpu));
    cJSON_AddNumberToObject(n, "price", t->price);
    cJSON_AddNumberToObject(n, "node_cost", t->node_cost);
    cJSON_AddNumberToObject(n, "credit_cost", stv_template_credits(t, cpu));
    stv__json_add_str_or_null(n, "pool", t->pool);
    if (!add_taints_json(n, t)) goto fail;
    labels = labels_json(&t->labels, pn->name);
  } else {
    const struct stv_node *e = &s->nodes[pn->existing];
    stv__json_add_str_or_null(n, "capacity_type", e->capacity_type);
    stv__json_add_str_or_null(n, "zone", e->zone);
    cJSON_AddNumberToObject(n, "hourly_cost", 0);
    if (!preempts_json(n, s, plan, pn->existing)) goto fail;
    labels = labels_json(&e->labels, NULL);
  }
  if (labels == NULL || !cJSON_AddItemToObject(n, "labels", labels)) {
    cJSON_Delete(labels);
    goto fail;
  }
  if ((pods = cJSON_AddArrayToObject(n, "pods")) == NULL) goto fail;
  for (q = 0; q < pn->npods; q++)
    if (!cJSON_AddItemToArray(pods, cJSON_CreateString(stv__pod_key(s, pn->pods[q], name, sizeof(name)))))
      goto fail;
  return n;
fail:
  cJSON_Delete(n);
  return NULL;
}

/* "unschedulable" (headroom's virtual pods left out) and "notes"; 0 on ENOMEM. */
static int unschedulable_json(cJSON *root, const struct stv_recommend_result *r) {
  const struct stv_snapshot *s = r->problem.snap;
  const struct stv_plan *plan = &r->plan;
  cJSON *un = cJSON_AddArrayToObject(root, "unschedulable");
  char name[600];
  size_t i;
  if (un == NULL) return 0;
  for (i = 0; i < plan->nunsched; i++) {
    cJSON *u;
    if (stv__is_headroom(s, plan->unsched[i].pod)) continue;
    if ((u = stv__json_array_add_object(un)) == NULL) return 0;
    cJSON_AddStringToObject(u, "pod", stv__pod_key(s, plan->unsched[i].pod, name, sizeof(name)));
    cJSON_AddStringToObject(u, "reason", plan->unsched[i].reason);
  }
  if ((un = cJSON_AddArrayToObject(root, "notes")) == NULL) return 0;
  for (i = 0; i < r->nnotes; i++)
    if (!cJSON_AddItemToArray(un, cJSON_CreateString(r->notes[i]))) return 0;
  return 1;
}

static cJSON *plan_json(const struct stv_recommend_result *r) {
  const struct stv_plan *plan = &r->plan;
  cJSON *root = cJSON_CreateObject(), *sum, *nodes;
  struct stv__headroom_stats h;
  size_t i;
  if (root == NULL) return NULL;
  stv__headroom_stats(r, &h);
  if ((sum = cJSON_AddObjectToObject(root, "summary")) == NULL || !summary_json(sum, r, &h)) goto out;
  if ((nodes = cJSON_AddArrayToObject(root, "nodes")) == NULL) goto out;
  for (i = 0; i < plan->nnodes; i++) {
    cJSON *n = node_json(&r->problem, plan, &plan->nodes[i]);
    if (n == NULL || !cJSON_AddItemToArray(nodes, n)) {
      cJSON_Delete(n);
      goto out;
    }
  }
  if (!unschedulable_json(root, r) || !skipped_json(root, r->problem.snap, plan)) goto out;
  if (r->have_catalog && stv_catalog_prices_json(root, &r->catalog) != 0) goto out;
  return root;
out:
  cJSON_Delete(root);
  return NULL;
}

/*
 * Replaces a cJSON text (a value or a key, allocated by cJSON) by its copy with
 * invalid UTF-8 as U+FFFD, adding the replacements to *replaced. Returns 0 or
 * STV_ENOMEM.
 */
static int sanitize_text(char **text, size_t *replaced) {
  char *clean, *copy;
  size_t n;
  if (*text == NULL || stv_utf8_valid(*text, strlen(*text))) return 0;
  if ((clean = stv_utf8_sanitize(*text, replaced)) == NULL) return STV_ENOMEM;
  n = strlen(clean) + 1;
  copy = cJSON_malloc(n);
  if (copy != NULL) memcpy(copy, clean, n);
  stv_free(clean);
  if (copy == NULL) return STV_ENOMEM;
  cJSON_free(*text);
  *text = copy;
  return 0;
}

/*
 * Makes every string and key of the tree valid UTF-8 (base.h's rule: names
 * from the cluster are kept as bytes and repaired where they are written);
 * cJSON escapes but does not check. Returns 0 or STV_ENOMEM.
 */
static int sanitize_json(cJSON *item, size_t *replaced) {
  for (; item != NULL; item = item->next) {
    if (!(item->type & cJSON_StringIsConst) && sanitize_text(&item->string, replaced) != 0) return STV_ENOMEM;
    if (cJSON_IsString(item) && !(item->type & cJSON_IsReference) &&
        sanitize_text(&item->valuestring, replaced) != 0)
      return STV_ENOMEM;
    if (item->child != NULL && sanitize_json(item->child, replaced) != 0) return STV_ENOMEM;
  }
  return 0;
}

char *stv__recommend_render_json(const struct stv_recommend_result *r, size_t *replaced) {
  cJSON *root = plan_json(r);
  char *text = NULL;
  if (root == NULL) return NULL;
  if ((!r->have_repack || stv_repack_add_json(r, root) == 0) && sanitize_json(root, replaced) == 0)
    text = cJSON_Print(root);
  cJSON_Delete(root);
  return text;
}

char *stv_recommend_render_json(const struct stv_recommend_result *r) {
  size_t replaced = 0;
  return stv__recommend_render_json(r, &replaced);
}
