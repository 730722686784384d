/*
 * Disruption predicates: which pods may be evicted to run elsewhere, which
 * nodes may be removed, and what the PodDisruptionBudgets still allow. The
 * rules follow Cluster Autoscaler's drain rules (utils/drain,
 * simulator/drainability/rules) and Karpenter's (do-not-disrupt, eviction
 * cost); docs/consolidation.md gives them with their sources.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "packer.h"

int stv_pod_stays_with_node(const struct stv_snapshot *s, const struct stv_pod *p) {
  if (p->flags & (STV_POD_MIRROR | STV_POD_HEADROOM)) return 1;
  return s->classes[p->cls]->daemonset;
}

const char *stv_pod_why_unmovable(const struct stv_pod *p) {
  if (p->disrupt & STV_PD_DND_STEVEDORE) return "stevedore.io/do-not-disrupt: \"true\"";
  if (p->disrupt & STV_PD_DND_KARPENTER) return "karpenter.sh/do-not-disrupt: \"true\"";
  if (p->disrupt & STV_PD_DND_CA) return "cluster-autoscaler.kubernetes.io/safe-to-evict: \"false\"";
  if (p->flags & STV_POD_DO_NOT_DISRUPT) return "do-not-disrupt annotation";
  if (p->disrupt & STV_PD_SAFE_TO_EVICT) return NULL;
  if (p->flags & STV_POD_LOCAL_STORAGE)
    return "local storage (hostPath, or emptyDir not in memory) that eviction would lose; "
           "cluster-autoscaler.kubernetes.io/safe-to-evict: \"true\" allows it";
  if (p->disrupt & STV_PD_NO_CONTROLLER)
    return "no controller (no ownerReference with controller: true), so nothing would recreate it; "
           "cluster-autoscaler.kubernetes.io/safe-to-evict: \"true\" allows it";
  return NULL;
}

const char *stv_node_why_undisruptable(const struct stv_node *n) {
  if (n->disrupt & STV_ND_DND_STEVEDORE) return "node annotation stevedore.io/do-not-disrupt: \"true\"";
  if (n->disrupt & STV_ND_DND_KARPENTER) return "node annotation karpenter.sh/do-not-disrupt: \"true\"";
  if (n->disrupt & STV_ND_SCALE_DOWN_DISABLED)
    return "node annotation cluster-autoscaler.kubernetes.io/scale-down-disabled: \"true\"";
  return NULL;
}

double stv_pod_eviction_cost(const struct stv_pod *p) {
  double c = 1.0;
  c += (double)p->deletion_cost / 134217728.0;                /* 2^27 */
  if (p->has_priority) c += (double)p->priority / 33554432.0; /* 2^25 */
  if (c < 0.1) c = 0.1;
  if (c > 10.0) c = 10.0;
  return c;
}

/* An int-or-percent of minAvailable/maxUnavailable over expected pods, rounded up; -1 when unreadable. */
static int64_t int_or_percent(const char *v, int64_t expected) {
  char *end;
  double x = strtod(v, &end);
  if (end == v || x < 0) return -1;
  if (*end == '%' && end[1] == '\0') return (int64_t)ceil(x * (double)expected / 100.0 - 1e-9);
  if (*end == '\0') return (int64_t)x;
  return -1;
}

int64_t stv_pdb_allowed(const struct stv_pdb *b, int64_t expected, int64_t healthy) {
  int64_t k, allowed;
  if (b->has_allowed) return b->disruptions_allowed;
  if (b->max_unavailable != NULL) {
    if ((k = int_or_percent(b->max_unavailable, expected)) < 0) return 0;
    allowed = healthy - (expected - k);
  } else if (b->min_available != NULL) {
    if ((k = int_or_percent(b->min_available, expected)) < 0) return 0;
    allowed = healthy - k;
  } else {
    return -1;
  }
  return allowed > 0 ? allowed : 0;
}

void stv_pdb_budget_close(struct stv_pdb_budget *b) {
  stv_free(b->left);
  stv_free(b->cls_off);
  stv_free(b->cls_pdb);
  stv_free(b->need);
  stv_free(b->touched);
  memset(b, 0, sizeof(*b));
}

/* Which budgets select each class: the offsets and lists of b. */
static int index_classes(struct stv_pdb_budget *b) {
  const struct stv_snapshot *s = b->s;
  size_t c, k, n = 0, cap = 0;
  for (c = 0; c < s->nclasses; c++) {
    b->cls_off[c] = (uint32_t)n;
    for (k = 0; k < s->npdbs; k++) {
      const struct stv_pdb *d = &s->pdbs[k];
      if (strcmp(d->ns, s->classes[c]->ns) != 0 || !stv_selector_matches(&d->sel, &s->classes[c]->labels))
        continue;
      if (stv_grow((void **)&b->cls_pdb, &cap, n + 1, sizeof(*b->cls_pdb)) != 0) return STV_ENOMEM;
      b->cls_pdb[n++] = (uint32_t)k;
    }
  }
  b->cls_off[s->nclasses] = (uint32_t)n;
  return 0;
}

int stv_pdb_budget_init(struct stv_pdb_budget *b, const struct stv_snapshot *s) {
  int64_t *expected = NULL, *healthy = NULL;
  size_t i, k;
  int rc = STV_ENOMEM;

  memset(b, 0, sizeof(*b));
  b->s = s;
  if ((b->cls_off = stv_calloc(s->nclasses + 1, sizeof(*b->cls_off))) == NULL) goto out;
  if (s->npdbs == 0) return 0;
  if ((b->left = stv_calloc(s->npdbs, sizeof(*b->left))) == NULL ||
      (b->need = stv_calloc(s->npdbs, sizeof(*b->need))) == NULL ||
      (b->touched = stv_calloc(s->npdbs, sizeof(*b->touched))) == NULL ||
      (expected = stv_calloc(s->npdbs, sizeof(*expected))) == NULL ||
      (healthy = stv_calloc(s->npdbs, sizeof(*healthy))) == NULL)
    goto out;
  if ((rc = index_classes(b)) != 0) goto out;
  for (i = 0; i < s->npods; i++) {
    const struct stv_pod *p = &s->pods[i];
    if (p->terminating || (p->flags & STV_POD_HEADROOM)) continue;
    for (k = b->cls_off[p->cls]; k < b->cls_off[p->cls + 1]; k++) {
      expected[b->cls_pdb[k]]++;
      if (p->node >= 0 && p->phase == STV_PHASE_RUNNING) healthy[b->cls_pdb[k]]++;
    }
  }
  for (k = 0; k < s->npdbs; k++) b->left[k] = stv_pdb_allowed(&s->pdbs[k], expected[k], healthy[k]);
  rc = 0;
out:
  stv_free(expected);
  stv_free(healthy);
  if (rc != 0) stv_pdb_budget_close(b);
  return rc;
}

int stv_pdb_budget_check(struct stv_pdb_budget *b, const uint32_t *pods, size_t n, int take, char *why,
                         size_t whysize) {
  const struct stv_snapshot *s = b->s;
  size_t i, k, ntouched = 0;
  int broken = 0;

  if (s->npdbs == 0) return 0;
  for (i = 0; i < n && !broken; i++) {
    const struct stv_pod *p = &s->pods[pods[i]];
    uint32_t lo = b->cls_off[p->cls], hi = b->cls_off[p->cls + 1];
    if (hi - lo > 1) {
      const struct stv_pdb *x = &s->pdbs[b->cls_pdb[lo]], *y = &s->pdbs[b->cls_pdb[lo + 1]];
      snprintf(why, whysize,
               "pod %s/%s is selected by two PodDisruptionBudgets (%s and %s); the Eviction API refuses to "
               "evict it",
               p->ns, p->name, x->name, y->name);
      broken = 1;
      break;
    }
    for (k = lo; k < hi; k++) {
      uint32_t d = b->cls_pdb[k];
      if (b->need[d]++ == 0) b->touched[ntouched++] = d;
    }
  }
  for (i = 0; i < ntouched && !broken; i++) {
    uint32_t d = b->touched[i];
    if (b->left[d] >= 0 && b->need[d] > b->left[d]) {
      snprintf(why, whysize, "PodDisruptionBudget %s/%s allows %lld more eviction%s, this takes %lld",
               s->pdbs[d].ns, s->pdbs[d].name, (long long)b->left[d], b->left[d] == 1 ? "" : "s",
               (long long)b->need[d]);
      broken = 1;
    }
  }
  for (i = 0; i < ntouched; i++) {
    uint32_t d = b->touched[i];
    if (!broken && take && b->left[d] >= 0) b->left[d] -= b->need[d];
    b->need[d] = 0;
  }
  return broken;
}

int stv_node_check_drain(const struct stv_snapshot *s, struct stv_pdb_budget *b, size_t i, size_t *nevict,
                         char *why, size_t whysize) {
  const char *reason = stv_node_why_undisruptable(&s->nodes[i]);
  uint32_t *ev = NULL;
  size_t j, n = 0, cap = 0;
  int rc = 0;

  *nevict = 0;
  if (reason != NULL) {
    snprintf(why, whysize, "%s", reason);
    return 1;
  }
  for (j = 0; j < s->npods; j++) {
    const struct stv_pod *p = &s->pods[j];
    if (p->node != (int32_t)i || p->terminating || stv_pod_stays_with_node(s, p)) continue;
    if ((reason = stv_pod_why_unmovable(p)) != NULL) {
      snprintf(why, whysize, "pod %s/%s: %s", p->ns, p->name, reason);
      rc = 1;
      break;
    }
    if (stv_grow((void **)&ev, &cap, n + 1, sizeof(*ev)) != 0) {
      rc = STV_ENOMEM;
      break;
    }
    ev[n++] = (uint32_t)j;
  }
  if (rc == 0) rc = stv_pdb_budget_check(b, ev, n, 0, why, whysize);
  if (rc == 0) *nevict = n;
  stv_free(ev);
  return rc;
}
