/*
 * The embedded catalogues (docs/catalog.md, "Embedded catalogues"): every
 * region of AWS, GCP and Azure, compiled in by pricing/gen_catalog.py as
 * zlib-deflated text. Loading one inflates its provider's shared type table
 * and its own price lines, writes them back as catalogue JSON and hands that
 * to the one loader, so that embedded and user catalogues are read alike.
 * Also here: the nearest region names for a misspelt one, and the region a
 * cluster's nodes are in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "internal.h"
#include "pricing.h"

#define MAX_ZONES       8 /* per embedded region */
#define MAX_SUGGESTIONS 5 /* nearest names in an error */

const struct stv__embedded_catalog *stv__embedded_find(const char *name) {
  const struct stv__embedded_catalog *e;
  for (e = stv__embedded_catalogs; e->name != NULL; e++) {
    if (strcmp(e->name, name) == 0) return e;
  }
  return NULL;
}

const char *stv_catalog_embedded_name(size_t i) {
  size_t k;
  for (k = 0; k < i; k++) {
    if (stv__embedded_catalogs[k].name == NULL) return NULL;
  }
  return stv__embedded_catalogs[i].name;
}

/* Inflates z[0..zlen) into a fresh NUL-terminated buffer of exactly len bytes (caller frees). */
static int inflate_text(const char *what, const unsigned char *z, size_t zlen, size_t len, char **out,
                        struct stv_err *err) {
  uLongf got = (uLongf)len;
  char *buf = stv_malloc(len + 1);
  int zrc;
  *out = NULL;
  if (buf == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  zrc = uncompress((Bytef *)buf, &got, z, (uLong)zlen);
  if (zrc != Z_OK || got != (uLongf)len) {
    stv_free(buf);
    return stv_err_set(err, STV_EIO, "%s: embedded data is damaged (zlib: %s); rebuild stevedore", what,
                       zrc != Z_OK ? zError(zrc) : "wrong length");
  }
  buf[len] = '\0';
  *out = buf;
  return 0;
}

/* The next line of *p (up to '\n', which must be there), as [*line, *line + *n); moves *p past it. */
static int next_line(char **p, char **line, size_t *n) {
  char *nl = strchr(*p, '\n');
  if (nl == NULL) return -1;
  *line = *p;
  *n = (size_t)(nl - *p);
  *nl = '\0';
  *p = nl + 1;
  return 0;
}

/* Splits the provider's type table into lines[0..ntypes) (pointers into text, NUL-terminated). */
static int split_types(const struct stv__embedded_provider *p, char *text, char ***lines,
                       struct stv_err *err) {
  char *at = text, *line;
  size_t i, n;
  *lines = stv_malloc((p->ntypes ? p->ntypes : 1) * sizeof(**lines));
  if (*lines == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  for (i = 0; i < p->ntypes; i++) {
    if (next_line(&at, &line, &n) != 0)
      return stv_err_set(err, STV_EIO, "%s: embedded type table ends at line %zu of %zu; rebuild stevedore",
                         p->name, i + 1, p->ntypes);
    (*lines)[i] = line;
  }
  return 0;
}

/*
 * The offerings of one capacity type in every zone, at price (a JSON number
 * text). Plain appends: a printf per offering was a tenth of a load.
 */
static void put_offerings(struct stv_buf *b, const char *ct, char *const *zones, size_t nzones,
                          const char *price, const char *rate, int *first) {
  size_t z;
  for (z = 0; z < nzones; z++) {
    stv_buf_puts(b, *first ? "{\"capacity_type\":\"" : ",{\"capacity_type\":\"");
    stv_buf_puts(b, ct);
    stv_buf_puts(b, "\",\"zone\":\"");
    stv_buf_puts(b, zones[z]);
    stv_buf_puts(b, "\",\"price\":");
    stv_buf_puts(b, price);
    if (rate != NULL && *rate) {
      stv_buf_puts(b, ",\"interruption_rate\":");
      stv_buf_puts(b, rate);
    }
    stv_buf_puts(b, "}");
    *first = 0;
  }
}

/*
 * Writes the catalogue JSON of region text (inflated, modified in place)
 * into b, with the types' JSON from types[0..ntypes).
 */
static int write_json(const struct stv__embedded_catalog *e, char *text, char *const *types, size_t ntypes,
                      struct stv_buf *b, struct stv_err *err) {
  char *at = text, *line, *zones[MAX_ZONES], *zl, *save = NULL;
  size_t n, nzones = 0, idx = 0, row = 0;
  if (next_line(&at, &line, &n) != 0) goto bad;
  stv_buf_append(b, line, n);
  if (next_line(&at, &zl, &n) != 0) goto bad;
  for (line = strtok_r(zl, " ", &save); line != NULL; line = strtok_r(NULL, " ", &save)) {
    if (nzones == MAX_ZONES) goto bad;
    zones[nzones++] = line;
  }
  if (nzones == 0) goto bad;
  while (*at != '\0') {
    char *f[4], *end;
    unsigned long delta;
    int k, first = 1;
    if (next_line(&at, &line, &n) != 0) goto bad;
    for (k = 0; k < 4; k++) {
      f[k] = line;
      line += strcspn(line, ",");
      if (k < 3 && *line != ',') goto bad;
      if (*line == ',') *line++ = '\0';
    }
    delta = strtoul(f[0], &end, 10);
    if (end == f[0] || *end != '\0' || delta > ntypes || (row > 0 && delta == 0)) goto bad;
    idx += delta;
    if (idx >= ntypes || (f[1][0] == '\0' && f[2][0] == '\0')) goto bad;
    stv_buf_puts(b, row > 0 ? ",\n" : "\n");
    stv_buf_puts(b, types[idx]);
    stv_buf_puts(b, ",\"offerings\":[");
    if (f[1][0]) put_offerings(b, "on-demand", zones, nzones, f[1], NULL, &first);
    if (f[2][0]) put_offerings(b, "spot", zones, nzones, f[2], f[3], &first);
    stv_buf_puts(b, "]}");
    row++;
  }
  if (row != e->ntypes) goto bad;
  stv_buf_puts(b, "\n]}\n");
  if (b->err != 0) return stv_err_set(err, b->err, "out of memory");
  return 0;
bad:
  return stv_err_set(err, STV_EIO, "%s: embedded price table is damaged near row %zu; rebuild stevedore",
                     e->name, row + 1);
}

int stv__embedded_load(struct stv_catalog *c, const struct stv__embedded_catalog *e, struct stv_err *err) {
  const struct stv__embedded_provider *p = &stv__embedded_providers[e->provider];
  char *types_text = NULL, *region_text = NULL, **types = NULL;
  struct stv_buf b;
  int rc;

  memset(c, 0, sizeof(*c));
  stv_buf_init(&b);
  if ((rc = inflate_text(p->name, p->z, p->zlen, p->len, &types_text, err)) != 0) goto out;
  if ((rc = split_types(p, types_text, &types, err)) != 0) goto out;
  if ((rc = inflate_text(e->name, e->z, e->zlen, e->len, &region_text, err)) != 0) goto out;
  if ((rc = write_json(e, region_text, types, p->ntypes, &b, err)) != 0) goto out;
  /* The region's text is no longer needed: free it before the parse peaks. */
  stv_free(region_text);
  region_text = NULL;
  if ((rc = stv_catalog_load_json(c, e->name, b.data, b.len, err)) != 0) goto out;
  c->left_out = e->left_out;
out:
  stv_buf_close(&b);
  stv_free(types);
  stv_free(types_text);
  stv_free(region_text);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Nearest names                                                          */

/* Levenshtein distance between a and b (each at most 63 bytes counted; longer tails add their length). */
static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b), i, j, extra = 0, row[64];
  if (la > 63) extra += la - 63, la = 63;
  if (lb > 63) extra += lb - 63, lb = 63;
  for (j = 0; j <= lb; j++) row[j] = j;
  for (i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (j = 1; j <= lb; j++) {
      size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      diag = up;
      row[j] = best;
    }
  }
  return row[lb] + extra;
}

int stv__embedded_suggest(const char *spec, struct stv_err *err) {
  const char *colon = strchr(spec, ':'), *region, *best[MAX_SUGGESTIONS];
  const struct stv__embedded_catalog *e;
  size_t plen, nbest = 0, bestd = (size_t)-1, nregions = 0, i;
  char names[200];
  size_t used = 0;
  if (colon == NULL) return 0;
  plen = (size_t)(colon - spec);
  region = colon + 1;
  for (e = stv__embedded_catalogs; e->name != NULL; e++) {
    const char *r;
    size_t d;
    if (strncmp(e->name, spec, plen) != 0 || e->name[plen] != ':') continue;
    r = e->name + plen + 1;
    nregions++;
    d = edit_distance(region, r);
    if (d < bestd) {
      bestd = d;
      nbest = 0;
    }
    if (d == bestd) { /* keep the alphabetically first few of the nearest */
      size_t k = nbest < MAX_SUGGESTIONS ? nbest++ : MAX_SUGGESTIONS;
      while (k > 0 && strcmp(best[k - 1], r) > 0) {
        if (k < MAX_SUGGESTIONS) best[k] = best[k - 1];
        k--;
      }
      if (k < MAX_SUGGESTIONS) best[k] = r;
    }
  }
  if (nregions == 0) return 0;
  names[0] = '\0';
  for (i = 0; i < nbest; i++) {
    int k = snprintf(names + used, sizeof(names) - used, "%s%s",
                     i == 0           ? ""
                     : i + 1 == nbest ? " or "
                                      : ", ",
                     best[i]);
    if (k < 0 || (size_t)k >= sizeof(names) - used) break;
    used += (size_t)k;
  }
  return stv_err_set(err, STV_ENOTFOUND,
                     "%s: no such catalogue: %.*s has no embedded region \"%s\" (did you mean %s? %zu %.*s "
                     "regions are embedded; docs/catalog.md lists them) and no file has that name",
                     spec, (int)plen, spec, region, names, nregions, (int)plen, spec);
}

/* ---------------------------------------------------------------------- */
/* The cluster's region                                                   */

/* The cloud a node's spec.providerID names ("aws://...": "aws"), or NULL. */
static const char *provider_of(const char *provider_id) {
  static const char *const map[][2] = {{"aws://", "aws"}, {"gce://", "gcp"}, {"azure://", "azure"}};
  size_t i;
  if (provider_id == NULL) return NULL;
  for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
    if (strncmp(provider_id, map[i][0], strlen(map[i][0])) == 0) return map[i][1];
  }
  return NULL;
}

/* Keeps the first non-NULL value of v in *seen; returns -1 when v differs from it (the other is in *other). */
static int same(const char *v, const char **seen, const char **other) {
  if (v == NULL) return 0;
  if (*seen == NULL) {
    *seen = v;
    return 0;
  }
  if (strcmp(*seen, v) == 0) return 0;
  *other = v;
  return -1;
}

/* Where guess finds node i's region label and providerID (either may be NULL). */
struct node_source {
  const char *(*region)(const void *ctx, size_t i);
  const char *(*provider_id)(const void *ctx, size_t i);
  const void *ctx;
};

static int guess(const struct node_source *src, size_t n, char *spec, size_t size, char *note,
                 size_t note_size) {
  const char *region = NULL, *cloud = NULL, *other = NULL;
  const struct stv__embedded_provider *p;
  size_t i, found = 0;
  for (i = 0; i < n; i++) {
    if (same(src->region(src->ctx, i), &region, &other) != 0) {
      snprintf(note, note_size, "the nodes are in more than one region (%s, %s)", region, other);
      return STV_ENOTFOUND;
    }
    if (same(provider_of(src->provider_id(src->ctx, i)), &cloud, &other) != 0) {
      snprintf(note, note_size, "the nodes' providerIDs name more than one cloud (%s, %s)", cloud, other);
      return STV_ENOTFOUND;
    }
  }
  if (region == NULL) {
    snprintf(note, note_size, n == 0 ? "the cluster has no nodes" : "no node has a %s label",
             STV_REGION_LABEL);
    return STV_ENOTFOUND;
  }
  for (p = stv__embedded_providers; p->name != NULL; p++) {
    char name[128];
    if (cloud != NULL && strcmp(cloud, p->name) != 0) continue;
    snprintf(name, sizeof(name), "%s:%s", p->name, region);
    if (stv__embedded_find(name) != NULL && found++ == 0) snprintf(spec, size, "%s", name);
  }
  if (found == 1) {
    snprintf(note, note_size, "the nodes' region label says %s%s%s", region,
             cloud ? ", their providerID " : "", cloud ? cloud : "");
    return 0;
  }
  if (found > 1)
    snprintf(note, note_size, "the nodes' region %s is the name of a region of more than one cloud", region);
  else
    snprintf(note, note_size, "the nodes' region %s%s%s has no embedded catalogue", region,
             cloud ? " of " : "", cloud ? cloud : "");
  return STV_ENOTFOUND;
}

struct arrays {
  const char *const *regions, *const *provider_ids;
};

static const char *array_region(const void *ctx, size_t i) {
  return ((const struct arrays *)ctx)->regions[i];
}

static const char *array_provider_id(const void *ctx, size_t i) {
  const struct arrays *a = ctx;
  return a->provider_ids != NULL ? a->provider_ids[i] : NULL;
}

int stv_catalog_guess(const char *const *regions, const char *const *provider_ids, size_t n, char *spec,
                      size_t size, char *note, size_t note_size) {
  struct arrays a = {regions, provider_ids};
  struct node_source src = {array_region, array_provider_id, &a};
  return guess(&src, n, spec, size, note, note_size);
}

const char *stv_region_label(const struct stv_labels *labels) {
  const char *r = stv_labels_get(labels, STV_REGION_LABEL);
  return r != NULL ? r : stv_labels_get(labels, STV_OLD_REGION_LABEL);
}

static const char *node_region(const void *ctx, size_t i) {
  return stv_region_label(&((const struct stv_node *)ctx)[i].labels);
}

static const char *no_provider_id(const void *ctx, size_t i) {
  (void)ctx;
  (void)i;
  return NULL;
}

int stv_catalog_guess_nodes(const struct stv_node *nodes, size_t n, char *spec, size_t size, char *note,
                            size_t note_size) {
  struct node_source src = {node_region, no_provider_id, nodes};
  return guess(&src, n, spec, size, note, note_size);
}
