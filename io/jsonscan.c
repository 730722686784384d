/*
 * The fast scanner of the streaming JSON reader (see internal.h): finds
 * where an object, array or string ends without parsing it, and counts
 * newlines so that the reader can tell line and column.
 *
 * Inside an object or array, stv__json_scan_composite() works 64 bytes at a
 * time: bit masks of quotes, backslashes and brackets (SSE2 where
 * available); escapes resolved one backslash at a time (they are rare in
 * Kubernetes JSON); the bytes inside strings found by a prefix XOR of the
 * unescaped quotes; then only the brackets outside strings are visited,
 * one by one, to track nesting.
 */
#define _GNU_SOURCE /* memrchr */
#include <string.h>

#include "internal.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/*
 * Counts with byte-wide counters: each 16-byte block subtracts its compare
 * mask (0 or -1 per byte) from 16 lane counters, four blocks (64 bytes) a
 * step into four sets of counters, summed by SAD every 255 steps before a
 * lane can wrap. No popcount: without -mpopcnt that is a libgcc call per
 * block. The last newline is then found from the end.
 */
#if defined(__SSE2__)
/* Adds the 16 byte lanes of acc to *c. */
static inline void add_lanes(__m128i acc, uint64_t *c) {
  uint64_t sum[2];
  _mm_storeu_si128((__m128i *)(void *)sum, _mm_sad_epu8(acc, _mm_setzero_si128()));
  *c += sum[0] + sum[1];
}

static inline __m128i is_nl(const unsigned char *p) {
  return _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), _mm_set1_epi8('\n'));
}
#endif

void stv__json_count_newlines(const unsigned char *p, size_t n, uint64_t *count, size_t *last) {
  uint64_t c = 0;
  size_t i = 0;
  const unsigned char *l;
#if defined(__SSE2__)
  while (n - i >= 64) {
    size_t steps = (n - i) / 64 < 255 ? (n - i) / 64 : 255;
    __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
    for (; steps > 0; steps--, i += 64) {
      a0 = _mm_sub_epi8(a0, is_nl(p + i));
      a1 = _mm_sub_epi8(a1, is_nl(p + i + 16));
      a2 = _mm_sub_epi8(a2, is_nl(p + i + 32));
      a3 = _mm_sub_epi8(a3, is_nl(p + i + 48));
    }
    add_lanes(a0, &c);
    add_lanes(a1, &c);
    add_lanes(a2, &c);
    add_lanes(a3, &c);
  }
  if (n - i >= 16) {
    __m128i a = _mm_setzero_si128();
    for (; n - i >= 16; i += 16) a = _mm_sub_epi8(a, is_nl(p + i));
    add_lanes(a, &c);
  }
#endif
  for (; i < n; i++) c += p[i] == '\n';
  l = c > 0 ? memrchr(p, '\n', n) : NULL;
  *count = c;
  *last = l != NULL ? (size_t)(l - p) : SIZE_MAX;
}

struct masks {
  uint64_t quote;   /* '"' */
  uint64_t bslash;  /* '\\' */
  uint64_t bracket; /* '{' '}' '[' ']' */
};

/* Fills m for the 64 bytes at p. */
static inline void block_masks(const unsigned char *p, struct masks *m) {
#if defined(__SSE2__)
  const __m128i vq = _mm_set1_epi8('"');
  const __m128i vb = _mm_set1_epi8('\\');
  const __m128i vo = _mm_set1_epi8('{');
  const __m128i vc = _mm_set1_epi8('}');
  const __m128i lower = _mm_set1_epi8(0x20); /* '[' | 0x20 == '{' */
  uint64_t q = 0, b = 0, s = 0;
  size_t k;
  for (k = 0; k < 4; k++) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
    __m128i l = _mm_or_si128(v, lower);
    __m128i br = _mm_or_si128(_mm_cmpeq_epi8(l, vo), _mm_cmpeq_epi8(l, vc));
    q |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vq)) << (16 * k);
    b |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vb)) << (16 * k);
    s |= (uint64_t)(unsigned)_mm_movemask_epi8(br) << (16 * k);
  }
  m->quote = q;
  m->bslash = b;
  m->bracket = s;
#else
  uint64_t q = 0, b = 0, s = 0;
  unsigned k;
  for (k = 0; k < 64; k++) {
    unsigned char c = p[k];
    uint64_t bit = (uint64_t)1 << k;
    if (c == '"') q |= bit;
    if (c == '\\') b |= bit;
    if ((c | 0x20) == '{' || (c | 0x20) == '}') s |= bit;
  }
  m->quote = q;
  m->bslash = b;
  m->bracket = s;
#endif
}

/* Bit i of the result is the parity of bits 0..i of x. */
static inline uint64_t prefix_xor(uint64_t x) {
  x ^= x << 1;
  x ^= x << 2;
  x ^= x << 4;
  x ^= x << 8;
  x ^= x << 16;
  x ^= x << 32;
  return x;
}

int stv__json_scan_composite(struct stv__json_scan *s, const unsigned char *buf, size_t *pos, size_t len) {
  size_t i = *pos, n = len;
  uint64_t in = s->in_str ? ~(uint64_t)0 : 0;
  int esc = s->esc;
  unsigned depth = s->depth;

  while (i < n) {
    struct masks m;
    size_t w = 64; /* bytes in this block */
    uint64_t valid = ~(uint64_t)0;
    uint64_t escaped = 0, bs, ins, ev;

    if (n - i < 64) {
      w = n - i;
      valid = ((uint64_t)1 << w) - 1;
    }

    if (w == 64) {
      block_masks(buf + i, &m);
    } else {
      unsigned char tmp[64];
      memcpy(tmp, buf + i, w);
      memset(tmp + w, ' ', 64 - w);
      block_masks(tmp, &m);
    }
    /* A backslash escapes the next byte, unless it is escaped itself. */
    bs = m.bslash;
    if (esc) {
      escaped = 1;
      bs &= ~(uint64_t)1;
      esc = 0;
    }
    while (bs != 0) {
      int k = __builtin_ctzll(bs);
      if (k == 63) {
        esc = 1;
        break;
      }
      escaped |= (uint64_t)1 << (k + 1);
      bs &= ~((uint64_t)3 << k);
    }
    if (w < 64 && (escaped >> w & 1)) esc = 1;

    ins = prefix_xor(m.quote & ~escaped) ^ in;
    for (ev = m.bracket & ~ins & valid; ev != 0; ev &= ev - 1) {
      size_t at = i + (size_t)__builtin_ctzll(ev);
      unsigned char c = buf[at];
      if (c == '{' || c == '[') {
        if (depth >= STV_JSON_DEPTH_MAX) {
          *pos = at;
          return -1;
        }
        if (c == '[')
          s->stack[depth / 64] |= (uint64_t)1 << (depth % 64);
        else
          s->stack[depth / 64] &= ~((uint64_t)1 << (depth % 64));
        depth++;
      } else {
        int is_array = (int)(s->stack[(depth - 1) / 64] >> ((depth - 1) % 64) & 1);
        if (is_array != (c == ']')) {
          *pos = at;
          return -1;
        }
        if (--depth == 0) {
          *pos = at + 1;
          s->in_str = 0;
          s->esc = 0;
          s->depth = 0;
          return 1;
        }
      }
    }
    in = (ins >> (w - 1) & 1) ? ~(uint64_t)0 : 0;
    i += w;
  }
  *pos = n;
  s->in_str = in != 0;
  s->esc = esc;
  s->depth = depth;
  return 0;
}

int stv__json_scan_string(struct stv__json_scan *s, const unsigned char *buf, size_t *pos, size_t len) {
  const unsigned char *p = buf + *pos, *end = buf + len;
  if (s->esc) {
    if (p == end) return 0;
    p++;
    s->esc = 0;
  }
  while (p < end) {
    const unsigned char *q = p;
    while (q < end && *q != '"' && *q != '\\') q++;
    if (q == end) break;
    if (*q == '"') {
      *pos = (size_t)(q + 1 - buf);
      return 1;
    }
    if (q + 1 == end) {
      s->esc = 1;
      break;
    }
    p = q + 2;
  }
  *pos = len;
  return 0;
}
