/*
 * What the two baseline policies of peers.c share (peers_world.c): the
 * world they place pods in (zones, templates, placement signatures, the
 * inter-pod rules as groups, the existing and new nodes), the rules' room
 * checks, the final zone-spread check and the plan. Internal to packer/.
 */
#ifndef STV_PEERS_INTERNAL_H
#define STV_PEERS_INTERNAL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack_internal.h"
#include "peers.h"

#define UNSCHEDULABLE_TAINT  "node.kubernetes.io/unschedulable"
#define CA_DEFAULT_MAX_NODES 1000
#define CA_MAX_ROUNDS 100000

/* A DoNotSchedule spread constraint, shared by every class that carries it. */
struct grp {
  enum level level;
  int32_t max_skew, min_domains;
  int trivial;       /* domains not narrowed by the owners' node affinity or taints */
  int supported;     /* the baselines can keep its counts exact */
  int active;        /* an owner has pending pods the baselines plan */
  int32_t hidx;      /* hostname groups: index of the per-node counter */
  uint64_t *match;   /* classes it counts */
  uint64_t *owners;  /* classes that carry it */
  const struct stv_class *owner; /* one owner, for eligibility probes */
  const struct stv_spread *sp;
  unsigned char *zelig; /* zone groups: zones that are domains */
  unsigned char *xelig; /* zone groups: existing nodes that count */
  unsigned char *xzone; /* zone groups: zones with an eligible existing node */
};

/* A node of the world: existing, in flight (Karpenter) or added (CA). */
struct pnode {
  int32_t existing; /* snapshot node, or -1 */
  int32_t tmpl;     /* template of a new node; Karpenter sets it at launch */
  int32_t zone;     /* zone index; -1 when none or not yet fixed */
  uint32_t npods;   /* pods of the plan on it */
  int64_t used[STV_MAX_RES];
  uint64_t *pres;   /* classes present, bound or placed */
  uint32_t *hcnt;   /* per hostname group: pods it counts here */
  uint32_t *cand;   /* Karpenter: templates it may still launch as */
  uint32_t ncand;
  int64_t maxcap[STV_MAX_RES]; /* Karpenter: the most any candidate offers */
};

struct world {
  const struct stv_problem *p;
  const struct stv_snapshot *s;
  struct stv_arena a;
  int ndim;
  size_t nc, W;
  /* zones */
  const char **zones;
  size_t nz, cap_zones;
  int32_t *node_zone;      /* per existing node */
  int32_t *tzone;          /* per template */
  unsigned char *has_host; /* per existing node: carries kubernetes.io/hostname */
  /* templates */
  int64_t *talloc;    /* per template: allocatable less its DaemonSets */
  uint32_t *usable;   /* templates a node may be made of */
  size_t nusable;
  uint64_t *compat;   /* per template: classes it takes alone */
  int64_t maxcap[STV_MAX_RES];
  uint32_t *sig;      /* per class: placement signature */
  size_t nsig;
  unsigned char *xfit; /* per existing node x signature: 0 unknown, 1 fits, 2 not */
  /* classes */
  const char **unsup; /* per class: why the baselines do not plan it, or NULL */
  uint64_t *anti_host, *anti_zone, *aff_all;
  unsigned char *aff_host, *aff_zone, *aff_self, *zpart, *need_zone, *need_host;
  uint32_t **own, **cnt; /* per class: groups it carries / that count it */
  struct grp *g;
  size_t ng, cap_g, nhg;
  /* zone state */
  uint32_t *zcount;        /* per group x zone: pods counted */
  uint32_t *zbase;         /* the same, bound pods only */
  uint64_t *zpres;         /* per zone: classes present */
  uint64_t *present;       /* classes with a pod anywhere */
  unsigned char *newzone;  /* per zone: a new node is or will be there */
  /* nodes and pods */
  struct pnode **nodes;    /* existing nodes first, then new ones */
  size_t nnodes, cap_nodes, nexist;
  uint32_t *pending;       /* pending pods the plan is for */
  size_t npending;
  int32_t *where;          /* per snapshot pod: world node, or -1 */
  const char **why;        /* per snapshot pod: reason when unplaced */
  size_t withdrawn;
};

void *stv__peers_walloc(struct world *w, size_t n);
struct pnode *stv__peers_node_new(struct world *w);
int stv__peers_node_push(struct world *w, struct pnode *n, uint32_t *id);
int stv__peers_world_init(struct world *w, const struct stv_problem *p);
void stv__peers_world_close(struct world *w);
uint32_t stv__peers_res_room(const struct world *w, const int64_t *used, const int64_t *cap, const struct stv_class *k, uint32_t want);
uint32_t stv__peers_host_room(const struct world *w, const struct pnode *n, uint32_t c, uint32_t want);
int stv__peers_zone_ok(const struct world *w, uint32_t c, int32_t z, int32_t e);
int32_t stv__peers_choose_zone(const struct world *w, uint32_t c, const unsigned char *avail);
void stv__peers_node_put(struct world *w, struct pnode *n, uint32_t c, uint32_t k);
void stv__peers_node_commit(struct world *w, struct pnode *n, uint32_t c, uint32_t k);
void stv__peers_zone_commit(struct world *w, uint32_t c, int32_t z, int32_t e, uint32_t k);
int stv__peers_exist_place(struct world *w, uint32_t e, uint32_t pod);
int stv__peers_repair_spread(struct world *w, const char *reason);
int stv__peers_build_plan(struct world *w, struct stv_plan *plan, const char *prefix);

#endif
