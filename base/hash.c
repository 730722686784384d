/*
 * Hashing of names that come from outside (pods, labels, namespaces): SipHash
 * keyed with a per-process random key, so that nobody who can name objects
 * in a cluster can choose names that collide in Stevedore's tables, as
 * redis keys its dictionaries. SipHash-1-3 for the tables (fast enough for
 * short names, as redis and Rust's HashMap judge), SipHash-2-4 kept for its
 * published test vectors.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base.h"

static unsigned char seed_key[16];
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

/* Eight bytes at p as a little-endian number, at any alignment. */
static inline uint64_t load64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

/* One SipRound on the state v0..v3, kept in registers. */
#define SIPROUND(v0, v1, v2, v3) \
  do {                           \
    v0 += v1;                    \
    v1 = ROTL(v1, 13);           \
    v1 ^= v0;                    \
    v0 = ROTL(v0, 32);           \
    v2 += v3;                    \
    v3 = ROTL(v3, 16);           \
    v3 ^= v2;                    \
    v0 += v3;                    \
    v3 = ROTL(v3, 21);           \
    v3 ^= v0;                    \
    v2 += v1;                    \
    v1 = ROTL(v1, 17);           \
    v1 ^= v2;                    \
    v2 = ROTL(v2, 32);           \
  } while (0)

/* SipHash-c-d of data[0..n) under the 16-byte key; inlined with c and d constant. */
static inline uint64_t siphash(const void *data, size_t n, const unsigned char key[16], int c, int d) {
  const unsigned char *p = data;
  uint64_t k0 = load64(key), k1 = load64(key + 8), m;
  uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
  uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
  size_t left = n;
  int i;
  for (; left >= 8; left -= 8, p += 8) {
    m = load64(p);
    v3 ^= m;
    for (i = 0; i < c; i++) SIPROUND(v0, v1, v2, v3);
    v0 ^= m;
  }
  /* The last block: the remaining bytes, and the length in the top byte. */
  m = (uint64_t)n << 56;
  for (i = (int)left - 1; i >= 0; i--) m |= (uint64_t)p[i] << (8 * i);
  v3 ^= m;
  for (i = 0; i < c; i++) SIPROUND(v0, v1, v2, v3);
  v0 ^= m;
  v2 ^= 0xff;
  for (i = 0; i < d; i++) SIPROUND(v0, v1, v2, v3);
  return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t stv_siphash24(const void *data, size_t n, const unsigned char key[16]) {
  return siphash(data, n, key, 2, 4);
}

uint64_t stv_siphash13(const void *data, size_t n, const unsigned char key[16]) {
  return siphash(data, n, key, 1, 3);
}

/*
 * Fills seed_key from the kernel's random source; should that be missing
 * (getrandom before Linux 3.17, no /dev/urandom in a bare chroot), from the
 * clock, the process id and an address, which an outsider cannot read.
 */
static void seed_init(void) {
  size_t got = 0;
  while (got < sizeof(seed_key)) {
    ssize_t r = getrandom(seed_key + got, sizeof(seed_key) - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  if (got < sizeof(seed_key)) {
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    got = 0;
    while (fd >= 0 && got < sizeof(seed_key)) {
      ssize_t r = read(fd, seed_key + got, sizeof(seed_key) - got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += (size_t)r;
    }
    if (fd >= 0) close(fd);
  }
  if (got < sizeof(seed_key)) {
    struct timespec ts;
    uint64_t a, b;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    a = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec;
    clock_gettime(CLOCK_REALTIME, &ts);
    b = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&ts;
    memcpy(seed_key, &a, 8);
    memcpy(seed_key + 8, &b, 8);
  }
}

void stv_hash_set_seed(const unsigned char key[16]) {
  pthread_once(&seed_once, seed_init);
  memcpy(seed_key, key, sizeof(seed_key));
}

uint64_t stv_hash_name(const void *data, size_t n) {
  pthread_once(&seed_once, seed_init);
  return stv_siphash13(data, n, seed_key);
}
