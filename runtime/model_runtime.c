/*===- runtime/model_runtime.c - The C ABI over a compiled model ----------===*
 *
 * Model-independent: checks every argument, copies inputs and labels into the
 * model's arena, calls the compiled entry points, and keeps the optimizer's
 * step count and hyperparameters. Compiled into each model's .so (C99, libc
 * and libm only).
 *
 *===----------------------------------------------------------------------===*/
#include "model_runtime.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { H_LR, H_MOMENTUM, H_NESTEROV, H_BETA1, H_BETA2, H_EPS, H_WEIGHT_DECAY, H_C1, H_C2, H_COUNT };
static const char *const hyper_names[] = {"lr", "momentum", "nesterov", "beta1", "beta2", "eps", "weight_decay"};

struct dlc_model {
  const dlc_rt_model *desc;
  float *arena;
  double hyper[H_COUNT];
  int64_t step;
  char error[256];
};

static char create_error[256];

static dlc_status fail(dlc_model *m, dlc_status s, const char *fmt, ...) {
  char *buf = m ? m->error : create_error;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, 256, fmt, ap);
  va_end(ap);
  return s;
}

/* splitmix64: a small, seedable, reproducible generator. */
static uint64_t next_u64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double uniform01(uint64_t *s) { return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0); }
static double normal01(uint64_t *s) {
  double u = uniform01(s), v = uniform01(s);
  if (u < 1e-300) u = 1e-300;
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static void init_param(const dlc_rt_tensor *t, float *p, uint64_t *rng) {
  for (int64_t i = 0; i < t->count; ++i) {
    double v = 0;
    switch (t->init) {
    case DLC_INIT_ONES: v = 1; break;
    case DLC_INIT_FILL: v = t->init_a; break;
    case DLC_INIT_NORMAL: v = t->init_a + t->init_b * normal01(rng); break;
    case DLC_INIT_UNIFORM: v = t->init_a + (t->init_b - t->init_a) * uniform01(rng); break;
    case DLC_INIT_HE: v = sqrt(2.0 / (double)t->fan_in) * normal01(rng); break;
    case DLC_INIT_GLOROT: {
      double r = sqrt(6.0 / (double)(t->fan_in + t->fan_out));
      v = -r + 2 * r * uniform01(rng);
      break;
    }
    default: v = 0; break;
    }
    p[i] = (float)v;
  }
}

dlc_status dlc_rt_create(const dlc_rt_model *d, uint64_t seed, dlc_model **out) {
  if (!out) return fail(NULL, DLC_ERR_NULL, "create: the output pointer is null");
  *out = NULL;
  dlc_model *m = (dlc_model *)calloc(1, sizeof(dlc_model));
  if (!m) return fail(NULL, DLC_ERR_NOMEM, "create: out of memory");
  m->desc = d;
  m->arena = (float *)calloc((size_t)d->arena_size, sizeof(float));
  if (!m->arena) {
    free(m);
    return fail(NULL, DLC_ERR_NOMEM, "create: out of memory for a %lld-float arena", (long long)d->arena_size);
  }
  uint64_t rng = seed;
  for (int i = 0; i < d->api->tensor_count; ++i)
    if (d->api->tensors[i].role == DLC_ROLE_PARAM) init_param(&d->tensors[i], m->arena + d->tensors[i].offset, &rng);
  for (int h = 0; h < H_C1; ++h) m->hyper[h] = d->hyper_default[h];
  *out = m;
  return DLC_OK;
}

void dlc_rt_destroy(dlc_model *m) {
  if (!m) return;
  free(m->arena);
  free(m);
}

static int find_tensor(const dlc_model *m, const char *name, dlc_role role) {
  for (int i = 0; i < m->desc->api->tensor_count; ++i)
    if (m->desc->api->tensors[i].role == role && strcmp(m->desc->api->tensors[i].name, name) == 0) return i;
  return -1;
}

static dlc_status check_batch(dlc_model *m, int64_t n) {
  if (n < 1 || n > m->desc->api->max_batch)
    return fail(m, DLC_ERR_BATCH, "batch size %lld is outside 1..%lld", (long long)n,
                (long long)m->desc->api->max_batch);
  return DLC_OK;
}

/* Copies the pointers of every tensor of `role` into the arena. */
static dlc_status copy_in(dlc_model *m, int64_t n, dlc_role role, const void *const *data) {
  const dlc_rt_model *d = m->desc;
  int k = 0;
  for (int i = 0; i < d->api->tensor_count; ++i) {
    const dlc_tensor_info *info = &d->api->tensors[i];
    if (info->role != role) continue;
    const dlc_rt_tensor *t = &d->tensors[i];
    const void *src = data[k++];
    if (!src) return fail(m, DLC_ERR_NULL, "the buffer of %s '%s' is null", role == DLC_ROLE_INPUT ? "input" : "label",
                          info->name);
    int64_t count = t->batched ? n * t->count : t->count;
    float *dst = m->arena + t->offset;
    if (info->dtype == DLC_I32) {
      const int32_t *labels = (const int32_t *)src;
      for (int64_t j = 0; j < count; ++j) {
        if (labels[j] < 0 || labels[j] >= t->classes)
          return fail(m, DLC_ERR_VALUE, "label '%s'[%lld] = %d is outside 0..%lld", info->name, (long long)j,
                      (int)labels[j], (long long)(t->classes - 1));
        dst[j] = (float)labels[j];
      }
    } else {
      memcpy(dst, src, (size_t)count * sizeof(float));
    }
  }
  return DLC_OK;
}

static int count_role(const dlc_model *m, dlc_role role) {
  int k = 0;
  for (int i = 0; i < m->desc->api->tensor_count; ++i) k += m->desc->api->tensors[i].role == role;
  return k;
}

dlc_status dlc_rt_forward(dlc_model *m, int64_t n, const float *const *inputs, float *const *outputs) {
  if (!m) return fail(NULL, DLC_ERR_NULL, "forward: the model is null");
  dlc_status s = check_batch(m, n);
  if (s) return s;
  if ((!inputs && count_role(m, DLC_ROLE_INPUT)) || (!outputs && count_role(m, DLC_ROLE_OUTPUT)))
    return fail(m, DLC_ERR_NULL, "forward: the input or output array is null");
  if ((s = copy_in(m, n, DLC_ROLE_INPUT, (const void *const *)inputs))) return s;
  m->desc->forward(m->arena, n);
  const dlc_rt_model *d = m->desc;
  int k = 0;
  for (int i = 0; i < d->api->tensor_count; ++i) {
    if (d->api->tensors[i].role != DLC_ROLE_OUTPUT) continue;
    float *dst = outputs[k++];
    const dlc_rt_tensor *t = &d->tensors[i];
    if (dst) memcpy(dst, m->arena + t->offset, (size_t)(t->batched ? n * t->count : t->count) * sizeof(float));
  }
  return DLC_OK;
}

static dlc_status prepare_training(dlc_model *m, int64_t n, const float *const *inputs, const void *const *labels,
                                   const char *what) {
  if (!m) return fail(NULL, DLC_ERR_NULL, "%s: the model is null", what);
  if (m->desc->loss_offset < 0) return fail(m, DLC_ERR_STATE, "%s: model '%s' has no loss", what, m->desc->api->model_name);
  dlc_status s = check_batch(m, n);
  if (s) return s;
  if ((!inputs && count_role(m, DLC_ROLE_INPUT)) || (!labels && count_role(m, DLC_ROLE_LABEL)))
    return fail(m, DLC_ERR_NULL, "%s: the input or label array is null", what);
  if ((s = copy_in(m, n, DLC_ROLE_INPUT, (const void *const *)inputs))) return s;
  return copy_in(m, n, DLC_ROLE_LABEL, labels);
}

dlc_status dlc_rt_loss_and_grad(dlc_model *m, int64_t n, const float *const *inputs, const void *const *labels,
                                float *loss) {
  dlc_status s = prepare_training(m, n, inputs, labels, "loss_and_grad");
  if (s) return s;
  m->desc->loss_and_grad(m->arena, n);
  if (loss) *loss = m->arena[m->desc->loss_offset];
  return DLC_OK;
}

dlc_status dlc_rt_train_step(dlc_model *m, int64_t n, const float *const *inputs, const void *const *labels,
                             float *loss) {
  dlc_status s = prepare_training(m, n, inputs, labels, "train_step");
  if (s) return s;
  const dlc_rt_model *d = m->desc;
  m->step += 1;
  float hyper[16] = {0};
  double t = (double)m->step;
  m->hyper[H_C1] = 1.0 / (1.0 - pow(m->hyper[H_BETA1], t));
  m->hyper[H_C2] = 1.0 / (1.0 - pow(m->hyper[H_BETA2], t));
  for (int h = 0; h < H_COUNT && h < d->hyper_count; ++h) hyper[d->hyper_index[h]] = (float)m->hyper[h];
  d->train_step(m->arena, n, hyper);
  if (loss) *loss = m->arena[d->loss_offset];
  return DLC_OK;
}

static dlc_status param_access(const dlc_model *m, const char *name, int64_t count, const void *data, int grad,
                               const char *what, int64_t *offset) {
  dlc_model *mm = (dlc_model *)m;
  if (!m) return fail(NULL, DLC_ERR_NULL, "%s: the model is null", what);
  if (!name || !data) return fail(mm, DLC_ERR_NULL, "%s: the name or the buffer is null", what);
  int i = find_tensor(m, name, DLC_ROLE_PARAM);
  if (i < 0) return fail(mm, DLC_ERR_NAME, "%s: no param named '%s'", what, name);
  const dlc_rt_tensor *t = &m->desc->tensors[i];
  if (count != t->count)
    return fail(mm, DLC_ERR_SIZE, "%s: param '%s' has %lld elements, the buffer %lld", what, name,
                (long long)t->count, (long long)count);
  if (grad && t->grad_offset < 0) return fail(mm, DLC_ERR_STATE, "%s: no gradient for '%s'", what, name);
  *offset = grad ? t->grad_offset : t->offset;
  return DLC_OK;
}

dlc_status dlc_rt_get_param(const dlc_model *m, const char *name, float *data, int64_t count) {
  int64_t off;
  dlc_status s = param_access(m, name, count, data, 0, "get_param", &off);
  if (!s) memcpy(data, m->arena + off, (size_t)count * sizeof(float));
  return s;
}

dlc_status dlc_rt_set_param(dlc_model *m, const char *name, const float *data, int64_t count) {
  int64_t off;
  dlc_status s = param_access(m, name, count, data, 0, "set_param", &off);
  if (!s) memcpy(m->arena + off, data, (size_t)count * sizeof(float));
  return s;
}

dlc_status dlc_rt_get_grad(const dlc_model *m, const char *name, float *data, int64_t count) {
  int64_t off;
  dlc_status s = param_access(m, name, count, data, 1, "get_grad", &off);
  if (!s) memcpy(data, m->arena + off, (size_t)count * sizeof(float));
  return s;
}

dlc_status dlc_rt_set_hyper(dlc_model *m, const char *key, double value) {
  if (!m) return fail(NULL, DLC_ERR_NULL, "set_hyper: the model is null");
  if (!key) return fail(m, DLC_ERR_NULL, "set_hyper: the key is null");
  for (int h = 0; h < H_C1; ++h) {
    if (strcmp(key, hyper_names[h]) != 0) continue;
    if (!isfinite(value) || value < 0) return fail(m, DLC_ERR_VALUE, "set_hyper: %s = %g is not allowed", key, value);
    m->hyper[h] = value;
    return DLC_OK;
  }
  return fail(m, DLC_ERR_NAME, "set_hyper: unknown setting '%s' (lr, momentum, nesterov, beta1, beta2, eps, weight_decay)",
              key);
}

const char *dlc_rt_last_error(const dlc_model *m) { return m ? m->error : create_error; }
