/* Names shared between the files of pricing/; not part of the public API. */
#ifndef STV_PRICING_INTERNAL_H
#define STV_PRICING_INTERNAL_H

#include <stddef.h>

/* A catalogue compiled into the program as JSON text. */
struct stv__embedded_catalog {
  const char *name; /* "aws:us-east-1" */
  const char *text;
  size_t len;
};

/*
 * The embedded catalogues, ended by an entry whose name is NULL. Defined
 * in embedded_catalogs.c, which pricing/gen_catalog.py writes at build
 * time from pricing/data/.
 */
extern const struct stv__embedded_catalog stv__embedded_catalogs[];

#endif
