/*
 * The end of a cost report (report.h): the shared cost spread over the
 * groups, the cents apportioned so that every column adds up to the
 * headline figure, the rows sorted, the notes of what was assumed and the
 * right-sizing rows.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

/* ---------------------------------------------------------------------- */
/* Finish                                                                 */

struct frac {
  size_t i;
  double f;
};

static int cmp_frac_desc(const void *a, const void *b) {
  const struct frac *x = a, *y = b;
  if (x->f != y->f) return x->f > y->f ? -1 : 1;
  return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * Apportions target cents over values v[0..n) (amounts in currency, times
 * factor), in proportion to the values, largest remainder first, so that
 * the cents add up to target exactly. Writes out[0..n).
 */
static int apportion(const double *v, size_t n, double factor, int64_t target, int64_t *out) {
  struct frac *fr;
  size_t i;
  int64_t sum = 0, rest;
  double total = 0, scale;
  if (n == 0) return 0;
  if ((fr = stv_malloc(n * sizeof(*fr))) == NULL) return STV_ENOMEM;
  for (i = 0; i < n; i++) total += v[i] > 0 ? v[i] * factor * 100.0 : 0;
  scale = total > 0 ? (double)target / total : 0;
  for (i = 0; i < n; i++) {
    double x = v[i] > 0 ? v[i] * factor * 100.0 * scale : 0;
    out[i] = (int64_t)floor(x);
    fr[i].i = i;
    fr[i].f = x - (double)out[i];
    sum += out[i];
  }
  rest = target - sum;
  qsort(fr, n, sizeof(*fr), cmp_frac_desc);
  /* Whole cents left over go to the largest remainders (to the first items when all values are 0). */
  for (i = 0; rest > 0; i = (i + 1) % n, rest--) out[fr[i].i]++;
  /* Float noise may leave the floors above the target: take from the smallest remainders. */
  while (rest < 0) {
    size_t k;
    int took = 0;
    for (k = n; k-- > 0 && rest < 0;)
      if (out[fr[k].i] > 0) {
        out[fr[k].i]--;
        rest++;
        took = 1;
      }
    if (!took) break;
  }
  stv_free(fr);
  return 0;
}

/*
 * Rounds the rows' cpu, ram, gpu and shared amounts to cents so that each
 * row adds up to its total_cents and each column to its own apportioned
 * total (controlled rounding): every cell is its value rounded down or up,
 * and a row's round-ups go to the columns that still need cents most.
 * col receives the column totals actually reached.
 */
static int round_matrix(struct stv_report *r, double factor, int64_t col[4]) {
  size_t i, j, nr = r->nrows;
  int64_t need[4], rows_total = 0;
  double colv[4] = {0, 0, 0, 0};
  double *fracs = NULL;
  int rc = 0;
  if (nr == 0) {
    memset(col, 0, 4 * sizeof(*col));
    return 0;
  }
  fracs = stv_malloc(nr * 4 * sizeof(*fracs));
  if (fracs == NULL) {
    rc = STV_ENOMEM;
    goto out;
  }
  for (i = 0; i < nr; i++) {
    const struct stv_report_row *row = &r->rows[i];
    colv[0] += row->cpu_cost;
    colv[1] += row->ram_cost;
    colv[2] += row->gpu_cost;
    colv[3] += row->shared_cost;
    rows_total += row->total_cents;
  }
  if ((rc = apportion(colv, 4, factor, rows_total, need)) != 0) goto out;
  /* Floors of each row scaled to its total; the cents each row still needs. */
  for (i = 0; i < nr; i++) {
    struct stv_report_row *row = &r->rows[i];
    double v[4] = {row->cpu_cost, row->ram_cost, row->gpu_cost, row->shared_cost};
    int64_t fl[4];
    for (j = 0; j < 4; j++) {
      double x = v[j] > 0 ? v[j] * factor * 100.0 : 0;
      fl[j] = (int64_t)floor(x);
      fracs[i * 4 + j] = x - (double)fl[j];
      need[j] -= fl[j];
    }
    row->cpu_cents = fl[0];
    row->ram_cents = fl[1];
    row->gpu_cents = fl[2];
    row->shared_cents = fl[3];
  }
  for (i = 0; i < nr; i++) {
    struct stv_report_row *row = &r->rows[i];
    int64_t *cell[4] = {&row->cpu_cents, &row->ram_cents, &row->gpu_cents, &row->shared_cents};
    int64_t ups = row->total_cents - (*cell[0] + *cell[1] + *cell[2] + *cell[3]);
    int used[4] = {0, 0, 0, 0};
    while (ups > 0) {
      /* The column with a remainder in this row that needs cents most, then the largest remainder. */
      int best = -1;
      for (j = 0; j < 4; j++) {
        if (used[j]) continue;
        if (best < 0 || (fracs[i * 4 + j] > 0) > (fracs[i * 4 + best] > 0) ||
            ((fracs[i * 4 + j] > 0) == (fracs[i * 4 + best] > 0) &&
             (need[j] > need[best] || (need[j] == need[best] && fracs[i * 4 + j] > fracs[i * 4 + best]))))
          best = (int)j;
      }
      if (best < 0) {
        /* More than one cent per column (float noise): give the rest to the largest cell. */
        int64_t *big = cell[0];
        for (j = 1; j < 4; j++)
          if (*cell[j] > *big) big = cell[j];
        *big += ups;
        break;
      }
      (*cell[best])++;
      need[best]--;
      used[best] = 1;
      ups--;
    }
    while (ups < 0) {
      /* The row's total came out below its floors (float noise): take from the largest cell. */
      int64_t *big = cell[0];
      for (j = 1; j < 4; j++)
        if (*cell[j] > *big) big = cell[j];
      (*big)--;
      ups++;
    }
  }
  memset(col, 0, 4 * sizeof(*col));
  for (i = 0; i < nr; i++) {
    col[0] += r->rows[i].cpu_cents;
    col[1] += r->rows[i].ram_cents;
    col[2] += r->rows[i].gpu_cents;
    col[3] += r->rows[i].shared_cents;
  }
out:
  stv_free(fracs);
  return rc;
}

static int cmp_row(const void *a, const void *b) {
  const struct stv_report_row *x = a, *y = b;
  if (x->total_cents != y->total_cents) return x->total_cents > y->total_cents ? -1 : 1;
  if (x->total != y->total) return x->total > y->total ? -1 : 1;
  return strcmp(x->group, y->group);
}

static int cmp_rightsize(const void *a, const void *b) {
  const struct stv_rightsize_row *x = a, *y = b;
  int ux = x->under_cpu || x->under_ram, uy = y->under_cpu || y->under_ram;
  int c;
  if (ux != uy) return ux ? -1 : 1;
  if (x->monthly_saving_est != y->monthly_saving_est)
    return x->monthly_saving_est > y->monthly_saving_est ? -1 : 1;
  if ((c = strcmp(x->ns, y->ns)) != 0) return c;
  if ((c = strcmp(x->kind, y->kind)) != 0) return c;
  return strcmp(x->name, y->name);
}

static struct ctl *find_ctl(const struct stv__report_state *st, const char *ns, const char *kind,
                            const char *name) {
  char key[700];
  size_t n = stv__report_join3(key, sizeof(key), ns, kind, name, '\x1f');
  struct stv_strmap_ent *e;
  if (n >= sizeof(key)) return NULL;
  e = stv_strmap_find(&st->ctl_by_key, key, n);
  return e != NULL && e->val != UINT32_MAX ? &st->ctls[e->val] : NULL;
}

static int finish_rightsize(struct stv_report *r) {
  struct stv__report_state *st = r->st;
  size_t i, k = 0;
  double cpu_price = 0, ram_price = 0;
  if (st->nctls == 0) return 0;
  if ((r->rightsize = stv_calloc(st->nctls, sizeof(*r->rightsize))) == NULL) return STV_ENOMEM;
  /* Mean unit prices: the cpu part of node cost over priced cpu core-hours, likewise memory. */
  if (st->cpu_capacity_h > 0) cpu_price = r->totals.cpu_cost / st->cpu_capacity_h;
  if (st->ram_capacity_gib_h > 0) ram_price = r->totals.ram_cost / st->ram_capacity_gib_h;
  for (i = 0; i < st->nctls; i++) {
    struct ctl *c = &st->ctls[i];
    struct stv_rightsize_row *w = &r->rightsize[k];
    if (c->n == 0 && !c->have_ram) continue;
    w->ns = c->ns;
    w->kind = c->kind;
    w->name = c->name;
    w->replicas = c->hours > 0 ? c->pod_hours / c->hours : 0;
    w->cpu_req = c->cpu_req;
    w->ram_req = c->ram_req;
    w->samples = c->n;
    w->cpu_max = c->cpu_max;
    w->ram_max = c->ram_max;
    if (c->n > 0) {
      w->cpu_p95 = stv__report_ctl_p95(c);
      w->cpu_suggest = ceil(w->cpu_p95 * (1 + r->opts.margin) * 1000.0 - 1e-6) / 1000.0;
      if (w->cpu_suggest < 0.001) w->cpu_suggest = 0.001;
      w->under_cpu = w->cpu_p95 > w->cpu_req;
    } else {
      w->cpu_p95 = -1;
      w->cpu_suggest = w->cpu_req;
    }
    if (c->have_ram) {
      double mib = 1048576.0;
      w->ram_suggest = ceil(w->ram_max * (1 + r->opts.margin) / mib - 1e-9) * mib;
      if (w->ram_suggest < mib) w->ram_suggest = mib;
      w->under_ram = w->ram_max > w->ram_req;
    } else {
      w->ram_max = -1;
      w->ram_suggest = w->ram_req;
    }
    w->monthly_saving_est = w->replicas *
                            ((w->cpu_req - w->cpu_suggest) * cpu_price +
                             (w->ram_req - w->ram_suggest) / 1073741824.0 * ram_price) *
                            STV_HOURS_PER_MONTH;
    k++;
  }
  r->nrightsize = k;
  if (r->nrightsize > 1) qsort(r->rightsize, r->nrightsize, sizeof(*r->rightsize), cmp_rightsize);
  for (i = 0; i < r->nrightsize; i++) {
    struct ctl *c = find_ctl(st, r->rightsize[i].ns, r->rightsize[i].kind, r->rightsize[i].name);
    if (c != NULL) c->rs = (uint32_t)i + 1;
  }
  return 0;
}

/* Spreads the shared cost over the rows and fills their derived figures. */
static void spread_shared(struct stv_report *r, double shared_total, double own_total) {
  struct stv__report_state *st = r->st;
  struct stv_report_totals *t = &r->totals;
  size_t i;
  for (i = 0; i < r->nrows; i++) {
    struct stv_report_row *row = &r->rows[i];
    struct rowx *x = &st->rowx[i];
    double own = row->cpu_cost + row->ram_cost + row->gpu_cost;
    if (r->opts.shared_mode == STV_SHARED_PROPORTIONAL && own_total > 0)
      row->shared_cost = shared_total * own / own_total;
    else
      row->shared_cost = shared_total / (double)r->nrows;
    row->total = own + row->shared_cost;
    if (r->opts.by == STV_BY_NODE) {
      uint32_t idx;
      row->idle_share = stv__report_find_node(st, row->group, &idx) ? st->nodes[idx].idle : 0;
    } else {
      row->idle_share = own_total > 0 ? t->idle * own / own_total : t->idle / (double)r->nrows;
    }
    row->cpu_efficiency = x->cpu_req_known > 0 ? row->cpu_use_core_h / x->cpu_req_known : -1;
    row->ram_efficiency = x->ram_req_known > 0 ? row->ram_use_gib_h / x->ram_req_known : -1;
    row->efficiency = x->req_known_cost > 0 ? x->use_cost / x->req_known_cost : -1;
    row->pods = row->hours > 0 ? x->pod_hours / row->hours : 0;
  }
}

/* The shared namespaces' own cents, over the shared total's cents. */
static int shared_ns_cents(struct stv_report *r, double factor) {
  struct stv_report_totals *t = &r->totals;
  double *vs;
  int64_t *cs, ns_cents = t->shared_cents - t->overhead_cents;
  size_t i;
  int rc;
  if (r->nshared_ns == 0) return 0;
  vs = stv_malloc((r->nshared_ns + 1) * sizeof(*vs));
  cs = stv_malloc((r->nshared_ns + 1) * sizeof(*cs));
  rc = vs == NULL || cs == NULL ? STV_ENOMEM : 0;
  for (i = 0; rc == 0 && i < r->nshared_ns; i++) vs[i] = r->shared_ns[i].cost;
  if (rc == 0) rc = apportion(vs, r->nshared_ns, factor, ns_cents > 0 ? ns_cents : 0, cs);
  for (i = 0; rc == 0 && i < r->nshared_ns; i++) r->shared_ns[i].cents = cs[i];
  stv_free(vs);
  stv_free(cs);
  return rc;
}

/* Cents of the headline figure, apportioned so that everything adds up. */
static int reconcile_cents(struct stv_report *r, double factor) {
  struct stv_report_totals *t = &r->totals;
  int64_t total_cents = llround((t->node_cost + t->overhead) * factor * 100.0), col[4];
  size_t i, n = r->nrows + 1;
  double *v = stv_malloc((n + 4) * sizeof(*v));
  int64_t *cents = stv_malloc((n + 4) * sizeof(*cents));
  int rc = v == NULL || cents == NULL ? STV_ENOMEM : 0;
  if (rc != 0) goto out;
  v[0] = t->node_cost;
  v[1] = t->overhead;
  if ((rc = apportion(v, 2, factor, total_cents, cents)) != 0) goto out;
  t->node_cents = cents[0];
  t->overhead_cents = cents[1];
  for (i = 0; i < r->nrows; i++) v[i] = r->rows[i].total;
  v[r->nrows] = t->idle;
  if ((rc = apportion(v, n, factor, total_cents, cents)) != 0) goto out;
  t->idle_cents = cents[r->nrows];
  for (i = 0; i < r->nrows; i++) r->rows[i].total_cents = cents[i];
  if ((rc = round_matrix(r, factor, col)) != 0) goto out;
  t->allocated_cents = col[0] + col[1] + col[2];
  t->shared_cents = col[3];
  for (i = 0; i < r->nrows; i++) v[i] = r->rows[i].idle_share;
  if (r->opts.by != STV_BY_NODE) {
    if ((rc = apportion(v, r->nrows, factor, t->idle_cents, cents)) != 0) goto out;
    for (i = 0; i < r->nrows; i++) r->rows[i].idle_share_cents = cents[i];
  } else {
    for (i = 0; i < r->nrows; i++) r->rows[i].idle_share_cents = llround(v[i] * factor * 100.0);
  }
  rc = shared_ns_cents(r, factor);
out:
  stv_free(v);
  stv_free(cents);
  return rc;
}

/* The shared row, when there is one, shows the shared namespaces' pods and requests. */
static void fill_shared_row(struct stv_report *r) {
  const struct stv_report_totals *t = &r->totals;
  size_t i, k;
  for (i = 0; i < r->nshared_ns; i++)
    r->shared_ns[i].pods = t->hours > 0 ? r->shared_ns[i].pod_hours / t->hours : 0;
  for (i = 0; i < r->nrows; i++) {
    struct stv_report_row *row = &r->rows[i];
    if (strcmp(row->group, STV_REPORT_SHARED) != 0) continue;
    row->hours = t->hours;
    for (k = 0; k < r->nshared_ns; k++) {
      row->pods += r->shared_ns[k].pods;
      row->cpu_req_core_h += r->shared_ns[k].cpu_req_core_h;
      row->ram_req_gib_h += r->shared_ns[k].ram_req_gib_h;
      row->gpu_h += r->shared_ns[k].gpu_h;
    }
  }
}

/* The notes of what was assumed or left out. Returns 0 or STV_ENOMEM. */
static int finish_notes(struct stv_report *r) {
  struct stv__report_state *st = r->st;
  const char *sample = r->opts.point_in_time ? "pod" : "pod sample";
  if (st->assumed_od > 0 &&
      stv_report_note(r, "%zu node%s without a capacity-type label or provider-id entry: priced as on-demand",
                      st->assumed_od, st->assumed_od == 1 ? "" : "s") != 0)
    return STV_ENOMEM;
  if (st->overcommitted > 0 &&
      stv_report_note(r,
                      "%zu %s%s where max(request, usage) of the pods exceeded the node: their allocations "
                      "were scaled down to the node's capacity",
                      st->overcommitted, r->opts.point_in_time ? "node" : "node sample",
                      st->overcommitted == 1 ? "" : "s") != 0)
    return STV_ENOMEM;
  if (r->ndefault_priced > 0) {
    char names[300];
    size_t len = 0, k;
    names[0] = '\0';
    for (k = 0; k < r->ndefault_priced && k < 5; k++)
      len += (size_t)snprintf(names + len, len < sizeof(names) ? sizeof(names) - len : 0, "%s%s",
                              k ? ", " : "", r->default_priced[k].node);
    if (stv_report_note(
            r,
            "%zu node%s priced at the default rates (per vCPU-hour %g, per GiB-hour %g, per GPU-hour %g; "
            "spot %g and %g) as no override or catalogue offering prices %s: %s%s",
            r->ndefault_priced, r->ndefault_priced == 1 ? "" : "s", r->opts.default_cpu, r->opts.default_ram,
            r->opts.default_gpu, r->opts.default_spot_cpu, r->opts.default_spot_ram,
            r->ndefault_priced == 1 ? "it" : "them", names, r->ndefault_priced > 5 ? ", ..." : "") != 0)
      return STV_ENOMEM;
  }
  if (r->pods_unpriced > 0 && stv_report_note(r, "%zu %s%s on unpriced nodes not costed", r->pods_unpriced,
                                              sample, r->pods_unpriced == 1 ? "" : "s") != 0)
    return STV_ENOMEM;
  if (r->pods_no_node > 0 && stv_report_note(r, "%zu %s%s on nodes missing from the data not costed",
                                             r->pods_no_node, sample, r->pods_no_node == 1 ? "" : "s") != 0)
    return STV_ENOMEM;
  return 0;
}

int stv_report_finish(struct stv_report *r, struct stv_err *err) {
  struct stv_report_totals *t = &r->totals;
  double shared_total, own_total = 0, factor;
  size_t i;

  if (r->finished) return 0;
  if (r->nsteps == 0) return stv_err_set(err, STV_ENOTFOUND, "no data: no observation to report on");
  if (t->node_hours == 0 && r->nunpriced == 0)
    return stv_err_set(err, STV_ENOTFOUND, "no data: no nodes were seen");
  if (t->node_hours == 0)
    return stv_err_set(err, STV_ENOTFOUND, "no node could be priced (%zu unpriced; first: %s: %s)",
                       r->nunpriced, r->unpriced[0].node, r->unpriced[0].reason);
  r->finished = 1;
  shared_total = t->shared + t->overhead;
  t->shared = shared_total;
  for (i = 0; i < r->nrows; i++) own_total += r->rows[i].cpu_cost + r->rows[i].ram_cost + r->rows[i].gpu_cost;
  if (shared_total > 0 && r->nrows == 0) {
    uint32_t ri;
    if (stv__report_row_for(r, STV_REPORT_SHARED, &ri) != 0) return oom(err);
  }
  spread_shared(r, shared_total, own_total);
  t->difference = (t->node_cost + t->overhead) - (t->allocated + t->shared + t->idle);
  factor = r->opts.point_in_time ? STV_HOURS_PER_MONTH / t->hours : 1.0;
  t->reconciled = fabs(t->difference * factor) < 0.005;
  if (reconcile_cents(r, factor) != 0) return oom(err);
  if (r->nrows > 1) qsort(r->rows, r->nrows, sizeof(*r->rows), cmp_row);
  fill_shared_row(r);
  if (finish_notes(r) != 0) return oom(err);
  if (r->opts.rightsize && finish_rightsize(r) != 0) return oom(err);
  return 0;
}

const struct stv_rightsize_row *stv_report_rightsize_find(const struct stv_report *r, const char *ns,
                                                          const char *kind, const char *name) {
  const struct ctl *c;
  if (r->st == NULL || (c = find_ctl(r->st, ns, kind, name)) == NULL || c->rs == 0) return NULL;
  return &r->rightsize[c->rs - 1];
}
