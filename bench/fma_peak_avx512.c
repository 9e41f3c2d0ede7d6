/* The fp32 FMA peak with 512-bit vectors, the width dlc's JIT uses on CPUs
 * with AVX-512 (../shared/bench/limits measures the 256-bit one, which on a
 * core with full-width 512-bit FMA units, such as Zen 5, is half the peak).
 *
 *   fma_peak_avx512 [threads=1] [repetitions=5]
 *
 * Each thread runs 16 independent chains of vfmadd231ps on zmm registers (two
 * FMA pipes of 4-cycle latency need at least 8); the best repetition's rate,
 * counting 2 flops per lane, is printed as `limit=fma_peak_avx512 threads=T
 * gflops=G`. Prints nothing and exits 1 on a CPU without AVX-512F. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { kIterations = 20000000, kChains = 16, kLanes = 16 };

#define FMA(r) "vfmadd231ps %%zmm16, %%zmm17, %%zmm" #r "\n\t"

__attribute__((target("avx512f"))) static void *chains(void *unused) {
  (void)unused;
  __asm__ volatile("vbroadcastss %0, %%zmm16\n\tvbroadcastss %1, %%zmm17\n\t"
                   "vxorps %%zmm0, %%zmm0, %%zmm0\n\tvmovaps %%zmm0, %%zmm1\n\tvmovaps %%zmm0, %%zmm2\n\t"
                   "vmovaps %%zmm0, %%zmm3\n\tvmovaps %%zmm0, %%zmm4\n\tvmovaps %%zmm0, %%zmm5\n\t"
                   "vmovaps %%zmm0, %%zmm6\n\tvmovaps %%zmm0, %%zmm7\n\tvmovaps %%zmm0, %%zmm8\n\t"
                   "vmovaps %%zmm0, %%zmm9\n\tvmovaps %%zmm0, %%zmm10\n\tvmovaps %%zmm0, %%zmm11\n\t"
                   "vmovaps %%zmm0, %%zmm12\n\tvmovaps %%zmm0, %%zmm13\n\tvmovaps %%zmm0, %%zmm14\n\t"
                   "vmovaps %%zmm0, %%zmm15\n\t"
                   :
                   : "m"((float){0.999999f}), "m"((float){1e-7f})
                   : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
                     "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17");
  for (long i = 0; i < kIterations; ++i)
    __asm__ volatile(FMA(0) FMA(1) FMA(2) FMA(3) FMA(4) FMA(5) FMA(6) FMA(7) FMA(8) FMA(9) FMA(10) FMA(11)
                         FMA(12) FMA(13) FMA(14) FMA(15)
                     :
                     :
                     : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
                       "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
  return NULL;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
  if (!__builtin_cpu_supports("avx512f")) return 1;
  int threads = argc > 1 ? atoi(argv[1]) : 1, reps = argc > 2 ? atoi(argv[2]) : 5;
  if (threads < 1 || threads > 256 || reps < 1) return 2;
  pthread_t ids[256];
  double best = 0;
  chains(NULL); /* warm-up: the clock ramps and the 512-bit units power on */
  for (int r = 0; r < reps; ++r) {
    double start = now();
    for (int t = 0; t < threads; ++t) pthread_create(&ids[t], NULL, chains, NULL);
    for (int t = 0; t < threads; ++t) pthread_join(ids[t], NULL);
    double flops = 2.0 * kLanes * kChains * (double)kIterations * threads;
    double rate = flops / (now() - start) / 1e9;
    if (rate > best) best = rate;
  }
  printf("limit=fma_peak_avx512 threads=%d gflops=%.1f\n", threads, best);
  return 0;
}
