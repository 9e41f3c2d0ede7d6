/*===- runtime/param_init.c - Initial params from a seed ------------------===*
 *
 * A counter-based generator: draw j of a model created with seed s is the
 * j-th output of splitmix64 started at s, mix(s + (j + 1) * 0x9E3779B97F4A7C15),
 * a function of (s, j) alone, so any draw can be made without the ones
 * before it. Each 64-bit draw gives two values of a param, elements 2p and
 * 2p + 1 from draw first + p: its two 32-bit halves as uniforms in [0, 1)
 * for `uniform` and `glorot`, or as one Box-Muller pair (r cos t, r sin t)
 * of standard normals for `he` and `normal`. The params of a model take
 * their draws in the order of its tensor table, those of initializers that
 * draw nothing (zeros, ones, fill) none.
 *
 * The arithmetic is IEEE double +, -, *, / and sqrt only, each correctly
 * rounded, and the file is compiled without contracting a * b + c into an
 * FMA (-ffp-contract=off): a seed gives the same params, bit for bit, on
 * every machine and with every C compiler. (libm's log and cos, which the
 * first generator used, are neither the same everywhere nor fast: they were
 * most of the time of creating a model with a million params.)
 *
 *===----------------------------------------------------------------------===*/
#include "model_runtime.h"

#include <math.h>
#include <string.h>

static uint64_t draw(uint64_t seed, uint64_t j) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (j + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Box-Muller normals are made a block of BLOCK pairs at a time in two
 * loops: the first takes each draw apart with integer operations, the
 * second is floating-point arithmetic alone, without branches or table
 * lookups, which the C compiler vectorizes (a whole block always: a draw
 * past the param's end is made and not used). */
#define BLOCK 256

/* On x86-64 with glibc the fill loops are compiled also for AVX2 and for
 * AVX-512 (which vectorizes the draws' 64-bit products too) and picked by
 * the running CPU when the library loads: about 3x faster than SSE2 on an
 * AVX-512 CPU. Every version makes the same bits (IEEE operations, no
 * contraction). */
#if defined(__x86_64__) && defined(__GLIBC__) && (defined(__GNUC__) || defined(__clang__))
#define VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VECTOR_CLONES
#endif

/* A block of draws, taken apart. Draw j: its high half k gives u = k / 2^32
 * in (0, 1] (k from 1 to 2^32), written u = m 2^e with m in [sqrt(1/2),
 * sqrt(2)); its low half the angle t = 2 pi low / 2^32 = q pi/2 + x, with q
 * the nearest quarter turn and x in [-pi/4, pi/4], kept as cos and sin of
 * q pi/2 (each 0 or +-1). */
typedef struct {
  double m[BLOCK], e[BLOCK], x[BLOCK], cos_q[BLOCK], sin_q[BLOCK];
} normal_parts;

VECTOR_CLONES static void take_apart(uint64_t seed, uint64_t first, normal_parts *d) {
  static const double cos_quarter[4] = {1, 0, -1, 0}, sin_quarter[4] = {0, 1, 0, -1};
  for (int j = 0; j < BLOCK; ++j) {
    uint64_t bits = draw(seed, first + (uint64_t)j), kbits;
    int64_t low = (int64_t)(uint32_t)bits;
    double k = (double)(int64_t)((bits >> 32) + 1); /* exact */
    memcpy(&kbits, &k, sizeof kbits);
    uint64_t fraction = kbits & 0x000FFFFFFFFFFFFFull, upper = fraction > 0x6A09E667F3BCCull; /* m >= sqrt(2) */
    uint64_t mbits = fraction | ((1023 - upper) << 52);
    memcpy(&d->m[j], &mbits, sizeof mbits);
    d->e[j] = (double)((int64_t)(kbits >> 52) - 1023 + (int64_t)upper - 32);
    int64_t q = (low + (1 << 29)) >> 30;
    d->x[j] = (double)(low - (q << 30)) * (6.283185307179586 / 4294967296.0);
    d->cos_q[j] = cos_quarter[q & 3];
    d->sin_q[j] = sin_quarter[q & 3];
  }
}

/* The values shift + scale z of a block's normal pairs, z0 at out[2j] and z1
 * at out[2j + 1]: r = sqrt(-2 ln u) with ln m = 2 atanh(s), s = (m - 1) /
 * (m + 1), |s| < 0.172, by its series to s^13; cos and sin of x by their
 * Taylor series to x^12 and x^13 (each first term left out is below 3e-12
 * of the value), turned by q pi/2 (exact: the factors are 0 and +-1). */
VECTOR_CLONES static void normal_pairs(const normal_parts *d, double shift, double scale, float *out) {
  for (int j = 0; j < BLOCK; ++j) {
    double m = d->m[j], s = (m - 1) / (m + 1), s2 = s * s;
    double series = 1 + s2 * (1.0 / 3 + s2 * (1.0 / 5 + s2 * (1.0 / 7 + s2 * (1.0 / 9 + s2 * (1.0 / 11 + s2 * (1.0 / 13))))));
    double r = sqrt(-2 * (d->e[j] * 0.6931471805599453 + 2 * s * series));
    double x = d->x[j], x2 = x * x;
    double sin_x = x * (1 + x2 * (-1.0 / 6 + x2 * (1.0 / 120 + x2 * (-1.0 / 5040 + x2 * (1.0 / 362880 +
                       x2 * (-1.0 / 39916800 + x2 * (1.0 / 6227020800)))))));
    double cos_x = 1 + x2 * (-1.0 / 2 + x2 * (1.0 / 24 + x2 * (-1.0 / 720 + x2 * (1.0 / 40320 +
                       x2 * (-1.0 / 3628800 + x2 * (1.0 / 479001600))))));
    out[2 * j] = (float)(shift + scale * (r * (cos_x * d->cos_q[j] - sin_x * d->sin_q[j])));
    out[2 * j + 1] = (float)(shift + scale * (r * (sin_x * d->cos_q[j] + cos_x * d->sin_q[j])));
  }
}

/* p[i] = shift + scale * z_i for count standard normals z, two per draw. */
static void fill_normal(float *p, int64_t count, uint64_t seed, uint64_t first, double shift, double scale) {
  normal_parts parts;
  float values[2 * BLOCK];
  for (int64_t i = 0; i < count; i += 2 * BLOCK) {
    take_apart(seed, first + (uint64_t)(i / 2), &parts);
    normal_pairs(&parts, shift, scale, values);
    memcpy(p + i, values, (size_t)(count - i < 2 * BLOCK ? count - i : 2 * BLOCK) * sizeof(float));
  }
}

/* p[i] = shift + scale * u_i for count uniforms u in [0, 1), two per draw. */
VECTOR_CLONES static void fill_uniform(float *p, int64_t count, uint64_t seed, uint64_t first, double shift, double scale) {
  for (int64_t i = 0; i < count; i += 2) {
    uint64_t bits = draw(seed, first + (uint64_t)(i / 2));
    p[i] = (float)(shift + scale * ((double)(bits >> 32) * (1.0 / 4294967296.0)));
    if (i + 1 < count) p[i + 1] = (float)(shift + scale * ((double)(uint32_t)bits * (1.0 / 4294967296.0)));
  }
}

uint64_t dlc_rt_init_param(const dlc_rt_tensor *t, float *p, uint64_t seed, uint64_t first) {
  double a = t->init_a, b = t->init_b, shift = 0, scale = 0;
  int64_t count = t->count, fan_in = t->fan_in, fan_out = t->fan_out;
  enum { NONE, NORMAL, UNIFORM } drawn = NONE;
  (void)a, (void)b, (void)fan_in, (void)fan_out;
  switch (t->init) {
#define DLC_INIT(Id, name, args, argNames, valid, draw, shift_, scale_) \
  case DLC_INIT_##Id:                                                  \
    drawn = draw, shift = (shift_), scale = (scale_);                  \
    break;
#include "Initializers.def"
  default: break;
  }
  if (drawn == NONE) {
    for (int64_t i = 0; i < count; ++i) p[i] = (float)shift;
    return 0;
  }
  if (drawn == NORMAL) fill_normal(p, count, seed, first, shift, scale);
  else fill_uniform(p, count, seed, first, shift, scale);
  return (uint64_t)(count + 1) / 2;
}
