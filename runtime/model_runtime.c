/*===- runtime/model_runtime.c - The C ABI over a compiled model ----------===*
 *
 * Model-independent: checks every argument, copies inputs and labels into the
 * model's arena, calls the compiled entry points, and keeps the optimizer's
 * step count and hyperparameters. Compiled into each model's .so (C99, libc
 * and libm only).
 *
 *===----------------------------------------------------------------------===*/
#define _POSIX_C_SOURCE 200809L /* sched_yield */
#include "model_runtime.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const hyper_keys[DLC_HYPER_SETTINGS] = {
#define DLC_HYPER(Id, key, gd, sgd, adam, sgdDefault, adamDefault, meaning) key,
#include "Hyperparameters.def"
};
/* Whether each optimizer's update reads a setting: [DLC_OPT_SGD], [DLC_OPT_ADAM]. */
static const int hyper_used[2][DLC_HYPER_SETTINGS] = {
    {
#define DLC_HYPER(Id, key, gd, sgd, adam, sgdDefault, adamDefault, meaning) sgd,
#include "Hyperparameters.def"
    },
    {
#define DLC_HYPER(Id, key, gd, sgd, adam, sgdDefault, adamDefault, meaning) adam,
#include "Hyperparameters.def"
    }};
/* Every key set_hyper takes, for its message: "lr, momentum, ..., threads". */
static const char hyper_key_list[] =
#define DLC_HYPER(Id, key, gd, sgd, adam, sgdDefault, adamDefault, meaning) key ", "
#include "Hyperparameters.def"
    "threads";

struct dlc_model {
  const dlc_rt_model *desc;
  float *arena;
  double hyper[DLC_HYPER_COUNT];
  int64_t step;
  uint64_t seed; /* create's: with the step, it keys the dropout masks */
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

/*===- The thread pool ----------------------------------------------------===*
 * Workers wait for a new generation of work: they spin for a short while
 * (a training step issues its products back to back) and then sleep on a
 * condition variable. The caller runs share 0 itself and waits until the
 * workers' shares are done. Both waits yield the CPU after a short spin:
 * when the scheduler puts the caller and a worker on the same core, a pure
 * spin would hold the core for a whole time slice while the other waits
 * (measured: mnist's 2-thread step went from 1.2 to 2.8 ms in such
 * processes). A call while another is in flight (two models trained from
 * two host threads) runs serially. */

static struct {
  pthread_mutex_t mu;
  pthread_cond_t wake;
  int threads, started, configured;
  uint64_t generation;
  int pending, busy;
  dlc_rows_fn fn;
  float *arena;
  int64_t n, total, grain;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 1, 0, 0, 0, 0, 0, NULL, NULL, 0, 0, 0};

static void run_share(int tid, int threads) {
  int64_t chunks = (pool.total + pool.grain - 1) / pool.grain;
  int64_t lo = chunks * tid / threads * pool.grain, hi = chunks * (tid + 1) / threads * pool.grain;
  if (hi > pool.total) hi = pool.total;
  if (lo < hi) pool.fn(pool.arena, pool.n, lo, hi, tid);
}

/* A hint to the core that this thread spins on a flag. */
static void spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

static void *pool_worker(void *arg) {
  int tid = (int)(intptr_t)arg;
  uint64_t seen = 0;
  for (;;) {
    uint64_t g;
    long spins = 0;
    while ((g = __atomic_load_n(&pool.generation, __ATOMIC_ACQUIRE)) == seen) {
      if (++spins < 200000) {
        if (spins > 2000) sched_yield();
        else spin_pause();
        continue;
      }
      pthread_mutex_lock(&pool.mu);
      while (__atomic_load_n(&pool.generation, __ATOMIC_ACQUIRE) == seen) pthread_cond_wait(&pool.wake, &pool.mu);
      pthread_mutex_unlock(&pool.mu);
    }
    seen = g;
    if (tid < pool.threads) run_share(tid, pool.threads);
    __atomic_sub_fetch(&pool.pending, 1, __ATOMIC_ACQ_REL);
  }
  return NULL;
}

int dlc_set_num_threads(int threads) {
  pthread_mutex_lock(&pool.mu);
  pool.configured = 1;
  if (threads < 1) threads = 1;
  if (threads > DLC_MAX_THREADS) threads = DLC_MAX_THREADS;
  while (pool.started < threads - 1) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int ok = pthread_create(&t, &attr, pool_worker, (void *)(intptr_t)(pool.started + 1)) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) break;
    ++pool.started;
  }
  pool.threads = pool.started + 1 < threads ? pool.started + 1 : threads;
  pthread_mutex_unlock(&pool.mu);
  return pool.threads;
}

int dlc_get_num_threads(void) {
  if (!__atomic_load_n(&pool.configured, __ATOMIC_ACQUIRE)) {
    const char *env = getenv("DLC_NUM_THREADS");
    dlc_set_num_threads(env ? atoi(env) : 1);
  }
  return pool.threads;
}

void dlc_parallel_for(dlc_rows_fn fn, float *arena, int64_t n, int64_t total, int64_t grain) {
  int threads = dlc_get_num_threads();
  if (threads <= 1 || total < 2 * grain || __atomic_exchange_n(&pool.busy, 1, __ATOMIC_ACQUIRE)) {
    fn(arena, n, 0, total, 0);
    return;
  }
  pool.fn = fn, pool.arena = arena, pool.n = n, pool.total = total, pool.grain = grain;
  __atomic_store_n(&pool.pending, pool.started, __ATOMIC_RELEASE);
  pthread_mutex_lock(&pool.mu);
  __atomic_add_fetch(&pool.generation, 1, __ATOMIC_RELEASE);
  pthread_cond_broadcast(&pool.wake);
  pthread_mutex_unlock(&pool.mu);
  run_share(0, threads);
  for (long spins = 0; __atomic_load_n(&pool.pending, __ATOMIC_ACQUIRE) > 0; ++spins) {
    if (spins > 2000) sched_yield();
    else spin_pause();
  }
  __atomic_store_n(&pool.busy, 0, __ATOMIC_RELEASE);
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

static double uniform_within(double r, uint64_t *s) { return -r + 2 * r * uniform01(s); }

/* One value of t's initializer (the `sample` column of Initializers.def). */
static double init_value(const dlc_rt_tensor *t, uint64_t *rng) {
  double a = t->init_a, b = t->init_b;
  int64_t fan_in = t->fan_in, fan_out = t->fan_out;
  (void)a, (void)b, (void)fan_in, (void)fan_out;
  switch (t->init) {
#define DLC_INIT(Id, name, args, argNames, valid, sample) \
  case DLC_INIT_##Id: return (sample);
#include "Initializers.def"
  default: return 0;
  }
}

static void init_param(const dlc_rt_tensor *t, float *p, uint64_t *rng) {
  for (int64_t i = 0; i < t->count; ++i) p[i] = (float)init_value(t, rng);
}

dlc_status dlc_rt_create(const dlc_rt_model *d, uint64_t seed, dlc_model **out) {
  if (!out) return fail(NULL, DLC_ERR_NULL, "create: the output pointer is null");
  *out = NULL;
  uint64_t lacking = d->cpu_features & ~dlc_cpu_features();
  if (lacking) {
    char names[160];
    dlc_cpu_feature_names(lacking, names, sizeof names);
    return fail(NULL, DLC_ERR_CPU, "create: this library was compiled for CPU '%s' (%s) and needs %s, which this CPU "
                "lacks; rebuild it with --cpu=native or an older --cpu",
                d->target_cpu, d->target_triple, names);
  }
  dlc_model *m = (dlc_model *)calloc(1, sizeof(dlc_model));
  if (!m) return fail(NULL, DLC_ERR_NOMEM, "create: out of memory");
  m->desc = d;
  m->seed = seed;
  m->arena = (float *)calloc((size_t)d->arena_size, sizeof(float));
  if (!m->arena) {
    free(m);
    return fail(NULL, DLC_ERR_NOMEM, "create: out of memory for a %lld-float arena", (long long)d->arena_size);
  }
  uint64_t rng = seed;
  for (int i = 0; i < d->api->tensor_count; ++i)
    if (d->api->tensors[i].role == DLC_ROLE_PARAM) init_param(&d->tensors[i], m->arena + d->tensors[i].offset, &rng);
  for (int h = 0; h < DLC_HYPER_SETTINGS; ++h) m->hyper[h] = d->hyper_default[h];
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
  if (m->desc->dropout_key_offset >= 0) { /* the masks of the step about to be taken */
    uint32_t key = dlc_rt_dropout_key(m->seed, m->step + 1);
    memcpy(m->arena + m->desc->dropout_key_offset, &key, sizeof key);
  }
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

/* The derived slots of Hyperparameters.def (Adam's bias corrections) for step m->step. */
static void derive_hyper(dlc_model *m) {
  const double *h = m->hyper;
  double t = (double)m->step;
  int adam = m->desc->optimizer == DLC_OPT_ADAM;
  (void)h, (void)t, (void)adam;
#define DLC_DERIVED_HYPER(Id, name, sgd, adam_uses, value, meaning) \
  if (adam ? adam_uses : sgd) m->hyper[DLC_HYPER_##Id] = (value);
#include "Hyperparameters.def"
}

/* Counts a step and fills the kernels' hyper array for it. */
static void next_step_hyper(dlc_model *m, float hyper[DLC_HYPER_COUNT]) {
  m->step += 1;
  derive_hyper(m);
  for (int h = 0; h < DLC_HYPER_COUNT; ++h) hyper[h] = (float)m->hyper[h];
}

dlc_status dlc_rt_train_step(dlc_model *m, int64_t n, const float *const *inputs, const void *const *labels,
                             float *loss) {
  dlc_status s = prepare_training(m, n, inputs, labels, "train_step");
  if (s) return s;
  float hyper[DLC_HYPER_COUNT];
  next_step_hyper(m, hyper);
  m->desc->train_step(m->arena, n, hyper);
  if (loss) *loss = m->arena[m->desc->loss_offset];
  return DLC_OK;
}

dlc_status dlc_rt_apply_update(dlc_model *m) {
  if (!m) return fail(NULL, DLC_ERR_NULL, "apply_update: the model is null");
  if (m->desc->loss_offset < 0 || !m->desc->update)
    return fail(m, DLC_ERR_STATE, "apply_update: model '%s' has no loss", m->desc->api->model_name);
  float hyper[DLC_HYPER_COUNT];
  next_step_hyper(m, hyper);
  m->desc->update(m->arena, 1, hyper);
  return DLC_OK;
}

/* The arena range [begin, end) that holds, for every param, the buffers in
 * `mask` (1 the param, 2 its optimizer state, 4 its gradient). The layout
 * places params, state and gradients each contiguously, in that order
 * (codegen/Layout.cpp); 0 if the range has gaps. */
static int64_t padded(int64_t count) { return (count > 0 ? count + 15 : 16) / 16 * 16; }
static int param_range(const dlc_model *m, int mask, int64_t *begin, int64_t *end) {
  const dlc_rt_model *d = m->desc;
  int64_t lo = INT64_MAX, hi = -1, total = 0;
  for (int i = 0; i < d->api->tensor_count; ++i) {
    if (d->api->tensors[i].role != DLC_ROLE_PARAM) continue;
    const dlc_rt_tensor *t = &d->tensors[i];
    int64_t at[4] = {mask & 1 ? t->offset : -1, mask & 2 ? t->state[0] : -1, mask & 2 ? t->state[1] : -1,
                     mask & 4 ? t->grad_offset : -1};
    for (int k = 0; k < 4; ++k) {
      if (at[k] < 0) continue;
      if (at[k] < lo) lo = at[k];
      if (at[k] + padded(t->count) > hi) hi = at[k] + padded(t->count);
      total += padded(t->count);
    }
  }
  if (hi < 0) lo = hi = 0;
  *begin = lo, *end = hi;
  return hi - lo == total;
}

dlc_status dlc_rt_gradients(dlc_model *m, float **data, int64_t *count) {
  if (!m) return fail(NULL, DLC_ERR_NULL, "gradients: the model is null");
  if (!data || !count) return fail(m, DLC_ERR_NULL, "gradients: an output pointer is null");
  int64_t begin, end;
  if (m->desc->loss_offset < 0) return fail(m, DLC_ERR_STATE, "gradients: model '%s' has no loss", m->desc->api->model_name);
  if (!param_range(m, 4, &begin, &end)) return fail(m, DLC_ERR_STATE, "gradients: the gradients are not contiguous");
  *data = m->arena + begin, *count = end - begin;
  return DLC_OK;
}

dlc_status dlc_rt_training_state(dlc_model *m, float **data, int64_t *count) {
  if (!m) return fail(NULL, DLC_ERR_NULL, "training_state: the model is null");
  if (!data || !count) return fail(m, DLC_ERR_NULL, "training_state: an output pointer is null");
  int64_t begin, end;
  int ok = param_range(m, 1 | 2, &begin, &end);
  if (!ok) return fail(m, DLC_ERR_STATE, "training_state: the params and their state are not contiguous");
  *data = m->arena + begin, *count = end - begin;
  return DLC_OK;
}

dlc_status dlc_rt_set_step(dlc_model *m, int64_t step) {
  if (!m) return fail(NULL, DLC_ERR_NULL, "set_step: the model is null");
  if (step < 0) return fail(m, DLC_ERR_VALUE, "set_step: step %lld is negative", (long long)step);
  m->step = step;
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

/* The param's storage in the arena (a host's zero-copy view), or NULL. */
float *dlc_rt_param_data(dlc_model *m, const char *name, int64_t count) {
  int64_t off;
  return param_access(m, name, count, m, 0, "param_data", &off) == DLC_OK ? m->arena + off : NULL;
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
  if (strcmp(key, "threads") == 0) {
    if (!(value >= 1 && value <= DLC_MAX_THREADS) || value != floor(value))
      return fail(m, DLC_ERR_VALUE, "set_hyper: threads = %g is not allowed (1..%d)", value, DLC_MAX_THREADS);
    dlc_set_num_threads((int)value);
    return DLC_OK;
  }
  for (int h = 0; h < DLC_HYPER_SETTINGS; ++h) {
    if (strcmp(key, hyper_keys[h]) != 0) continue;
    if (!isfinite(value) || value < 0) return fail(m, DLC_ERR_VALUE, "set_hyper: %s = %g is not allowed", key, value);
    if (!hyper_used[m->desc->optimizer == DLC_OPT_ADAM][h])
      return fail(m, DLC_ERR_NAME, "set_hyper: the %s update does not use '%s'",
                  m->desc->optimizer == DLC_OPT_ADAM ? "adam" : "sgd", key);
    m->hyper[h] = value;
    return DLC_OK;
  }
  return fail(m, DLC_ERR_NAME, "set_hyper: unknown setting '%s' (%s)", key, hyper_key_list);
}

const char *dlc_rt_last_error(const dlc_model *m) { return m ? m->error : create_error; }

int64_t dlc_rt_step(const dlc_model *m) { return m ? m->step : 0; }

double dlc_rt_get_hyper(const dlc_model *m, const char *key) {
  if (m && key && strcmp(key, "threads") == 0) return dlc_get_num_threads();
  for (int h = 0; m && key && h < DLC_HYPER_SETTINGS; ++h)
    if (strcmp(key, hyper_keys[h]) == 0) return m->hyper[h];
  return NAN;
}

/*===- Checkpoints: safetensors --------------------------------------------===*
 * u64 header length | JSON header | raw little-endian data. The header maps
 * each tensor name to {"dtype":"F32","shape":[..],"data_offsets":[begin,end]}
 * and "__metadata__" to string pairs (format, model, step). */

typedef struct {
  char name[160];
  int64_t shape[DLC_MAX_RANK];
  int rank;
  int64_t begin, end;
  int f32;
} ckpt_entry;

/* The checkpoint's tensors of a model: params and their optimizer state. */
typedef struct {
  char name[160];
  int64_t offset, count;
  int tensor; /* index in the tensor table */
} ckpt_item;

static int checkpoint_items(const dlc_model *m, ckpt_item *items, int max) {
  static const char *const suffix[2][2] = {{":z", ""}, {":m", ":v"}};
  const dlc_rt_model *d = m->desc;
  int k = 0;
  for (int i = 0; i < d->api->tensor_count && k < max; ++i) {
    if (d->api->tensors[i].role != DLC_ROLE_PARAM) continue;
    const dlc_rt_tensor *t = &d->tensors[i];
    snprintf(items[k].name, sizeof items[k].name, "%s", d->api->tensors[i].name);
    items[k].offset = t->offset, items[k].count = t->count, items[k].tensor = i;
    ++k;
    for (int s = 0; s < 2 && k < max; ++s) {
      if (t->state[s] < 0) continue;
      snprintf(items[k].name, sizeof items[k].name, "%s%s", d->api->tensors[i].name,
               suffix[d->optimizer == DLC_OPT_ADAM][s]);
      items[k].offset = t->state[s], items[k].count = t->count, items[k].tensor = i;
      ++k;
    }
  }
  return k;
}

dlc_status dlc_rt_save(const dlc_model *m, const char *path) {
  dlc_model *mm = (dlc_model *)m;
  if (!m) return fail(NULL, DLC_ERR_NULL, "save: the model is null");
  if (!path) return fail(mm, DLC_ERR_NULL, "save: the path is null");
  int max = 3 * m->desc->api->tensor_count + 1;
  ckpt_item *items = (ckpt_item *)calloc((size_t)max, sizeof(ckpt_item));
  if (!items) return fail(mm, DLC_ERR_NOMEM, "save: out of memory");
  int count = checkpoint_items(m, items, max);
  size_t cap = 256 + (size_t)count * 256, len = 0;
  char *header = (char *)malloc(cap);
  if (!header) {
    free(items);
    return fail(mm, DLC_ERR_NOMEM, "save: out of memory");
  }
  len += (size_t)snprintf(header + len, cap - len, "{\"__metadata__\":{\"format\":\"dlc\",\"model\":\"%s\",\"step\":\"%lld\"}",
                          m->desc->api->model_name, (long long)m->step);
  int64_t at = 0;
  for (int k = 0; k < count; ++k) {
    const dlc_tensor_info *info = &m->desc->api->tensors[items[k].tensor];
    len += (size_t)snprintf(header + len, cap - len, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[", items[k].name);
    for (int r = 0; r < info->rank; ++r)
      len += (size_t)snprintf(header + len, cap - len, "%s%lld", r ? "," : "", (long long)info->dims[r]);
    len += (size_t)snprintf(header + len, cap - len, "],\"data_offsets\":[%lld,%lld]}", (long long)at,
                            (long long)(at + 4 * items[k].count));
    at += 4 * items[k].count;
  }
  len += (size_t)snprintf(header + len, cap - len, "}");
  while (len % 8) header[len++] = ' ';

  char tmp[4096];
  int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
  dlc_status status = DLC_OK;
  FILE *f = n > 0 && (size_t)n < sizeof tmp ? fopen(tmp, "wb") : NULL;
  if (!f) {
    status = fail(mm, DLC_ERR_IO, "save: cannot write '%s'", tmp);
  } else {
    unsigned char size[8];
    for (int b = 0; b < 8; ++b) size[b] = (unsigned char)(((uint64_t)len >> (8 * b)) & 0xff);
    int ok = fwrite(size, 1, 8, f) == 8 && fwrite(header, 1, len, f) == len;
    for (int k = 0; ok && k < count; ++k)
      ok = fwrite(m->arena + items[k].offset, sizeof(float), (size_t)items[k].count, f) == (size_t)items[k].count;
    ok = (fflush(f) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
      remove(tmp);
      status = fail(mm, DLC_ERR_IO, "save: writing '%s' failed; the old file, if any, is unchanged", path);
    }
  }
  free(header);
  free(items);
  return status;
}

/* A small JSON reader for the safetensors header. */
typedef struct {
  const char *p, *end;
} json;

static void ws(json *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t')) ++j->p;
}
static int take(json *j, char c) {
  ws(j);
  if (j->p < j->end && *j->p == c) {
    ++j->p;
    return 1;
  }
  return 0;
}
static int string(json *j, char *out, size_t cap) {
  if (!take(j, '"')) return 0;
  size_t n = 0;
  while (j->p < j->end && *j->p != '"') {
    char c = *j->p++;
    if (c == '\\') {
      if (j->p >= j->end) return 0;
      c = *j->p++;
      if (c == 'u') return 0; /* not produced by dlc; names are plain */
    }
    if (n + 1 >= cap) return 0;
    out[n++] = c;
  }
  if (j->p >= j->end) return 0;
  ++j->p;
  out[n] = 0;
  return 1;
}
static int integer(json *j, int64_t *out) {
  ws(j);
  int64_t v = 0;
  const char *start = j->p;
  while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
    if (v > (INT64_MAX - 9) / 10) return 0;
    v = v * 10 + (*j->p++ - '0');
  }
  *out = v;
  return j->p > start;
}
static int int_array(json *j, int64_t *out, int max, int *count) {
  if (!take(j, '[')) return 0;
  *count = 0;
  if (take(j, ']')) return 1;
  do {
    if (*count >= max || !integer(j, &out[(*count)++])) return 0;
  } while (take(j, ','));
  return take(j, ']');
}
/* Skips any value (for keys a reader does not need). */
static int skip(json *j, int depth) {
  ws(j);
  if (depth > 16 || j->p >= j->end) return 0;
  char tmp[256];
  if (*j->p == '"') return string(j, tmp, sizeof tmp);
  if (*j->p == '{' || *j->p == '[') {
    char close = *j->p == '{' ? '}' : ']';
    int object = *j->p == '{';
    ++j->p;
    if (take(j, close)) return 1;
    do {
      if (object && !(string(j, tmp, sizeof tmp) && take(j, ':'))) return 0;
      if (!skip(j, depth + 1)) return 0;
    } while (take(j, ','));
    return take(j, close);
  }
  while (j->p < j->end && (strchr("-+.eE0123456789truefalsn", *j->p))) ++j->p;
  return 1;
}

static int tensor_entry(json *j, ckpt_entry *e) {
  if (!take(j, '{')) return 0;
  char key[64], dtype[16] = "";
  int haveShape = 0, haveOffsets = 0;
  do {
    if (!string(j, key, sizeof key) || !take(j, ':')) return 0;
    if (strcmp(key, "dtype") == 0) {
      if (!string(j, dtype, sizeof dtype)) return 0;
    } else if (strcmp(key, "shape") == 0) {
      if (!int_array(j, e->shape, DLC_MAX_RANK, &e->rank)) return 0;
      haveShape = 1;
    } else if (strcmp(key, "data_offsets") == 0) {
      int64_t off[2];
      int n = 0;
      if (!int_array(j, off, 2, &n) || n != 2) return 0;
      e->begin = off[0], e->end = off[1];
      haveOffsets = 1;
    } else if (!skip(j, 0)) {
      return 0;
    }
  } while (take(j, ','));
  e->f32 = strcmp(dtype, "F32") == 0;
  return take(j, '}') && haveShape && haveOffsets;
}

/* The parsed JSON header of a checkpoint. */
typedef struct {
  ckpt_entry *entries; /* one per tensor, in file order */
  int count, max;
  int64_t step;
  const char *expected_model; /* the loading model's name */
  char model[160];            /* the checkpoint's, when it is another */
  int wrong_model;
} ckpt_header;

/* "__metadata__": {"format":..,"model":..,"step":"N"}. Stops at a model name
 * other than the expected one. */
static int read_metadata(json *j, ckpt_header *h) {
  int ok = take(j, '{');
  char key[64], value[160];
  while (ok && !take(j, '}')) {
    ok = string(j, key, sizeof key) && take(j, ':') && string(j, value, sizeof value);
    if (ok && strcmp(key, "step") == 0) h->step = strtoll(value, NULL, 10);
    if (ok && strcmp(key, "model") == 0 && strcmp(value, h->expected_model) != 0) {
      snprintf(h->model, sizeof h->model, "%s", value);
      h->wrong_model = 1;
      return 0;
    }
    if (ok) take(j, ',');
  }
  return ok;
}

/* The header object: the metadata and one entry per tensor. */
static int read_header(json *j, ckpt_header *h) {
  char key[160];
  if (!take(j, '{')) return 0;
  if (take(j, '}')) return 1;
  int ok;
  do {
    ok = string(j, key, sizeof key) && take(j, ':');
    if (!ok) break;
    if (strcmp(key, "__metadata__") == 0) {
      ok = read_metadata(j, h);
    } else {
      if (h->count >= h->max) return 0;
      ckpt_entry *e = &h->entries[h->count++];
      snprintf(e->name, sizeof e->name, "%s", key);
      ok = tensor_entry(j, e);
    }
  } while (ok && take(j, ','));
  return ok && take(j, '}');
}

/* The whole file, or NULL (with *size -1 when it cannot be read). */
static char *read_file(const char *path, long *size) {
  FILE *f = fopen(path, "rb");
  *size = -1;
  if (!f) return NULL;
  char *bytes = NULL;
  if (fseek(f, 0, SEEK_END) == 0) *size = ftell(f);
  if (*size >= 0 && fseek(f, 0, SEEK_SET) == 0) bytes = (char *)malloc((size_t)*size + 1);
  int ok = bytes && fread(bytes, 1, (size_t)*size, f) == (size_t)*size;
  fclose(f);
  if (!ok) {
    free(bytes);
    return NULL;
  }
  return bytes;
}

/* Copies the checkpoint's data of `item` into `staged` after checking its
 * dtype, shape and extent; an absent optimizer state starts at zero. */
static dlc_status stage_item(dlc_model *m, const char *path, const ckpt_item *item, const ckpt_header *h,
                             const char *data, uint64_t data_size, float *staged) {
  const dlc_tensor_info *info = &m->desc->api->tensors[item->tensor];
  const ckpt_entry *e = NULL;
  for (int i = 0; i < h->count && !e; ++i)
    if (strcmp(h->entries[i].name, item->name) == 0) e = &h->entries[i];
  int is_state = strcmp(item->name, info->name) != 0;
  if (!e && is_state) { /* a checkpoint without optimizer state */
    memset(staged + item->offset, 0, (size_t)item->count * sizeof(float));
    return DLC_OK;
  }
  if (!e) return fail(m, DLC_ERR_FORMAT, "load: '%s' has no tensor '%s'", path, item->name);
  int same = e->f32 && e->rank == info->rank;
  for (int r = 0; same && r < info->rank; ++r) same = e->shape[r] == info->dims[r];
  if (!same) return fail(m, DLC_ERR_FORMAT, "load: tensor '%s' in '%s' has the wrong dtype or shape", item->name, path);
  if (e->begin < 0 || e->end < e->begin || (uint64_t)e->end > data_size || e->end - e->begin != 4 * item->count)
    return fail(m, DLC_ERR_FORMAT, "load: tensor '%s' in '%s' points outside the file", item->name, path);
  memcpy(staged + item->offset, data + e->begin, (size_t)item->count * sizeof(float));
  return DLC_OK;
}

/* Reads the file, parses its header, stages every param and optimizer state
 * in a copy of the arena, and only when all of them are there and right
 * replaces the arena and the step count. */
dlc_status dlc_rt_load(dlc_model *m, const char *path) {
  if (!m) return fail(NULL, DLC_ERR_NULL, "load: the model is null");
  if (!path) return fail(m, DLC_ERR_NULL, "load: the path is null");
  long size;
  char *bytes = read_file(path, &size);
  if (!bytes) return fail(m, DLC_ERR_IO, "load: cannot read '%s'", path);
  dlc_status status = DLC_OK;
  const dlc_rt_model *d = m->desc;
  int max = 3 * d->api->tensor_count + 1;
  ckpt_item *items = (ckpt_item *)calloc((size_t)max, sizeof(ckpt_item));
  ckpt_header h = {(ckpt_entry *)calloc((size_t)max + 64, sizeof(ckpt_entry)), 0, max + 64, 0, d->api->model_name, "", 0};
  float *staged = (float *)malloc((size_t)d->arena_size * sizeof(float));
  int count = items ? checkpoint_items(m, items, max) : 0;
  uint64_t hlen = 0;
  for (int b = 0; size >= 8 && b < 8; ++b) hlen |= (uint64_t)(unsigned char)bytes[b] << (8 * b);
  if (!items || !h.entries || !staged) {
    status = fail(m, DLC_ERR_NOMEM, "load: out of memory");
  } else if (size < 8 || hlen > (uint64_t)size - 8) {
    status = fail(m, DLC_ERR_FORMAT, "load: '%s' is not a safetensors checkpoint (bad header size)", path);
  } else {
    json j = {bytes + 8, bytes + 8 + hlen};
    int ok = read_header(&j, &h);
    if (h.wrong_model)
      status = fail(m, DLC_ERR_FORMAT, "load: '%s' is a checkpoint of model '%s', not '%s'", path, h.model,
                    d->api->model_name);
    else if (!ok)
      status = fail(m, DLC_ERR_FORMAT, "load: '%s' has a malformed header", path);
  }
  if (status == DLC_OK) {
    memcpy(staged, m->arena, (size_t)d->arena_size * sizeof(float));
    for (int k = 0; k < count && status == DLC_OK; ++k)
      status = stage_item(m, path, &items[k], &h, bytes + 8 + hlen, (uint64_t)size - 8 - hlen, staged);
  }
  if (status == DLC_OK) {
    memcpy(m->arena, staged, (size_t)d->arena_size * sizeof(float));
    m->step = h.step;
  }
  free(bytes);
  free(items);
  free(h.entries);
  free(staged);
  return status;
}
