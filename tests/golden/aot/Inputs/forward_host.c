/* A C99 host of a forward-only library (blobs_forward.net): loads the
 * checkpoint `dlc train` wrote for blobs.net, classifies every row of a CSV
 * file (4 features, then the class) and prints the accuracy the way
 * `dlc eval` does. It also checks that the training entry points say no. */
#include <stdio.h>

#include <dlc/abi.h>

#include "blobs_forward.h"

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  const dlc_api *api = dlc_get_api();
  tab *m = NULL;
  if (tab_create(7, &m) != 0 || tab_load(m, argv[1]) != 0) {
    fprintf(stderr, "load: %s\n", tab_last_error(m));
    return 1;
  }
  float loss = 0;
  const float *none[1] = {NULL};
  printf("has_loss %d, train_step status %d: %s\n", api->has_loss, (int)api->train_step(m, 1, none, NULL, &loss),
         tab_last_error(m));
  FILE *f = fopen(argv[2], "r");
  if (!f) return 1;
  char header[256];
  if (!fgets(header, sizeof header, f)) return 1;
  enum { B = 16 };
  float x[B * 4], p[B * 3];
  int labels[B], n = 0, correct = 0, total = 0, eof = 0;
  while (!eof) {
    eof = fscanf(f, "%f,%f,%f,%f,%d", &x[4 * n], &x[4 * n + 1], &x[4 * n + 2], &x[4 * n + 3], &labels[n]) != 5;
    if (!eof) ++n;
    if (n == B || (eof && n > 0)) {
      if (tab_forward(m, n, x, p) != 0) {
        fprintf(stderr, "forward: %s\n", tab_last_error(m));
        return 1;
      }
      for (int i = 0; i < n; ++i) {
        int best = 0;
        for (int c = 1; c < 3; ++c)
          if (p[3 * i + c] > p[3 * i + best]) best = c;
        correct += best == labels[i];
      }
      total += n, n = 0;
    }
  }
  fclose(f);
  printf("test accuracy: %.2f%%\n", 100.0 * correct / total);
  tab_destroy(m);
  return 0;
}
