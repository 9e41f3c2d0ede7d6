/*===- runtime/model_runtime.h - What a compiled model's glue knows -------===*
 *
 * The model-independent C glue (model_runtime.c) implements dlc/abi.h on top
 * of a descriptor table that dlc generates for each model: where each tensor
 * lives in the arena, how params are initialized, and the compiled entry
 * points. Both are compiled into every model's shared library; nothing here
 * is exported but dlc_get_api and the model's typed functions. The enums and
 * the tensor record come from the tables beside this file (*.def), which the
 * compiler reads too.
 *
 *===----------------------------------------------------------------------===*/
#ifndef DLC_MODEL_RUNTIME_H
#define DLC_MODEL_RUNTIME_H

#include <stddef.h>

#include "dlc/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The initializers of params and state (Initializers.def). */
typedef enum dlc_init_kind {
#define DLC_INIT(Id, name, args, argNames, valid, draw, shift, scale) DLC_INIT_##Id,
#include "Initializers.def"
  DLC_INIT_COUNT
} dlc_init_kind;

/* The slots of train_step's `hyper` array (Hyperparameters.def): the
 * settings, then the values the glue derives from them. */
typedef enum dlc_hyper {
#define DLC_HYPER(Id, key, gd, sgd, adam, sgdDefault, adamDefault, meaning) DLC_HYPER_##Id,
#include "Hyperparameters.def"
#define DLC_DERIVED_HYPER(Id, name, sgd, adam, value, meaning) DLC_HYPER_##Id,
#include "Hyperparameters.def"
  DLC_HYPER_COUNT
} dlc_hyper;
enum {
  DLC_HYPER_SETTINGS = 0 /* the count of settings */
#define DLC_HYPER(Id, key, gd, sgd, adam, sgdDefault, adamDefault, meaning) +1
#include "Hyperparameters.def"
};

enum { DLC_OPT_SGD, DLC_OPT_ADAM };

/* What the glue knows of one tensor (TensorRecord.def). */
typedef struct dlc_rt_tensor {
#define DLC_TENSOR_FIELD(type, name, array, meaning) type name array;
#include "TensorRecord.def"
} dlc_rt_tensor;

typedef struct dlc_rt_model {
  const dlc_api *api;          /* its tensor table, in the same order as tensors */
  const dlc_rt_tensor *tensors;
  int64_t arena_size;          /* floats */
  int optimizer;               /* DLC_OPT_* */
  int64_t loss_offset;         /* -1 without a loss */
  int64_t dropout_key_offset;  /* the arena float whose bits key the dropout masks; -1 without dropout */
  const double *hyper_default; /* DLC_HYPER_SETTINGS values, from the train block */
  void (*forward)(float *arena, int64_t n);
  void (*loss_and_grad)(float *arena, int64_t n);
  void (*train_step)(float *arena, int64_t n, const float *hyper); /* hyper: DLC_HYPER_COUNT values */
  void (*update)(float *arena, int64_t n, const float *hyper);     /* the optimizer step alone */
  /* What the code was compiled for: create refuses a CPU without one of the
   * features (a mask over CpuFeatures.def; 0 checks nothing, as in the JIT). */
  const char *target_triple, *target_cpu;
  uint64_t cpu_features;
} dlc_rt_model;

/* The running CPU's features of CpuFeatures.def (cpu_features.c), less those
 * DLC_CPU_HIDE names; and the names of the features in a mask, comma-separated. */
uint64_t dlc_cpu_features(void);
void dlc_cpu_feature_names(uint64_t features, char *out, size_t size);

/* The thread pool the compiled kernels split their large matrix products
 * (and optimizer updates) over. A kernel body runs rows [lo, hi) with thread
 * index tid (which picks its packing workspace) and the step's hyper array
 * (the update's; null for products); `total` rows are split into `threads`
 * ranges that are multiples of `grain`. One pool per process (per model library): at
 * most DLC_MAX_THREADS threads, 1 (no workers) until set otherwise through
 * set_hyper("threads", k) or the environment variable DLC_NUM_THREADS. */
#define DLC_MAX_THREADS 4
typedef void (*dlc_rows_fn)(float *arena, int64_t n, int64_t lo, int64_t hi, int64_t tid, const float *hyper);
void dlc_parallel_for(dlc_rows_fn fn, float *arena, int64_t n, int64_t total, int64_t grain, const float *hyper);
int dlc_set_num_threads(int threads); /* returns the count now in effect */
int dlc_get_num_threads(void);

/* The thread governor: which of the pool's `wanted` threads (> 1) or one
 * thread a model's next call runs on, from the times of its earlier calls.
 * On a VM the two vCPUs can sit on one physical core (SMT siblings) or on
 * far cores (a cache line's round trip between them 28 or 330 ns instead of
 * 65): then a step that splits its products over two threads can run slower
 * than on one (the cnn benchmark's 2-thread step 1.5 ms against 0.57 at one
 * thread on the Zen 4 of session 14, in such processes; 0.40 otherwise).
 * Results do not depend on the count, so the governor may switch between
 * any two steps. It explores (three calls at `wanted`, then three at one
 * thread, the last two of each timed), keeps the faster for a
 * cycle of steps (64, doubled up to 4096 each time exploring confirms the
 * choice), and explores again early when eight steps in a row take more than
 * 1.5 times the choice's explored time. A new batch size or thread count
 * starts over. An entry whose call split no work over the pool (a small
 * model: tiny's 0.4 us step) is not timed again until then. set_hyper("adaptive_threads", 0) turns it off. */
typedef struct {
  int64_t batch;    /* the batch size of the calls it times */
  int wanted;       /* the pool's thread count it chooses against (0: nothing yet) */
  int phase;        /* the exploration step (0..DLC_GOVERNOR_EXPLORE-1), or DLC_GOVERNOR_EXPLORE: the cycle */
  int last;         /* the thread count of the call in flight */
  int choice;       /* the threads of the cycle */
  int64_t left;     /* calls left in the cycle */
  int64_t cycle;    /* the cycle's length */
  int slow;         /* consecutive calls slower than 1.5x the choice's explored time */
  double best[2];   /* the fastest explored call: [0] one thread, [1] `wanted` */
  int serial;       /* a call of this batch had no work to split over the pool: nothing to choose, not timed */
} dlc_governor;
#define DLC_GOVERNOR_EXPLORE 6
#define DLC_GOVERNOR_FIRST_CYCLE 64
#define DLC_GOVERNOR_LONGEST_CYCLE 4096
/* The threads for the next call of batch `batch` with the pool at `wanted`. */
int dlc_governor_threads(dlc_governor *g, int64_t batch, int wanted);
/* The wall time of that call. */
void dlc_governor_record(dlc_governor *g, double seconds);

/* The 32 bits that key the dropout masks of training step `step` (1 for
 * the first) of a model created with `seed`: a splitmix64 mix of the two,
 * written to the arena before each loss_and_grad and train_step (for the
 * step train_step is about to take), so masks depend on the seed and the
 * step only (ir/DropoutMask.h draws them). */
static inline uint32_t dlc_rt_dropout_key(uint64_t seed, int64_t step) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (uint64_t)(step + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return (uint32_t)(z ^ (z >> 31));
}

/* The arena: `floats` zeroed floats (arena_memory.c: huge pages where the
 * OS has them); *mapped tells dlc_rt_arena_free how to release it. */
float *dlc_rt_arena_alloc(int64_t floats, size_t *mapped);
void dlc_rt_arena_free(float *arena, size_t mapped);

/* Writes the initial values of param t (its initializer, param_init.c) to
 * p[0..t->count) from draws first, first + 1, ... of `seed`; returns the
 * number of draws it took. */
uint64_t dlc_rt_init_param(const dlc_rt_tensor *t, float *p, uint64_t seed, uint64_t first);

/* The generic implementations, bound to one descriptor by generated code. */
dlc_status dlc_rt_create(const dlc_rt_model *d, uint64_t seed, dlc_model **out);
void dlc_rt_destroy(dlc_model *m);
dlc_status dlc_rt_forward(dlc_model *m, int64_t n, const float *const *inputs, float *const *outputs);
dlc_status dlc_rt_loss_and_grad(dlc_model *m, int64_t n, const float *const *inputs, const void *const *labels,
                                float *loss);
dlc_status dlc_rt_train_step(dlc_model *m, int64_t n, const float *const *inputs, const void *const *labels,
                             float *loss);
dlc_status dlc_rt_get_param(const dlc_model *m, const char *name, float *data, int64_t count);
dlc_status dlc_rt_set_param(dlc_model *m, const char *name, const float *data, int64_t count);
float *dlc_rt_param_data(dlc_model *m, const char *name, int64_t count);
dlc_status dlc_rt_get_grad(const dlc_model *m, const char *name, float *data, int64_t count);
dlc_status dlc_rt_get_state(const dlc_model *m, const char *name, float *data, int64_t count);
dlc_status dlc_rt_set_state(dlc_model *m, const char *name, const float *data, int64_t count);
dlc_status dlc_rt_set_hyper(dlc_model *m, const char *key, double value);
dlc_status dlc_rt_save(const dlc_model *m, const char *path);
dlc_status dlc_rt_load(dlc_model *m, const char *path);
const char *dlc_rt_last_error(const dlc_model *m);
/* The number of train steps taken (restored by load). */
int64_t dlc_rt_step(const dlc_model *m);
dlc_status dlc_rt_set_step(dlc_model *m, int64_t step);
dlc_status dlc_rt_gradients(dlc_model *m, float **data, int64_t *count);
dlc_status dlc_rt_training_state(dlc_model *m, float **data, int64_t *count);
dlc_status dlc_rt_model_state(dlc_model *m, float **data, int64_t *count);
dlc_status dlc_rt_apply_update(dlc_model *m);
/* The current value of a set_hyper setting; NAN for an unknown key. */
double dlc_rt_get_hyper(const dlc_model *m, const char *key);

#ifdef __cplusplus
}
#endif

#endif /* DLC_MODEL_RUNTIME_H */
