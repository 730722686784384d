/* Names shared between the files of pricing/; not part of the public API. */
#ifndef STV_PRICING_INTERNAL_H
#define STV_PRICING_INTERNAL_H

#include <stddef.h>

#include "pricing.h"

/*
 * The instance types of one provider, shared by all its embedded regions:
 * zlib-deflated text, one line per type, the type's catalogue JSON without
 * its offerings and without its closing brace (docs/catalog.md, "Embedded
 * catalogues").
 */
struct stv__embedded_provider {
  const char *name; /* "aws" */
  const unsigned char *z;
  size_t zlen;
  size_t len;    /* inflated bytes */
  size_t ntypes; /* lines */
};

/*
 * One embedded catalogue: zlib-deflated text whose first line opens the
 * JSON document, the second lists the zones (space-separated), and each
 * further line prices one type: "<index delta>,<on-demand>,<spot>,<interruption rate>".
 */
struct stv__embedded_catalog {
  const char *name; /* "aws:us-east-1" */
  size_t provider;  /* index into stv__embedded_providers */
  const unsigned char *z;
  size_t zlen;
  size_t len;      /* inflated bytes */
  size_t ntypes;   /* types priced and loaded */
  size_t left_out; /* priced types without a published shape, not loaded */
};

/*
 * The embedded providers and catalogues, each ended by an entry whose name
 * is NULL. Defined in embedded_catalogs.c, which pricing/gen_catalog.py
 * writes at build time from pricing/data/.
 */
extern const struct stv__embedded_provider stv__embedded_providers[];
extern const struct stv__embedded_catalog stv__embedded_catalogs[];

/* The embedded catalogue named name (borrowed), or NULL. */
const struct stv__embedded_catalog *stv__embedded_find(const char *name);

/*
 * Loads the embedded catalogue e into c (as stv_catalog_load_json would
 * load its JSON) and sets c->left_out. Returns 0, STV_ENOMEM, or STV_EIO
 * when the embedded data is damaged (a build fault).
 */
int stv__embedded_load(struct stv_catalog *c, const struct stv__embedded_catalog *e, struct stv_err *err);

/*
 * When spec (borrowed) names a provider of the embedded catalogues
 * ("aws:eu-west-9"), fills err with STV_ENOTFOUND and a message that lists
 * that provider's nearest region names, and returns STV_ENOTFOUND; else
 * returns 0 and leaves err alone.
 */
int stv__embedded_suggest(const char *spec, struct stv_err *err);

/* When the figures of the embedded catalogue name (borrowed) were collected ("2026-06-18", static), or NULL. */
const char *stv__embedded_data_date(const char *name);

#endif
