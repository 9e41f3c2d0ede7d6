/* tests/cross/dump_model.c - Prints what a model library computes.
 *
 * Links against one dlc-built library and, through dlc/abi.h only, prints
 * the params create drew from seed 7, its forward outputs, loss and every
 * gradient for a fixed batch, then the params after one train step, one
 * tensor per line ("what name v0 v1 ...").
 * cross_compile.sh builds it for x86-64 and for aarch64 (run under qemu)
 * and compares the two outputs number by number. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "dlc/abi.h"

static int64_t sample_size(const dlc_tensor_info *t) {
  int64_t size = 1;
  for (int d = 0; d < t->rank; ++d) size *= t->dims[d] < 0 ? 1 : t->dims[d];
  return size;
}

static void print(const char *what, const char *name, const float *data, int64_t count) {
  printf("%s %s", what, name);
  for (int64_t i = 0; i < count; ++i) printf(" %.9g", data[i]);
  printf("\n");
}

static void check(const dlc_api *api, dlc_model *m, dlc_status s, const char *call) {
  if (s == DLC_OK) return;
  fprintf(stderr, "%s: %s\n", call, api->last_error(m));
  exit(1);
}

int main(void) {
  const dlc_api *api = dlc_get_api();
  dlc_model *m = NULL;
  check(api, NULL, api->create(7, &m), "create");
  for (int i = 0; i < api->tensor_count; ++i) {
    const dlc_tensor_info *t = &api->tensors[i];
    if (t->role != DLC_ROLE_PARAM) continue;
    float *data = malloc(sizeof(float) * sample_size(t));
    check(api, m, api->get_param(m, t->name, data, sample_size(t)), "get_param");
    print("initial", t->name, data, sample_size(t));
    free(data);
  }
  int64_t n = api->max_batch < 3 ? api->max_batch : 3;
  const float *inputs[8];
  const void *labels[8];
  float *outputs[8];
  int ni = 0, nl = 0, no = 0;
  for (int i = 0; i < api->tensor_count; ++i) {
    const dlc_tensor_info *t = &api->tensors[i];
    int64_t count = n * sample_size(t);
    if (t->role == DLC_ROLE_INPUT || (t->role == DLC_ROLE_LABEL && t->dtype == DLC_F32)) {
      float *data = malloc(sizeof(float) * count);
      for (int64_t e = 0; e < count; ++e) data[e] = (float)sin(0.37 * (double)e + i);
      if (t->role == DLC_ROLE_INPUT) inputs[ni++] = data;
      else labels[nl++] = data;
    } else if (t->role == DLC_ROLE_LABEL) {
      int32_t *data = malloc(sizeof(int32_t) * count);
      for (int64_t e = 0; e < count; ++e) data[e] = (int32_t)(e % 2);
      labels[nl++] = data;
    } else if (t->role == DLC_ROLE_OUTPUT) {
      outputs[no++] = malloc(sizeof(float) * count);
    }
  }
  check(api, m, api->forward(m, n, inputs, outputs), "forward");
  no = 0;
  for (int i = 0; i < api->tensor_count; ++i)
    if (api->tensors[i].role == DLC_ROLE_OUTPUT)
      print("forward", api->tensors[i].name, outputs[no++], n * sample_size(&api->tensors[i]));
  if (!api->has_loss) return 0;
  float loss;
  check(api, m, api->loss_and_grad(m, n, inputs, labels, &loss), "loss_and_grad");
  print("loss", "-", &loss, 1);
  for (int pass = 0; pass < 2; ++pass) {
    if (pass == 1) check(api, m, api->train_step(m, n, inputs, labels, &loss), "train_step");
    for (int i = 0; i < api->tensor_count; ++i) {
      const dlc_tensor_info *t = &api->tensors[i];
      if (t->role != DLC_ROLE_PARAM) continue;
      int64_t count = sample_size(t);
      float *data = malloc(sizeof(float) * count);
      if (pass == 0) check(api, m, api->get_grad(m, t->name, data, count), "get_grad");
      else check(api, m, api->get_param(m, t->name, data, count), "get_param");
      print(pass == 0 ? "grad" : "stepped", t->name, data, count);
      free(data);
    }
  }
  api->destroy(m);
  return 0;
}
