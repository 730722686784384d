/*
 * The pattern bound's knapsack bound with hostname conflicts
 * (packer/bound_knap.c): never below the best legal pattern, found by
 * enumerating every pattern of small random knapsacks with anti-affinity
 * groups, and strictly tighter than the relaxation without conflicts where
 * the conflicts decide.
 */
#include <math.h>

#include "cg_internal.h"
#include "harness.h"

#define NI 7 /* items per instance */

/* A knapsack of NI items over cpu and memory, as stv__knapsack sets one up. */
struct inst {
  struct stv_snapshot snap;
  struct solve S;
  struct cg C;
  struct stv_class cls[NI], *clsp[NI];
  struct item it[NI];
  uint64_t anti[NI];
  uint32_t kidx[NI], ku[NI], clique[NI];
  double kval[NI];
};

static void inst_init(struct inst *x) {
  int i;
  glp_term_out(GLP_OFF); /* as stv__glpk_run has it around the solver */
  memset(x, 0, sizeof(*x));
  x->snap.classes = x->clsp;
  x->snap.nclasses = NI;
  x->S.s = &x->snap;
  x->S.ndim = 2;
  x->S.W = 1;
  x->S.nclasses = NI;
  x->S.anti_host = x->anti;
  x->C.S = &x->S;
  x->C.it = x->it;
  x->C.nit = NI;
  x->C.kn = NI;
  x->C.kidx = x->kidx;
  x->C.kval = x->kval;
  x->C.ku = x->ku;
  for (i = 0; i < NI; i++) {
    x->clsp[i] = &x->cls[i];
    x->it[i].cls = (uint32_t)i;
    x->kidx[i] = (uint32_t)i;
  }
}

/* Items a and b repel each other (a == b: the item repels itself). */
static void repel(struct inst *x, int a, int b) {
  x->anti[a] |= 1ULL << b;
  x->anti[b] |= 1ULL << a;
}

/* The best legal pattern's value, by enumerating every count vector. */
static double best_pattern(const struct inst *x) {
  uint32_t cnt[NI];
  double best = 0;
  int i, j;
  memset(cnt, 0, sizeof(cnt));
  for (;;) {
    int64_t use[2] = {0, 0};
    double v = 0;
    int ok = 1;
    for (i = 0; i < NI; i++) {
      use[0] += x->cls[i].req[0] * (int64_t)cnt[i];
      use[1] += x->cls[i].req[1] * (int64_t)cnt[i];
      v += x->kval[i] * cnt[i];
      if (cnt[i] > 1 && (x->anti[i] >> i & 1)) ok = 0;
      for (j = 0; j < i; j++)
        if (cnt[i] && cnt[j] && (x->anti[i] >> j & 1)) ok = 0;
    }
    if (ok && use[0] <= x->C.cap[0] && use[1] <= x->C.cap[1] && v > best) best = v;
    for (i = 0; i < NI && ++cnt[i] > x->ku[i]; i++) cnt[i] = 0;
    if (i == NI) return best;
  }
}

/* A random instance: requests, values, counts, anti-affinity groups. */
static void random_inst(struct inst *x, unsigned *seed) {
  int i, j, group[NI];
  inst_init(x);
  x->C.cap[0] = 1000 + rand_r(seed) % 7000;
  x->C.cap[1] = 1024 + rand_r(seed) % 16384;
  for (i = 0; i < NI; i++) {
    x->cls[i].req[0] = 100 * (1 + rand_r(seed) % 15);
    x->cls[i].req[1] = 256 * (1 + rand_r(seed) % 16);
    x->kval[i] = 0.001 * (1 + rand_r(seed) % 1000);
    group[i] = rand_r(seed) % 4 - 1; /* -1: no rule; else the group it repels */
    x->ku[i] = 1 + rand_r(seed) % 3;
  }
  for (i = 0; i < NI; i++) {
    if (group[i] < 0) continue;
    /* A group's pods repel each other, their own kind too (unless the
     * draw says the rule holds between kinds only). */
    if (rand_r(seed) % 4 != 0) {
      repel(x, i, i);
      x->ku[i] = 1;
    }
    for (j = 0; j < i; j++)
      if (group[j] == group[i]) repel(x, i, j);
  }
  /* As stv__knapsack bounds counts: no more than fit alone. */
  for (i = 0; i < NI; i++) {
    int r;
    for (r = 0; r < 2; r++)
      if ((int64_t)x->ku[i] * x->cls[i].req[r] > x->C.cap[r])
        x->ku[i] = (uint32_t)(x->C.cap[r] / x->cls[i].req[r]);
  }
}

TEST(bound_never_below_best_pattern) {
  unsigned seed = 11;
  int n, tight = 0;
  for (n = 0; n < 400; n++) {
    struct inst x;
    double ub = -1, best, plain = -1;
    long k;
    random_inst(&x, &seed);
    k = stv__bound_cliques(&x.C, x.clique);
    CHECK(k >= 0);
    CHECK(stv__knap_conflict_bound(&x.C, x.clique, 0, &ub) == 1);
    best = best_pattern(&x);
    if (ub < best - 1e-9)
      fprintf(stderr, "  instance %d: bound %.6f below the best pattern %.6f\n", n, ub, best);
    CHECK(ub >= best - 1e-9);
    /* The same bound without the conflicts: never tighter. */
    memset(x.clique, 0xff, sizeof(x.clique));
    CHECK(stv__knap_conflict_bound(&x.C, x.clique, 0, &plain) == 1);
    CHECK(plain >= best - 1e-9);
    if (ub < plain - 1e-6) tight++;
  }
  /* The conflicts decide on a good share of the draws. */
  CHECK(tight >= 40);
}

TEST(cliques_cover_repelling_items) {
  struct inst x;
  int i, j;
  inst_init(&x);
  /* 0-1-2 repel each other, 3-4 repel each other, 5 repels 0 only, 6 free. */
  repel(&x, 0, 1);
  repel(&x, 0, 2);
  repel(&x, 1, 2);
  repel(&x, 3, 4);
  repel(&x, 5, 0);
  CHECK(stv__bound_cliques(&x.C, x.clique) >= 2);
  CHECK(x.clique[6] == UINT32_MAX);
  for (i = 0; i < NI; i++)
    for (j = 0; j < i; j++)
      if (x.clique[i] != UINT32_MAX && x.clique[i] == x.clique[j]) CHECK(x.anti[i] >> j & 1);
  CHECK(x.clique[0] == x.clique[1] && x.clique[1] == x.clique[2]);
  CHECK(x.clique[3] == x.clique[4]);
}

TEST(one_pod_of_a_repelling_group_per_node) {
  struct inst x;
  double ub = -1;
  int i;
  inst_init(&x);
  /* A large node; seven kinds of one anti-affinity group, each worth 1. */
  x.C.cap[0] = 64000;
  x.C.cap[1] = 262144;
  for (i = 0; i < NI; i++) {
    int j;
    x.cls[i].req[0] = 250;
    x.cls[i].req[1] = 512;
    x.kval[i] = 1;
    x.ku[i] = 1;
    for (j = 0; j <= i; j++) repel(&x, i, j);
  }
  CHECK(stv__bound_cliques(&x.C, x.clique) == 1);
  CHECK(stv__knap_conflict_bound(&x.C, x.clique, 0, &ub) == 1);
  CHECK(fabs(ub - 1) < 1e-6);
}

TEST(capacity_kept_exactly_in_one_resource) {
  struct inst x;
  double ub = -1;
  int i;
  inst_init(&x);
  /* cpu binds: 1000m holds two 400m pods, not the LP's 2.5. */
  x.C.kn = 1;
  x.C.cap[0] = 1000;
  x.C.cap[1] = 1 << 20;
  x.cls[0].req[0] = 400;
  x.cls[0].req[1] = 1;
  x.kval[0] = 1;
  x.ku[0] = 10;
  for (i = 0; i < NI; i++) x.clique[i] = UINT32_MAX;
  CHECK(stv__knap_conflict_bound(&x.C, x.clique, 0, &ub) == 1);
  CHECK(fabs(ub - 2) < 1e-6);
}

TEST(two_binding_resources_kept_together) {
  struct inst x;
  double ub = -1;
  int i;
  inst_init(&x);
  /* cpu-heavy, memory-heavy and balanced pods on a node of 1000 x 1000:
   * the best pattern is one cpu-heavy and one memory-heavy pod (value 2);
   * the LP mixes fractions of all three above it. */
  x.C.kn = 3;
  x.C.cap[0] = 1000;
  x.C.cap[1] = 1000;
  x.cls[0].req[0] = 600;
  x.cls[0].req[1] = 100;
  x.cls[1].req[0] = 100;
  x.cls[1].req[1] = 600;
  x.cls[2].req[0] = 500;
  x.cls[2].req[1] = 500;
  x.kval[0] = x.kval[1] = 1;
  x.kval[2] = 1.3;
  x.ku[0] = x.ku[1] = x.ku[2] = 1;
  for (i = 0; i < NI; i++) x.clique[i] = UINT32_MAX;
  CHECK(stv__knap_conflict_bound(&x.C, x.clique, 0, &ub) == 1);
  CHECK(ub >= 2 - 1e-9);
  CHECK(ub < 2 + 1e-6);
}
