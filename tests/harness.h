/*
 * A small test harness. Each test is a function registered with TEST(name);
 * main() runs them all in order (or those whose name contains argv[1]) and
 * ends with the line "N passed, N failed". A failed CHECK reports the file,
 * line and expression, and ends that test only.
 */
#ifndef STV_TEST_HARNESS_H
#define STV_TEST_HARNESS_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct stv__test {
  const char *name;
  void (*fn)(int *failed);
  struct stv__test *next;
};

extern struct stv__test *stv__tests;

#define TEST(name)                                                         \
  static void name(int *stv__failed);                                      \
  __attribute__((constructor)) static void stv__register_##name(void) {    \
    static struct stv__test t = {#name, name, NULL};                       \
    struct stv__test **p = &stv__tests;                                    \
    while (*p != NULL) p = &(*p)->next;                                    \
    *p = &t;                                                               \
  }                                                                        \
  static void name(int *stv__failed)

#define CHECK(expr)                                                        \
  do {                                                                     \
    if (!(expr)) {                                                         \
      fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__,   \
              #expr);                                                      \
      *stv__failed = 1;                                                    \
      return;                                                              \
    }                                                                      \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                 \
  do {                                                                     \
    long long stv__a = (long long)(a), stv__b = (long long)(b);            \
    if (stv__a != stv__b) {                                                \
      fprintf(stderr, "  %s:%d: %s == %lld, expected %s == %lld\n",        \
              __FILE__, __LINE__, #a, stv__a, #b, stv__b);                 \
      *stv__failed = 1;                                                    \
      return;                                                              \
    }                                                                      \
  } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                    \
  do {                                                                     \
    const char *stv__h = (hay), *stv__n = (needle);                        \
    if (stv__h == NULL || strstr(stv__h, stv__n) == NULL) {                \
      fprintf(stderr, "  %s:%d: \"%s\" does not contain \"%s\"\n",         \
              __FILE__, __LINE__, stv__h ? stv__h : "(null)", stv__n);     \
      *stv__failed = 1;                                                    \
      return;                                                              \
    }                                                                      \
  } while (0)

#ifdef STV_TEST_MAIN
#ifdef STV_TEST_CURL
/* A test of code that uses libcurl: the program sets up libcurl's global
 * state once, as stevedore's main does (the libraries never do). */
#include <curl/curl.h>
#endif
struct stv__test *stv__tests;

int main(int argc, char **argv) {
  int passed = 0, failed = 0;
  struct stv__test *t;
#ifdef STV_TEST_CURL
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    printf("FAIL curl_global_init\n0 passed, 1 failed\n");
    return 1;
  }
#endif
  for (t = stv__tests; t != NULL; t = t->next) {
    int f = 0;
    if (argc > 1 && strstr(t->name, argv[1]) == NULL) continue;
    t->fn(&f);
    printf("%s %s\n", f ? "FAIL" : "PASS", t->name);
    if (f)
      failed++;
    else
      passed++;
  }
  printf("%d passed, %d failed\n", passed, failed);
#ifdef STV_TEST_CURL
  curl_global_cleanup();
#endif
  return failed ? 1 : 0;
}
#endif

#endif
