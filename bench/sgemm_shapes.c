/* bench/sgemm_shapes.c - OpenBLAS sgemm at the shapes of a model's products.
 *
 * The limit a model's step can reach is set by its matrix products' shapes,
 * not by a square sgemm: bench/run.sh passes each model's forward products
 * (batch x out x in), their weight gradients (out x in x batch) and input
 * gradients (batch x in x out) as M,N,K, and this prints OpenBLAS's best
 * GFLOP/s over >= 0.3 s of repeated calls, row-major C = A B, per shape:
 *   limit=sgemm_shape threads=T model=NAME m=M n=N k=K gflops=G
 * and the model's total, flops over the sum of the shapes' best times.
 * Usage: sgemm_shapes THREADS MODEL M,N,K [M,N,K ...] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

extern void openblas_set_num_threads(int);

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* The best time of one m x n x k product. */
static double best_seconds(int m, int n, int k) {
  float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n), *c = malloc(sizeof(float) * m * n);
  for (long i = 0; i < (long)m * k; ++i) a[i] = (float)(i % 13) * 0.01f;
  for (long i = 0; i < (long)k * n; ++i) b[i] = (float)(i % 11) * 0.01f;
  double best = 1e30, total = 0;
  for (int rep = 0; rep < 3 || total < 0.3; ++rep) {
    double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.f, a, k, b, n, 0.f, c, n);
    double dt = now() - t0;
    total += dt;
    if (rep > 0 && dt < best) best = dt; /* the first call warms up */
  }
  free(a), free(b), free(c);
  return best;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: sgemm_shapes THREADS MODEL M,N,K [M,N,K ...]\n");
    return 2;
  }
  int threads = atoi(argv[1]);
  openblas_set_num_threads(threads);
  double flops = 0, seconds = 0;
  for (int i = 3; i < argc; ++i) {
    int m, n, k;
    if (sscanf(argv[i], "%d,%d,%d", &m, &n, &k) != 3) {
      fprintf(stderr, "sgemm_shapes: '%s' is not M,N,K\n", argv[i]);
      return 2;
    }
    double t = best_seconds(m, n, k), f = 2.0 * m * n * k;
    printf("limit=sgemm_shape threads=%d model=%s m=%d n=%d k=%d gflops=%.1f\n", threads, argv[2], m, n, k, f / t * 1e-9);
    flops += f, seconds += t;
  }
  printf("limit=sgemm_model threads=%d model=%s gflops=%.1f\n", threads, argv[2], flops / seconds * 1e-9);
  return 0;
}
