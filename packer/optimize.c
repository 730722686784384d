/*
 * The optimizer: column generation over pod classes and offerings, on top
 * of the heuristic's plan. See docs/optimizer.md.
 */
#include "packer.h"

void stv_spot_policy_default(struct stv_spot_policy *sp) {
  sp->restart_cost = STV_SPOT_RESTART_COST_DEFAULT;
  sp->max_share = STV_SPOT_MAX_SHARE_DEFAULT;
  sp->max_pool_fraction = STV_SPOT_MAX_POOL_FRACTION_DEFAULT;
}
