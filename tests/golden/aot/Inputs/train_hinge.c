/* A C99 host of the generated hinge_svm.h: trains the SVM on two separable
 * clouds of points and prints the loss before and after. */
#include <stdio.h>

#include "hinge.h"

int main(void) {
  enum { N = 16 };
  float x[N * 2], t[N], s[N], loss0 = 0, loss = 0;
  for (int i = 0; i < N; ++i) {
    float side = (i % 2) ? 1.0f : -1.0f;
    x[2 * i] = side * (1.0f + 0.1f * (float)(i % 5));
    x[2 * i + 1] = 0.5f * side + 0.05f * (float)(i % 3);
    t[i] = side;
  }
  hinge_svm *m = NULL;
  if (hinge_svm_create(42, &m) != 0) {
    fprintf(stderr, "create: %s\n", hinge_svm_last_error(NULL));
    return 1;
  }
  for (int step = 0; step < 30; ++step) {
    if (hinge_svm_train_step(m, N, x, t, &loss) != 0) {
      fprintf(stderr, "train_step: %s\n", hinge_svm_last_error(m));
      return 1;
    }
    if (step == 0) loss0 = loss;
  }
  if (hinge_svm_forward(m, N, x, s) != 0) return 1;
  int correct = 0;
  for (int i = 0; i < N; ++i) correct += (s[i] > 0) == (t[i] > 0);
  printf("first loss %.4f last loss %.4f correct %d of %d\n", loss0, loss, correct, N);
  printf("loss fell: %s\n", loss < 0.5f * loss0 ? "yes" : "no");
  hinge_svm_destroy(m);
  return 0;
}
