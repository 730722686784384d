/*
 * Headroom: capacity kept free for pods to come, planned as virtual pods
 * that the packer places like any pending pod (existing nodes first). The
 * automatic share is computed in exact integer arithmetic, so that the
 * independent checker (tests/checker.py) finds the same count.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "controller.h"

#define MIB (INT64_C(1) << 20)
/* Parts per million: percentages are taken to four decimal places. */
#define PPM INT64_C(1000000)
/* The most virtual pods headroom may add in all (config.h). */
#define HEADROOM_PODS_MAX STV_HEADROOM_PODS_MAX
/* Cluster cpu beyond which the exact arithmetic below could overflow, millicores. */
#define CPU_MAX_MILLI INT64_C(100000000000)

/* ceil(v x ppm / 1,000,000) without overflow for v < 2^63 / 1,000,000 x ppm. */
static int64_t share_ceil(int64_t v, int64_t ppm) {
  int64_t q = v / PPM, r = v % PPM;
  return q * ppm + (r * ppm + PPM - 1) / PPM;
}

/* ceil(a x 1000 / b) for 0 <= a and 0 < b <= 9.2e17, by long division. */
static int64_t ratio_1000_ceil(int64_t a, int64_t b) {
  int64_t q = a / b, r = a % b;
  int i;
  for (i = 0; i < 3; i++) {
    r *= 10;
    q = q * 10 + r / b;
    r %= b;
  }
  return q + (r > 0);
}

int stv_headroom_automatic(const struct stv_snapshot *s, double percent, struct stv_headroom_unit *unit,
                           struct stv_err *err) {
  int64_t cpu = 0, mem = 0, ppm, target_cpu, target_mem, n_cpu, n_mem;
  size_t i;
  memset(unit, 0, sizeof(*unit));
  ppm = (int64_t)llround(percent * 10000.0);
  if (ppm <= 0) return 0;
  for (i = 0; i < s->nnodes; i++) {
    if (s->nodes[i].unschedulable) continue;
    if (stv_add_i64(cpu, s->nodes[i].alloc[STV_RES_CPU], &cpu) != 0 ||
        stv_add_i64(mem, s->nodes[i].alloc[STV_RES_MEMORY], &mem) != 0 || cpu > CPU_MAX_MILLI ||
        mem > INT64_MAX / 2)
      return stv_err_set(err, STV_ELIMIT, "automatic headroom: the cluster is too large to compute it");
  }
  if (cpu <= 0) return 0;
  target_cpu = share_ceil(cpu, ppm);
  target_mem = share_ceil(mem, ppm);
  unit->cpu = 1000;
  unit->memory = ratio_1000_ceil(mem, cpu * MIB) * MIB;
  n_cpu = (target_cpu + 999) / 1000;
  n_mem = unit->memory > 0 ? (target_mem + unit->memory - 1) / unit->memory : 0;
  if ((n_cpu > n_mem ? n_cpu : n_mem) > HEADROOM_PODS_MAX)
    return stv_err_set(err, STV_ELIMIT, "automatic headroom of %g%% would take more than %d virtual pods",
                       percent, HEADROOM_PODS_MAX);
  unit->count = (uint32_t)(n_cpu > n_mem ? n_cpu : n_mem);
  return 0;
}

/* Adds count virtual pods requesting unit's cpu and memory, numbered from *next. */
static int add_pods(struct stv_snapshot *s, const struct stv_headroom_unit *unit, const char *ns,
                    uint32_t *next, struct stv_err *err) {
  struct stv_class c;
  struct stv_pod pod;
  char name[32], example[64];
  uint32_t i;
  int rc;
  memset(&c, 0, sizeof(c));
  c.ns = ns;
  c.req[STV_RES_CPU] = unit->cpu;
  c.req[STV_RES_MEMORY] = unit->memory;
  c.req[STV_RES_PODS] = 1;
  snprintf(example, sizeof(example), "%s/headroom-%u", ns, *next);
  if ((c.example = stv_strpool_get(&s->pool, example)) == NULL) goto nomem;
  memset(&pod, 0, sizeof(pod));
  if ((rc = stv_snapshot_intern_class(s, &c, &pod.cls)) != 0) goto fail;
  pod.ns = ns;
  pod.node = -1;
  pod.phase = STV_PHASE_PENDING;
  pod.flags = STV_POD_HEADROOM;
  for (i = 0; i < unit->count; i++) {
    snprintf(name, sizeof(name), "headroom-%u", (*next)++);
    if ((pod.name = stv_strpool_get(&s->pool, name)) == NULL) goto nomem;
    if ((rc = stv_snapshot_add_pod(s, &pod)) != 0) goto fail;
  }
  return 0;
nomem:
  rc = STV_ENOMEM;
fail:
  return stv_err_set(err, rc, "headroom: %s", stv_strerror(rc));
}

/*
 * Sums what all the virtual pods ask for into out->cpu and out->memory, in
 * checked arithmetic: a unit of 2 pods of 8 EiB each is refused here rather
 * than summed into a negative total.
 */
static int headroom_totals(struct stv_headroom *out, struct stv_err *err) {
  size_t i;
  out->cpu = 0;
  out->memory = 0;
  for (i = 0; i < out->nunits; i++) {
    const struct stv_headroom_unit *u = &out->units[i];
    int64_t cpu, mem;
    if (stv_mul_i64(u->cpu, u->count, &cpu) != 0 || stv_add_i64(out->cpu, cpu, &out->cpu) != 0)
      return stv_err_set(err, STV_ERANGE,
                         "headroom: %u virtual pods of %" PRId64 " millicores each (with the units before) "
                         "ask for more cpu than 64 bits hold; ask for less",
                         u->count, u->cpu);
    if (stv_mul_i64(u->memory, u->count, &mem) != 0 || stv_add_i64(out->memory, mem, &out->memory) != 0)
      return stv_err_set(err, STV_ERANGE,
                         "headroom: %u virtual pods of %" PRId64
                         " bytes of memory each (with the units before) "
                         "ask for more memory than 64 bits hold; ask for less",
                         u->count, u->memory);
  }
  return 0;
}

int stv_headroom_add(struct stv_snapshot *s, const struct stv_headroom_unit *manual, size_t nmanual,
                     double percent, struct stv_headroom *out, struct stv_err *err) {
  struct stv_headroom_unit autounit;
  const char *ns;
  uint32_t next = 1;
  size_t i, total = 0;
  int rc;

  memset(out, 0, sizeof(*out));
  if (nmanual == 0 && !(percent > 0)) return 0;
  for (i = 0; i < s->npods; i++) {
    if (strcmp(s->pods[i].ns, STV_HEADROOM_NAMESPACE) == 0)
      return stv_err_set(
          err, STV_ECONFLICT,
          "Pod %s/%s: namespace %s is reserved for headroom's virtual pods; turn headroom off or "
          "rename the namespace",
          s->pods[i].ns, s->pods[i].name, STV_HEADROOM_NAMESPACE);
  }
  if ((rc = stv_headroom_automatic(s, percent, &autounit, err)) != 0) return rc;
  out->units = stv_arena_alloc(&s->mem, (nmanual + 1) * sizeof(*out->units));
  if (out->units == NULL || (ns = stv_strpool_get(&s->pool, STV_HEADROOM_NAMESPACE)) == NULL)
    return stv_err_set(err, STV_ENOMEM, "headroom: out of memory");
  for (i = 0; i < nmanual; i++) {
    if (manual[i].count == 0) continue;
    total += manual[i].count;
    out->units[out->nunits++] = manual[i];
  }
  if (autounit.count > 0) {
    total += autounit.count;
    out->units[out->nunits++] = autounit;
    out->automatic = 1;
  }
  if (total > HEADROOM_PODS_MAX)
    return stv_err_set(err, STV_ELIMIT,
                       "headroom: %zu virtual pods asked for (manual units and automatic headroom together), "
                       "more than %d; ask for fewer, larger pods",
                       total, HEADROOM_PODS_MAX);
  if ((rc = headroom_totals(out, err)) != 0) return rc;
  for (i = 0; i < out->nunits; i++) {
    if ((rc = add_pods(s, &out->units[i], ns, &next, err)) != 0) return rc;
  }
  out->npods = total;
  return 0;
}
