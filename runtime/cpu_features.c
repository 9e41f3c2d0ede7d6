/*===- runtime/cpu_features.c - Does this CPU run the library's code? -----===*
 *
 * A library holds machine code for one CPU's instruction set (dlc's --cpu);
 * on a CPU without one of its features that code dies with SIGILL. create
 * asks this file first: cpuid and xgetbv give the running CPU's features of
 * CpuFeatures.def, and a library needing one that is missing is refused
 * with DLC_ERR_CPU. Only x86 is checked; elsewhere every feature counts as
 * present. DLC_CPU_HIDE=avx2,fma (LLVM names) makes the check treat those
 * features as absent, to try the refusal on any machine.
 *
 *===----------------------------------------------------------------------===*/
#include "model_runtime.h"

#include <stdlib.h>
#include <string.h>

static const char *const feature_names[] = {
#define DLC_CPU_FEATURE(Id, name, leaf, subleaf, reg, bit, xcr0) name,
#include "CpuFeatures.def"
};
enum { FEATURE_COUNT = sizeof feature_names / sizeof feature_names[0] };

#if defined(__x86_64__) || defined(__i386__)
static void cpuid(uint32_t leaf, uint32_t subleaf, uint32_t r[4]) {
  __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(subleaf));
}

/* The features the CPU has and the operating system has enabled. */
static uint64_t query_features(void) {
  static const struct { uint32_t leaf, subleaf, reg, bit; uint64_t xcr0; } where[] = {
#define DLC_CPU_FEATURE(Id, name, leaf, subleaf, reg, bit, xcr0) {leaf, subleaf, reg, bit, xcr0},
#include "CpuFeatures.def"
  };
  uint32_t r[4], max_leaf, max_ext;
  cpuid(0, 0, r);
  max_leaf = r[0];
  cpuid(0x80000000u, 0, r);
  max_ext = r[0];
  uint64_t xcr0 = 0;
  cpuid(1, 0, r);
  if (r[2] & (1u << 27)) { /* OSXSAVE: xgetbv reads which register states the OS saves */
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = ((uint64_t)hi << 32) | lo;
  }
  uint64_t have = 0;
  for (int i = 0; i < FEATURE_COUNT; ++i) {
    uint32_t leaf = where[i].leaf;
    if (leaf >= 0x80000000u ? leaf > max_ext : leaf > max_leaf) continue;
    cpuid(leaf, where[i].subleaf, r);
    if ((r[where[i].reg] >> where[i].bit & 1) && (xcr0 & where[i].xcr0) == where[i].xcr0) have |= 1ull << i;
  }
  return have;
}

/* The same, asked once per process: cpuid traps to the hypervisor on a
 * virtual machine, and each model's create asks. */
static uint64_t detected_features(void) {
  static uint64_t known; /* the features, with bit 63 set once asked (FEATURE_COUNT < 63) */
  uint64_t k = __atomic_load_n(&known, __ATOMIC_RELAXED);
  if (!(k >> 63)) {
    k = query_features() | 1ull << 63;
    __atomic_store_n(&known, k, __ATOMIC_RELAXED);
  }
  return k & ~(1ull << 63);
}
#else
static uint64_t detected_features(void) { return ~0ull; }
#endif

/* The bit of a feature named by the first `len` characters of `name`; -1 if none. */
static int feature_bit(const char *name, size_t len) {
  for (int i = 0; i < FEATURE_COUNT; ++i)
    if (strlen(feature_names[i]) == len && strncmp(feature_names[i], name, len) == 0) return i;
  return -1;
}

uint64_t dlc_cpu_features(void) {
  uint64_t have = detected_features();
  const char *hide = getenv("DLC_CPU_HIDE");
  while (hide && *hide) {
    size_t len = strcspn(hide, ",");
    int bit = feature_bit(hide, len);
    if (bit >= 0) have &= ~(1ull << bit);
    hide += len + (hide[len] == ',');
  }
  return have;
}

void dlc_cpu_feature_names(uint64_t features, char *out, size_t size) {
  size_t used = 0;
  if (size) out[0] = '\0';
  for (int i = 0; i < FEATURE_COUNT; ++i) {
    if (!(features >> i & 1)) continue;
    const char *sep = used ? ", " : "";
    size_t len = strlen(sep) + strlen(feature_names[i]);
    if (used + len + 1 > size) break;
    strcpy(out + used, sep);
    strcpy(out + used + strlen(sep), feature_names[i]);
    used += len;
  }
}
