/*
 * Zone assignment and groups: pending pods under zone-level rules (topology
 * spread, pod affinity and anti-affinity on topology.kubernetes.io/zone) are
 * given a zone one at a time, water-filling the spread counts, and every
 * class's pods become groups (a class, or a class bound to a zone) ordered
 * by worth for the heuristic (pack.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack_internal.h"

/* ---------------------------------------------------------------------- */
/* Zone assignment                                                        */

static int class_zone_bound(const struct solve *S, uint32_t c) {
  uint32_t *ri;
  for (ri = S->class_rules[c]; *ri != UINT32_MAX; ri++) {
    const struct rule *r = &S->rules[*ri];
    if (r->level == LVL_ZONE) return 1;
  }
  return 0;
}

/*
 * How many pods of class c each zone can take, and what one costs there
 * (usable_zones), computed once per placement key: classes of one key fit
 * the same templates and nodes alike. room and cost are per key, nzones
 * each; done marks the keys computed.
 */
struct zone_room {
  uint32_t *room;
  double *cost;
  unsigned char *done;
};

/*
 * How many pods of class c each zone can take, and what one costs there.
 * room is unlimited (UINT32_MAX) where an unlimited compatible template
 * exists, otherwise what limited templates (reserved counts) and the free
 * room of existing nodes hold for c alone (other pods may take some of it
 * first). cost is the cheapest price per pod of c among the zone's
 * templates (0 for existing room, HUGE_VAL when none).
 */
static void usable_zones(const struct solve *S, uint32_t c, uint32_t *room, double *cost) {
  const struct stv_snapshot *s = S->s;
  const struct stv_class *k = s->classes[c];
  size_t i;
  memset(room, 0, S->nzones * sizeof(*room));
  for (i = 0; i < S->nzones; i++) cost[i] = HUGE_VAL;
  for (i = 0; i < S->nti; i++) {
    const struct tinfo *t = &S->ti[i];
    uint32_t per;
    double unit;
    if (t->zone < 0 || !BIT_GET(&S->compat[i * S->W], c)) continue;
    per = stv__resource_cap(S, t->alloc, k->req, UINT32_MAX - 1);
    if (per == 0) continue;
    unit = (S->p->tmpl[t->t].price + S->p->tmpl[t->t].node_cost) / per;
    if (unit < cost[t->zone]) cost[t->zone] = unit;
    if (t->limit_left < 0) {
      room[t->zone] = UINT32_MAX;
    } else if (room[t->zone] != UINT32_MAX) {
      uint64_t add = (uint64_t)per * (uint64_t)t->limit_left + room[t->zone];
      room[t->zone] = add >= UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)add;
    }
  }
  for (i = 0; i < s->nnodes; i++) {
    const struct stv_node *n = &s->nodes[i];
    struct stv_node_view v = {n->name, &n->labels, n->ntaints, n->taints, n->unschedulable};
    int32_t z = S->node_zone[i];
    int64_t freev[STV_MAX_RES];
    uint32_t fit;
    int r;
    if (z < 0 || room[z] == UINT32_MAX) continue;
    for (r = 0; r < S->ndim; r++) freev[r] = n->alloc[r] - n->used[r];
    fit = stv__resource_cap(S, freev, k->req, UINT32_MAX - 1);
    if (fit == 0 || !stv_class_fits_node(k, &v, NULL, 0)) continue;
    room[z] = room[z] + fit >= UINT32_MAX - 1 ? UINT32_MAX - 1 : room[z] + fit;
    cost[z] = 0;
  }
}

static int zone_room_init(struct solve *S, struct zone_room *zr) {
  zr->room = stv_arena_alloc(&S->a, (S->npkey * S->nzones + 1) * sizeof(*zr->room));
  zr->cost = stv_arena_alloc(&S->a, (S->npkey * S->nzones + 1) * sizeof(*zr->cost));
  zr->done = stv_arena_alloc(&S->a, S->npkey + 1);
  if (zr->room == NULL || zr->cost == NULL || zr->done == NULL) return STV_ENOMEM;
  memset(zr->done, 0, S->npkey + 1);
  return 0;
}

/* usable_zones of pending class c from the cache; *room and *cost point into it. */
static void zone_room_of(const struct solve *S, struct zone_room *zr, uint32_t c, const uint32_t **room,
                         const double **cost) {
  uint32_t k = S->pkey[c];
  uint32_t *r = &zr->room[(size_t)k * S->nzones];
  double *d = &zr->cost[(size_t)k * S->nzones];
  if (!zr->done[k]) {
    usable_zones(S, c, r, d);
    zr->done[k] = 1;
  }
  *room = r;
  *cost = d;
}

/* Checks the zone-level rules for one more pod of c in zone z; why on failure. */
static int zone_allows(const struct solve *S, uint32_t c, size_t z, char *why, size_t whysize) {
  const struct stv_snapshot *s = S->s;
  const uint32_t *ri;
  size_t zz;
  for (ri = S->class_rules[c]; *ri != UINT32_MAX; ri++) {
    const struct rule *r = &S->rules[*ri];
    if (r->level != LVL_ZONE) continue;
    if (r->kind == RULE_ANTI && stv__zone_matches(S, *ri, z) > 0) {
      snprintf(why, whysize, "required pod anti-affinity (zone) of %s", s->classes[c]->example);
      return 0;
    }
    if (r->kind == RULE_AFF && stv__zone_matches(S, *ri, z) == 0) {
      /* The first pod of a group that matches its own term may go anywhere. */
      int any = 0;
      for (zz = 0; zz < S->nzones && !any; zz++) any = stv__zone_matches(S, *ri, zz) > 0;
      if (any || !r->self) {
        snprintf(why, whysize, "required pod affinity (zone): no matching pod in a zone it can use");
        return 0;
      }
    }
    if (r->kind == RULE_SPREAD) {
      uint32_t min = UINT32_MAX, here = stv__zone_matches(S, *ri, z) + 1;
      size_t ndom = 0;
      for (zz = 0; zz < S->nzones; zz++) {
        uint32_t v;
        if (!r->zelig[zz] && zz != z) continue;
        ndom++;
        v = stv__zone_matches(S, *ri, zz) + (zz == z && BIT_GET(r->match, c) ? 1 : 0);
        if (v < min) min = v;
      }
      if (r->min_domains > 0 && ndom < (size_t)r->min_domains) min = 0;
      if (!BIT_GET(r->match, c)) here--;
      if (min != UINT32_MAX && here > min + (uint32_t)r->max_skew) {
        snprintf(why, whysize, "topology spread (zone, maxSkew %d) cannot be met", r->max_skew);
        return 0;
      }
    }
  }
  /* Other classes' rules that count c. */
  for (ri = S->zrules_counting[c]; *ri != UINT32_MAX; ri++) {
    const struct rule *r = &S->rules[*ri];
    if (r->owner == c) continue;
    if (r->kind == RULE_ANTI && S->zone_count[r->owner * S->nzones + z] > 0) {
      snprintf(why, whysize, "required pod anti-affinity (zone) of %s", s->classes[r->owner]->example);
      return 0;
    }
    if (r->kind == RULE_SPREAD && S->zone_count[r->owner * S->nzones + z] > 0) {
      uint32_t min = UINT32_MAX;
      for (zz = 0; zz < S->nzones; zz++) {
        uint32_t v;
        if (!r->zelig[zz]) continue;
        v = stv__zone_matches(S, *ri, zz);
        if (v < min) min = v;
      }
      if (stv__zone_matches(S, *ri, z) + 1 > min + (uint32_t)r->max_skew) {
        snprintf(why, whysize, "would break the zone topology spread of %s", s->classes[r->owner]->example);
        return 0;
      }
    }
  }
  return 1;
}

/* Does class c take part in zone-level rules (its own or others' that count it)? */
static int zone_participant(const struct solve *S, uint32_t c) {
  const uint32_t *ri;
  if (class_zone_bound(S, c)) return 1;
  for (ri = S->zrules_counting[c]; *ri != UINT32_MAX; ri++)
    if (S->s->classes[S->rules[*ri].owner]->npods > 0) return 1;
  return 0;
}

static int new_group(struct solve *S, size_t *cap, uint32_t c, int32_t zone, uint32_t *pods, uint32_t n) {
  struct group *g;
  if (stv_grow((void **)&S->g, cap, S->ng + 1, sizeof(*S->g)) != 0) return STV_ENOMEM;
  g = &S->g[S->ng++];
  memset(g, 0, sizeof(*g));
  g->cls = c;
  g->zone = zone;
  g->remaining = g->total = n;
  g->pods = pods;
  g->worth = stv__worth_of(S, S->s->classes[c]);
  return 0;
}

static int has_unsupported_rule(const struct solve *S, uint32_t c, char *why, size_t whysize) {
  uint32_t *ri;
  if (S->s->classes[c]->blocked != NULL) {
    snprintf(why, whysize, "%s", S->s->classes[c]->blocked);
    return 1;
  }
  for (ri = S->class_rules[c]; *ri != UINT32_MAX; ri++) {
    const struct rule *r = &S->rules[*ri];
    if (r->level == LVL_OTHER) {
      const char *key = r->spread ? r->spread->topology_key : "a custom key";
      snprintf(why, whysize, "topologyKey %s is not supported by the planner (only %s and %s)", key, HOST_KEY,
               ZONE_KEY);
      return 1;
    }
  }
  return 0;
}

int stv__setup_groups(struct solve *S) {
  const struct stv_snapshot *s = S->s;
  size_t cap = 0, i, c, pass;
  uint32_t *start = stv_arena_alloc(&S->a, (S->nclasses + 1) * sizeof(uint32_t));
  uint32_t *all = stv_arena_alloc(&S->a, (s->npods + 1) * sizeof(uint32_t));
  uint32_t *fill = stv_arena_alloc(&S->a, (S->nclasses + 1) * sizeof(uint32_t));
  const uint32_t *room;
  uint32_t *zc = stv_arena_alloc(&S->a, (S->nzones + 1) * sizeof(uint32_t));
  int32_t *zsel;
  int own_spread, any_room;
  const double *zcost;
  struct zone_room zr;
  char why[200];
  if (!start || !all || !fill || !zc || zone_room_init(S, &zr) != 0) return STV_ENOMEM;
  /* Pending pods by class, in snapshot order. */
  for (c = 0; c < S->nclasses; c++) start[c + 1] = start[c] + s->classes[c]->npending;
  for (i = 0; i < s->npods; i++) {
    const struct stv_pod *p = &s->pods[i];
    const struct stv_class *k = s->classes[p->cls];
    if (p->node >= 0 || k->daemonset || p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED)
      continue;
    if (p->flags & STV_POD_NODE_MISSING) continue;
    if (p->not_planned != STV_NP_NONE) continue; /* listed in plan->skipped */
    all[start[p->cls] + fill[p->cls]++] = (uint32_t)i;
  }
  /* Classes without pod-affinity rules first, so that affinity finds its targets. */
  for (pass = 0; pass < 2; pass++) {
    for (c = 0; c < S->nclasses; c++) {
      const struct stv_class *k = s->classes[c];
      uint32_t *pods = all + start[c], n = k->npending, j;
      int has_aff = k->naff > 0;
      size_t z;
      if (n == 0 || k->daemonset || (size_t)has_aff != pass) continue;
      if (has_unsupported_rule(S, (uint32_t)c, why, sizeof(why))) {
        for (j = 0; j < n; j++)
          if (stv__add_unsched(S, pods[j], why)) return STV_ENOMEM;
        continue;
      }
      if (S->nzones == 0 || !zone_participant(S, (uint32_t)c)) {
        if (new_group(S, &cap, (uint32_t)c, -1, pods, n)) return STV_ENOMEM;
        continue;
      }
      zone_room_of(S, &zr, (uint32_t)c, &room, &zcost);
      own_spread = 0;
      {
        const uint32_t *ri;
        for (ri = S->class_rules[c]; *ri != UINT32_MAX; ri++)
          if (S->rules[*ri].kind == RULE_SPREAD && S->rules[*ri].level == LVL_ZONE) own_spread = 1;
      }
      any_room = 0;
      for (z = 0; z < S->nzones; z++) any_room |= room[z] > 0;
      memset(zc, 0, S->nzones * sizeof(*zc));
      zsel = stv_arena_alloc(&S->a, (n + 1) * sizeof(int32_t));
      if (zsel == NULL) return STV_ENOMEM;
      /*
       * One pod at a time. A class with a zone spread of its own water-fills:
       * the allowed zone with the fewest of its kind, the cheaper on a tie.
       * Any other class goes where new nodes can be had without limit, then
       * where its pods cost least, then where fewest of its kind are.
       */
      for (j = 0; j < n; j++) {
        int best = -1;
        why[0] = '\0';
        for (z = 0; z < S->nzones; z++) {
          uint32_t cz, cb;
          if (zc[z] >= room[z]) continue;
          if (!zone_allows(S, (uint32_t)c, z, why, sizeof(why))) continue;
          if (best < 0) {
            best = (int)z;
            continue;
          }
          cz = S->zone_count[c * S->nzones + z];
          cb = S->zone_count[c * S->nzones + (size_t)best];
          if (own_spread) {
            if (cz < cb || (cz == cb && zcost[z] < zcost[best])) best = (int)z;
            continue;
          }
          if ((room[z] == UINT32_MAX) != (room[best] == UINT32_MAX)) {
            if (room[z] == UINT32_MAX) best = (int)z;
            continue;
          }
          if (zcost[z] != zcost[best]) {
            if (zcost[z] < zcost[best]) best = (int)z;
            continue;
          }
          if (cz < cb) best = (int)z;
        }
        zsel[j] = best;
        if (best < 0) {
          /* Nowhere at all: say why as for any pod that fits nowhere. */
          if (!any_room)
            stv__explain(S, (uint32_t)c, why, sizeof(why));
          else if (why[0] == '\0')
            snprintf(why, sizeof(why), "the zones it may use have no room left for it");
          if (stv__add_unsched(S, pods[j], why)) return STV_ENOMEM;
          continue;
        }
        stv__zone_add(S, (uint32_t)c, (size_t)best);
        zc[best]++;
      }
      /* One group per zone, pods in snapshot order. */
      for (z = 0; z < S->nzones; z++) {
        uint32_t *zp, at = 0;
        if (zc[z] == 0) continue;
        zp = stv_arena_alloc(&S->a, (zc[z] + 1) * sizeof(uint32_t));
        if (zp == NULL) return STV_ENOMEM;
        for (j = 0; j < n; j++)
          if (zsel[j] == (int32_t)z) zp[at++] = pods[j];
        if (new_group(S, &cap, (uint32_t)c, (int32_t)z, zp, zc[z])) return STV_ENOMEM;
      }
    }
  }
  return 0;
}
