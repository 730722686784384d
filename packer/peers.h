/*
 * peers: two peer provisioning policies, re-implemented from their
 * published descriptions, so that every Stevedore plan can be set against
 * them on the same input (bench/peers_bench.c, bench/peers.py) and so that
 * `stevedore simulate --compare` can run them as baseline policies:
 *
 * - a Karpenter-like provisioner: pods sorted by cpu then memory, each
 *   placed first-fit on existing nodes, then on in-flight new nodes whose
 *   set of candidate offerings narrows as pods are added, else on a new
 *   in-flight node; each in-flight node finally launches the cheapest
 *   offering that is left;
 * - a Cluster-Autoscaler-like scale-up loop: node groups are the offerings
 *   (instance type x zone x capacity type), each group's node count is
 *   estimated by CA's first-fit-decreasing binpacking estimator, the group
 *   is chosen by the least-waste expander (ties by price), and the loop
 *   repeats for the pods still pending.
 *
 * Both are pure functions of a struct stv_problem, like stv_pack, and return
 * a struct stv_plan, so the plan renders to the JSON contract of `stevedore
 * recommend --output json` and tests/checker.py can verify it. How faithful
 * each one is, and where it departs from its original to keep plans
 * feasible, is said in packer/peers.c and bench/README.md.
 */
#ifndef STV_PEERS_H
#define STV_PEERS_H

#include <stddef.h>
#include <stdint.h>

#include "packer.h"

/* What a run did, for the curious; every field is filled by both policies where it applies. */
struct stv_peers_stats {
  size_t rounds;      /* Karpenter: passes over the pod queue; CA: scale-up loops */
  size_t evaluations; /* Karpenter: node Add attempts; CA: node group estimates */
  size_t withdrawn;   /* pods taken back by the final zone-spread check */
};

/*
 * Plans p's pending pods as the Karpenter-like provisioner does. p is
 * borrowed; plan is caller-allocated, filled as stv_pack fills it (no lower
 * bound) and freed with stv_plan_close whatever the result. stats may be
 * NULL. Returns 0 or STV_ENOMEM (err says so).
 */
int stv_peers_karpenter(const struct stv_problem *p, struct stv_plan *plan,
                        struct stv_peers_stats *stats, struct stv_err *err);

/* Options of the Cluster-Autoscaler-like policy. */
struct stv_peers_ca_opts {
  /* Nodes one estimate may add (CA's --max-nodes-per-scaleup); 0 = 1000. */
  uint32_t max_nodes_per_scaleup;
};

/*
 * Plans p's pending pods as the Cluster-Autoscaler-like scale-up loop does.
 * p and o (may be NULL: defaults) are borrowed; plan and stats as for
 * stv_peers_karpenter. Returns 0 or STV_ENOMEM.
 */
int stv_peers_ca(const struct stv_problem *p, const struct stv_peers_ca_opts *o,
                 struct stv_plan *plan, struct stv_peers_stats *stats,
                 struct stv_err *err);

#endif
