/*
 * Shared by the libFuzzer targets of tests/fuzz/ (docs/fuzzing.md): each
 * target defines LLVMFuzzerTestOneInput, feeds one parser of outside input
 * the bytes it is given and checks properties that must hold for any
 * input. A broken property aborts, which libFuzzer reports as a crash with
 * the input saved.
 */
#ifndef STV_FUZZ_H
#define STV_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "packer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with the failed property and where it is when cond is false. */
#define FUZZ_CHECK(cond)                                                          \
  do {                                                                            \
    if (!(cond)) {                                                                \
      fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                    \
    }                                                                             \
  } while (0)

/* A NUL-terminated copy of data[0..size), by malloc (not stv_malloc); free with free(). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (s == NULL) abort();
  if (size > 0) memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

/*
 * Checks what every failing parser promises: a negative code and a
 * NUL-terminated message that is not empty.
 */
static inline void fuzz_check_error(int rc, const struct stv_err *err) {
  FUZZ_CHECK(rc <= 0);
  if (rc == 0) return;
  FUZZ_CHECK(memchr(err->msg, '\0', sizeof(err->msg)) != NULL);
  FUZZ_CHECK(err->msg[0] != '\0');
}

#endif
