/* A host that has never seen the model: dlopen()s a dlc library, lists its
 * tensors through dlc/abi.h alone, trains a few steps on zero-filled data
 * sized from the table, and checks that every kind of bad argument is
 * rejected with an error code and a message. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "dlc/abi.h"

static int expect(dlc_status got, dlc_status want, const dlc_api *api, const dlc_model *m, const char *what) {
  printf("%s: %s (%d) %s\n", what, got == want ? "rejected" : "WRONG", (int)got, api->last_error(m));
  return got == want ? 0 : 1;
}

static int64_t elements(const dlc_tensor_info *t, int64_t n) {
  int64_t e = 1;
  for (int d = 0; d < t->rank; ++d) e *= t->dims[d] < 0 ? n : t->dims[d];
  return e;
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 1;
  }
  const dlc_api *(*get)(void) = (const dlc_api *(*)(void))dlsym(lib, "dlc_get_api");
  if (!get) return 1;
  const dlc_api *api = get();
  printf("model %s abi %d max_batch %lld tensors %d\n", api->model_name, api->abi_version, (long long)api->max_batch,
         api->tensor_count);
  const float *inputs[8];
  const void *labels[8];
  float *outputs[8];
  int ni = 0, nl = 0, no = 0;
  const int64_t n = 4;
  for (int i = 0; i < api->tensor_count; ++i) {
    const dlc_tensor_info *t = &api->tensors[i];
    printf("  %d %s rank %d dtype %d\n", (int)t->role, t->name, t->rank, (int)t->dtype);
    void *buf = calloc((size_t)elements(t, n), 4);
    if (t->role == DLC_ROLE_INPUT) inputs[ni++] = (const float *)buf;
    else if (t->role == DLC_ROLE_LABEL) labels[nl++] = buf;
    else if (t->role == DLC_ROLE_OUTPUT) outputs[no++] = (float *)buf;
    else free(buf);
  }
  dlc_model *m = NULL;
  if (api->create(7, &m) != DLC_OK) return 1;
  float loss = -1;
  if (api->train_step(m, n, inputs, labels, &loss) != DLC_OK) return 1;
  printf("loss %.4f\n", loss);
  int bad = 0;
  float one[1] = {0};
  bad += expect(api->create(7, NULL), DLC_ERR_NULL, api, NULL, "create with a null output");
  bad += expect(api->forward(NULL, n, inputs, outputs), DLC_ERR_NULL, api, NULL, "forward on a null model");
  bad += expect(api->forward(m, 0, inputs, outputs), DLC_ERR_BATCH, api, m, "batch 0");
  bad += expect(api->forward(m, -3, inputs, outputs), DLC_ERR_BATCH, api, m, "batch -3");
  bad += expect(api->forward(m, api->max_batch + 1, inputs, outputs), DLC_ERR_BATCH, api, m, "batch over capacity");
  bad += expect(api->forward(m, n, NULL, outputs), DLC_ERR_NULL, api, m, "null input array");
  bad += expect(api->train_step(m, n, inputs, NULL, &loss), DLC_ERR_NULL, api, m, "null label array");
  bad += expect(api->get_param(m, "no_such_param", one, 1), DLC_ERR_NAME, api, m, "unknown param");
  bad += expect(api->get_param(m, api->tensors[1].name, NULL, 1), DLC_ERR_NULL, api, m, "null param buffer");
  bad += expect(api->set_hyper(m, "learning_rate", 0.1), DLC_ERR_NAME, api, m, "unknown hyperparameter");
  bad += expect(api->set_hyper(m, "lr", -1), DLC_ERR_VALUE, api, m, "negative learning rate");
  for (int i = 0; i < api->tensor_count; ++i)
    if (api->tensors[i].role == DLC_ROLE_PARAM) {
      bad += expect(api->get_param(m, api->tensors[i].name, one, 1 + elements(&api->tensors[i], 1)), DLC_ERR_SIZE, api,
                    m, "mis-sized param buffer");
      break;
    }
  for (int i = 0; i < api->tensor_count; ++i)
    if (api->tensors[i].dtype == DLC_I32) {
      int32_t *y = (int32_t *)labels[0];
      y[0] = 1000;
      bad += expect(api->train_step(m, n, inputs, labels, &loss), DLC_ERR_VALUE, api, m, "class label out of range");
      y[0] = 0;
      break;
    }
  bad += expect(api->load(m, "/nonexistent/checkpoint.safetensors"), DLC_ERR_IO, api, m, "unreadable checkpoint");
  bad += expect(api->save(m, NULL), DLC_ERR_NULL, api, m, "null checkpoint path");
  api->destroy(m);
  printf("%s\n", bad ? "SOME ERRORS WERE NOT REJECTED" : "all bad arguments rejected");
  return bad;
}
