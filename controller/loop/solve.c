/*
 * The solve of a provisioning batch, and the inline runner that does it on
 * the loop thread (stevedore simulate, where the clock is virtual and a
 * solve takes no cluster time). The worker-thread runner is runner_uv.c.
 */
#include <stdio.h>
#include <string.h>

#include "loop.h"
#include "peers.h"

const char *stv_policy_name(enum stv_policy p) {
  switch (p) {
  case STV_POLICY_KARPENTER:
    return "karpenter-like";
  case STV_POLICY_CA:
    return "cluster-autoscaler-like";
  case STV_POLICY_STEVEDORE:
  default:
    return "stevedore";
  }
}

void stv_decision_vemit(stv_decision_cb cb, void *ctx, double at, const char *kind, const char *fmt,
                        va_list ap) {
  struct stv_decision d;
  char text[512];
  if (cb == NULL) return;
  vsnprintf(text, sizeof(text), fmt, ap);
  d.at = at;
  d.kind = kind;
  d.text = text;
  cb(ctx, &d);
}

void stv_decision_emit(stv_decision_cb cb, void *ctx, double at, const char *kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  stv_decision_vemit(cb, ctx, at, kind, fmt, ap);
  va_end(ap);
}

/*
 * The decision mode (docs/optimizer.md, "Decision mode"): the decision
 * budget becomes work units, so that the same cluster state gives the same
 * plan on any machine and under any load; the wall time stays a safety net
 * at DECISION_WALL_CAP times the budget.
 */
#define DECISION_WALL_CAP 3.0

static void decision_mode(struct stv_problem *p) {
  if (p->time_limit <= 0 || p->work_limit > 0) return;
  p->work_limit = stv_work_units(p->time_limit);
  p->time_limit *= DECISION_WALL_CAP;
}

int stv_solve_job_run(struct stv_solve_job *job) {
  double t0 = stv_monotonic_seconds();
  memset(&job->err, 0, sizeof(job->err));
  decision_mode(&job->problem);
  switch (job->policy) {
  case STV_POLICY_KARPENTER:
    job->rc = stv_peers_karpenter(&job->problem, &job->plan, NULL, &job->err);
    break;
  case STV_POLICY_CA:
    job->rc = stv_peers_ca(&job->problem, NULL, &job->plan, NULL, &job->err);
    break;
  case STV_POLICY_STEVEDORE:
  default:
    job->rc = stv_optimize(&job->problem, &job->plan, &job->err);
    break;
  }
  job->solve_s = stv_monotonic_seconds() - t0;
  return job->rc;
}

static void inline_done(struct stv_timer *t) {
  struct stv_solve_job *job = t->data;
  job->done(job);
}

static int inline_submit(struct stv_solve_runner *r, struct stv_solve_job *job) {
  struct stv_clock *clock = r->impl;
  /* Work units only, no wall clock: the same scenario, the same run, bit for bit. */
  job->problem.clock = NULL;
  stv_solve_job_run(job);
  return stv_clock_start(clock, &job->timer, 0, inline_done, job);
}

static const struct stv_solve_runner_ops inline_ops = {
    .submit = inline_submit,
};

void stv_solve_runner_inline_init(struct stv_solve_runner *r, struct stv_clock *clock) {
  r->ops = &inline_ops;
  r->impl = clock;
}
