/*===- runtime/model_runtime.c - The C ABI over a compiled model ----------===*
 *
 * Model-independent: checks every argument, copies inputs and labels into the
 * model's arena, calls the compiled entry points, and keeps the optimizer's
 * step count and hyperparameters; checkpoints are in checkpoint.c. Compiled
 * into each model's .so (C99, libc and libm only).
 *
 *===----------------------------------------------------------------------===*/
#define _POSIX_C_SOURCE 200809L /* sched_yield */
#include "model_runtime.h"
#include "model_state.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
/* Every key set_hyper takes, for its message: "lr, momentum, ..., threads, check_numerics". */
static const char hyper_key_list[] =
#define DLC_HYPER(Id, key, gd, sgd, adam, sgdDefault, adamDefault, meaning) key ", "
#include "Hyperparameters.def"
    "threads, adaptive_threads, check_numerics";

static char create_error[256];

/* The kernels run with subnormal floats flushed to zero: results below
 * FLT_MIN (1.2e-38) become 0 (x86's FTZ) and subnormal operands read as 0
 * (DAZ; AArch64's FZ does both), as TensorFlow's CPU executor runs its ops.
 * On Intel cores an operation on a subnormal takes a hundred cycles or more:
 * the small benchmark's step, whose gradients go subnormal as it converges,
 * took 0.25 ms instead of 0.125 on the Xeon of session 8. The caller's mode
 * is restored on return; the pool's workers flush from their start. */
typedef unsigned long long fp_mode;
static fp_mode flush_subnormals(void) {
#if defined(__x86_64__) || defined(__i386__)
  unsigned csr = __builtin_ia32_stmxcsr();
  __builtin_ia32_ldmxcsr(csr | 0x8040u); /* FTZ (bit 15) | DAZ (bit 6) */
  return csr;
#elif defined(__aarch64__)
  fp_mode fpcr;
  __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
  __asm__ volatile("msr fpcr, %0" : : "r"(fpcr | (1ull << 24))); /* FZ */
  return fpcr;
#else
  return 0;
#endif
}
static void restore_fp_mode(fp_mode saved) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_ldmxcsr((unsigned)saved);
#elif defined(__aarch64__)
  __asm__ volatile("msr fpcr, %0" : : "r"(saved));
#else
  (void)saved;
#endif
}

dlc_status dlc_rt_fail(dlc_model *m, dlc_status s, const char *fmt, ...) {
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
 * condition variable. A job is cut into one share per thread; the caller
 * and every worker that is awake claim shares from a counter until none is
 * left, and the caller waits only for the shares claimed. So a worker that
 * the scheduler has not run yet (the other core busy with another process)
 * holds nobody up: the caller runs its share too (measured: on a loaded
 * machine the small model's 2-thread step took 0.34 ms with fixed shares,
 * each waiting for the worker to get its core, against 0.10 at 1 thread).
 * Which thread runs a share does not change its values (the workspace is
 * scratch). Both waits yield the CPU after a short spin: when the scheduler
 * puts the caller and a worker on the same core, a pure spin would hold the
 * core for a whole time slice while the other waits (measured: mnist's
 * 2-thread step went from 1.2 to 2.8 ms in such processes). A call while
 * another is in flight (two models trained from two host threads) runs
 * serially. */

static struct {
  pthread_mutex_t mu;
  pthread_cond_t wake;
  int threads, started, configured;
  uint64_t generation;
  uint64_t claims; /* (shares << 32) | the next share to claim, of the job in flight */
  int64_t done;    /* its shares finished */
  int busy;
  int job_threads; /* the thread count of the job in flight */
  dlc_rows_fn fn;
  float *arena;
  const float *hyper;
  int64_t n, total, grain;
  uint64_t first_generation[DLC_MAX_THREADS]; /* what a new worker has already seen */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 1, 0, 0, 0, 0, 0, 0, 1, NULL, NULL, NULL, 0, 0, 0, {0}};

static void run_share(int tid, int64_t share, int64_t shares) {
  int64_t chunks = (pool.total + pool.grain - 1) / pool.grain;
  int64_t lo = chunks * share / shares * pool.grain, hi = chunks * (share + 1) / shares * pool.grain;
  if (hi > pool.total) hi = pool.total;
  if (lo < hi) pool.fn(pool.arena, pool.n, lo, hi, tid, pool.hyper);
}

/* Claims and runs shares of the job in flight until none is left. A claim
 * that reads the caller's release store of `claims` (or a later claim) sees
 * the job's fields; a stale worker's claim lands on the job in flight, past
 * its last share or on a share of it. */
static void run_shares(int tid) {
  for (;;) {
    uint64_t c = __atomic_fetch_add(&pool.claims, 1, __ATOMIC_ACQ_REL);
    int64_t share = (int64_t)(c & 0xffffffffu), shares = (int64_t)(c >> 32);
    if (share >= shares) return;
    run_share(tid, share, shares);
    __atomic_add_fetch(&pool.done, 1, __ATOMIC_RELEASE);
  }
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
  (void)flush_subnormals(); /* a worker runs only kernels */
  uint64_t seen = pool.first_generation[tid];
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
    if (tid < __atomic_load_n(&pool.job_threads, __ATOMIC_RELAXED)) run_shares(tid);
  }
  return NULL;
}

/* Holds the pool against jobs: waits until the job in flight (if any) has
 * finished. While it is held, dlc_parallel_for runs its rows serially. */
static void hold_pool(void) {
  for (long spins = 0; __atomic_exchange_n(&pool.busy, 1, __ATOMIC_ACQUIRE); ++spins) {
    if (spins > 2000) sched_yield();
    else spin_pause();
  }
}
static void release_pool(void) { __atomic_store_n(&pool.busy, 0, __ATOMIC_RELEASE); }

/* Safe at any time, from any thread: a change waits for the product in
 * flight to finish, and every product runs with one thread count from start
 * to end. Results do not depend on the count (rows split on tile
 * boundaries, convolution chunks fixed), so a step that sees a change
 * between two of its products still computes the same values. */
int dlc_set_num_threads(int threads) {
  hold_pool();
  pthread_mutex_lock(&pool.mu);
  __atomic_store_n(&pool.configured, 1, __ATOMIC_RELEASE);
  if (threads < 1) threads = 1;
  if (threads > DLC_MAX_THREADS) threads = DLC_MAX_THREADS;
  while (pool.started < threads - 1) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pool.first_generation[pool.started + 1] = pool.generation;
    int ok = pthread_create(&t, &attr, pool_worker, (void *)(intptr_t)(pool.started + 1)) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) break;
    ++pool.started;
  }
  int now = pool.started + 1 < threads ? pool.started + 1 : threads;
  __atomic_store_n(&pool.threads, now, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&pool.mu);
  release_pool();
  return now;
}

int dlc_get_num_threads(void) {
  if (!__atomic_load_n(&pool.configured, __ATOMIC_ACQUIRE)) {
    const char *env = getenv("DLC_NUM_THREADS");
    dlc_set_num_threads(env ? atoi(env) : 1);
  }
  return __atomic_load_n(&pool.threads, __ATOMIC_ACQUIRE);
}

/* The threads the calling thread's entry in flight may use (0: the pool's
 * count): its governor's choice (dlc_governor_threads). */
static __thread int call_threads;
/* Whether that entry's call had work to split (else the governor marks it
 * serial: the split pattern depends on the batch alone, as extents are
 * constants or the batch). */
static __thread int call_splits;

void dlc_parallel_for(dlc_rows_fn fn, float *arena, int64_t n, int64_t total, int64_t grain, const float *hyper) {
  if (total >= 2 * grain) call_splits = 1;
  if (call_threads == 1 || dlc_get_num_threads() <= 1 || total < 2 * grain ||
      __atomic_exchange_n(&pool.busy, 1, __ATOMIC_ACQUIRE)) {
    fn(arena, n, 0, total, 0, hyper);
    return;
  }
  int threads = __atomic_load_n(&pool.threads, __ATOMIC_ACQUIRE); /* fixed while this job holds the pool */
  if (call_threads > 0 && call_threads < threads) threads = call_threads;
  if (threads <= 1) {
    release_pool();
    fn(arena, n, 0, total, 0, hyper);
    return;
  }
  __atomic_store_n(&pool.job_threads, threads, __ATOMIC_RELAXED);
  pool.fn = fn, pool.arena = arena, pool.hyper = hyper, pool.n = n, pool.total = total, pool.grain = grain;
  __atomic_store_n(&pool.done, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&pool.claims, (uint64_t)threads << 32, __ATOMIC_RELEASE);
  pthread_mutex_lock(&pool.mu);
  __atomic_add_fetch(&pool.generation, 1, __ATOMIC_RELEASE);
  pthread_cond_broadcast(&pool.wake);
  pthread_mutex_unlock(&pool.mu);
  run_shares(0);
  for (long spins = 0; __atomic_load_n(&pool.done, __ATOMIC_ACQUIRE) < threads; ++spins) {
    if (spins > 2000) sched_yield();
    else spin_pause();
  }
  release_pool();
}

/*===- The thread governor (model_runtime.h) -------------------------------===*/

int dlc_governor_threads(dlc_governor *g, int64_t batch, int wanted) {
  if (wanted <= 1) {
    g->last = 0; /* nothing to choose: not timed */
    return 1;
  }
  if (g->wanted != wanted || g->batch != batch) { /* start over */
    memset(g, 0, sizeof *g);
    g->wanted = wanted;
    g->batch = batch;
    g->cycle = DLC_GOVERNOR_FIRST_CYCLE;
    g->best[0] = g->best[1] = INFINITY;
  }
  if (g->serial) {
    g->last = 0;
    return wanted;
  }
  if (g->phase < DLC_GOVERNOR_EXPLORE) g->last = g->phase < DLC_GOVERNOR_EXPLORE / 2 ? wanted : 1;
  else g->last = g->choice;
  return g->last;
}

static void explore_again(dlc_governor *g) {
  g->phase = 0;
  g->best[0] = g->best[1] = INFINITY;
}

void dlc_governor_record(dlc_governor *g, double seconds) {
  if (g->last == 0) return;
  if (g->phase < DLC_GOVERNOR_EXPLORE) {
    int i = g->last > 1;
    /* The first call of each half moves the data to where the count puts
     * it (and wakes the workers): not sampled. (Alternating the counts call
     * by call, cnn's one-thread calls took 0.72 ms instead of 0.57.) */
    if (g->phase % (DLC_GOVERNOR_EXPLORE / 2) != 0 && seconds < g->best[i]) g->best[i] = seconds;
    if (++g->phase < DLC_GOVERNOR_EXPLORE) return;
    int choice = g->best[0] < g->best[1] ? 1 : g->wanted;
    if (choice != g->choice) g->cycle = DLC_GOVERNOR_FIRST_CYCLE;
    else if (g->cycle < DLC_GOVERNOR_LONGEST_CYCLE) g->cycle *= 2;
    g->choice = choice;
    g->left = g->cycle;
    g->slow = 0;
    return;
  }
  g->slow = seconds > 1.5 * g->best[g->choice > 1] ? g->slow + 1 : 0;
  if (g->slow >= 8) { /* the machine changed: choose afresh, from the first cycle */
    g->choice = 0;
    explore_again(g);
  } else if (--g->left <= 0) {
    explore_again(g);
  }
}

static double seconds_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

enum { ENTRY_FORWARD, ENTRY_LOSS_AND_GRAD, ENTRY_TRAIN_STEP };

/* Sets the threads of an entry's call (its governor's choice) and returns
 * its start time, or -1 when there is nothing to choose (one thread, or the
 * governor off, an entry with no work to split): then it is not timed. */
static double begin_call(dlc_model *m, int entry, int64_t n) {
  int wanted = dlc_get_num_threads();
  int governed = m->adaptive_threads && wanted > 1;
  call_threads = governed ? dlc_governor_threads(&m->governor[entry], n, wanted) : wanted;
  call_splits = 0;
  m->step_threads = call_threads;
  return governed && m->governor[entry].last ? seconds_now() : -1;
}

static void end_call(dlc_model *m, int entry, double start) {
  if (start >= 0) {
    if (call_splits) dlc_governor_record(&m->governor[entry], seconds_now() - start);
    else m->governor[entry].serial = 1;
  }
  call_threads = 0;
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
  m->adaptive_threads = 1;
  m->arena = dlc_rt_arena_alloc(d->arena_size, &m->arena_mapped);
  if (!m->arena) {
    free(m);
    return fail(NULL, DLC_ERR_NOMEM, "create: out of memory for a %lld-float arena", (long long)d->arena_size);
  }
  uint64_t draws = 0; /* the params take their draws in table order (param_init.c), then the state (which follows them) */
  for (int i = 0; i < d->api->tensor_count; ++i)
    if (d->api->tensors[i].role == DLC_ROLE_PARAM || d->api->tensors[i].role == DLC_ROLE_STATE)
      draws += dlc_rt_init_param(&d->tensors[i], m->arena + d->tensors[i].offset, seed, draws);
  for (int h = 0; h < DLC_HYPER_SETTINGS; ++h) m->hyper[h] = d->hyper_default[h];
  *out = m;
  return DLC_OK;
}

void dlc_rt_destroy(dlc_model *m) {
  if (!m) return;
  dlc_rt_arena_free(m->arena, m->arena_mapped);
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

/*===- check_numerics -----------------------------------------------------===*
 * With set_hyper("check_numerics", 1) every call checks the tensors it read
 * and wrote, in the order a step computes them: inputs and params before it,
 * then the loss (L), the gradients (dL/dNAME), the params after the update,
 * the outputs. The first NaN or Inf fails the call with DLC_ERR_VALUE and a
 * message naming the value and the element. */
enum { CHECK_INPUTS = 1, CHECK_PARAMS = 2, CHECK_LOSS = 4, CHECK_GRADS = 8, CHECK_OUTPUTS = 16 };

static dlc_status check_tensor(dlc_model *m, const char *call, const char *prefix, const char *name, int64_t offset,
                               int64_t count, const char *when) {
  const float *p = m->arena + offset;
  for (int64_t j = 0; j < count; ++j)
    if (!isfinite(p[j]))
      return fail(m, DLC_ERR_VALUE, "%s: %s%s[%lld] is %s%s (check_numerics: the first non-finite value)", call, prefix,
                  name, (long long)j, isnan(p[j]) ? "NaN" : p[j] > 0 ? "+Inf" : "-Inf", when);
  return DLC_OK;
}

/* The tensors of one phase (`what`, one CHECK_ bit) that a call checks. */
static dlc_status check_phase(dlc_model *m, int64_t n, int phase, const char *call, const char *when) {
  const dlc_rt_model *d = m->desc;
  if (phase == CHECK_LOSS) return check_tensor(m, call, "", "L", d->loss_offset, 1, "");
  for (int i = 0; i < d->api->tensor_count; ++i) {
    const dlc_tensor_info *info = &d->api->tensors[i];
    const dlc_rt_tensor *t = &d->tensors[i];
    int64_t count = t->batched ? n * t->count : t->count, offset = t->offset;
    const char *prefix = "";
    if (phase == CHECK_INPUTS && info->role != DLC_ROLE_INPUT) continue;
    if (phase == CHECK_PARAMS && info->role != DLC_ROLE_PARAM && info->role != DLC_ROLE_STATE) continue;
    if (phase == CHECK_OUTPUTS && info->role != DLC_ROLE_OUTPUT) continue;
    if (phase == CHECK_GRADS) {
      if (info->role != DLC_ROLE_PARAM || t->grad_offset < 0) continue;
      offset = t->grad_offset, prefix = "dL/d";
    }
    dlc_status s = check_tensor(m, call, prefix, info->name, offset, count, when);
    if (s) return s;
  }
  return DLC_OK;
}

static dlc_status check_numerics(dlc_model *m, int64_t n, int what, const char *call, const char *when) {
  if (!m->check_numerics) return DLC_OK;
  for (int phase = CHECK_INPUTS; phase <= CHECK_OUTPUTS; phase <<= 1) {
    dlc_status s = what & phase ? check_phase(m, n, phase, call, when) : DLC_OK;
    if (s) return s;
  }
  return DLC_OK;
}

dlc_status dlc_rt_forward(dlc_model *m, int64_t n, const float *const *inputs, float *const *outputs) {
  if (!m) return fail(NULL, DLC_ERR_NULL, "forward: the model is null");
  dlc_status s = check_batch(m, n);
  if (s) return s;
  if ((!inputs && count_role(m, DLC_ROLE_INPUT)) || (!outputs && count_role(m, DLC_ROLE_OUTPUT)))
    return fail(m, DLC_ERR_NULL, "forward: the input or output array is null");
  if ((s = copy_in(m, n, DLC_ROLE_INPUT, (const void *const *)inputs))) return s;
  if ((s = check_numerics(m, n, CHECK_INPUTS | CHECK_PARAMS, "forward", ""))) return s;
  fp_mode mode = flush_subnormals();
  double start = begin_call(m, ENTRY_FORWARD, n);
  m->desc->forward(m->arena, n);
  end_call(m, ENTRY_FORWARD, start);
  restore_fp_mode(mode);
  const dlc_rt_model *d = m->desc;
  int k = 0;
  for (int i = 0; i < d->api->tensor_count; ++i) {
    if (d->api->tensors[i].role != DLC_ROLE_OUTPUT) continue;
    float *dst = outputs[k++];
    const dlc_rt_tensor *t = &d->tensors[i];
    if (dst) memcpy(dst, m->arena + t->offset, (size_t)(t->batched ? n * t->count : t->count) * sizeof(float));
  }
  return check_numerics(m, n, CHECK_OUTPUTS, "forward", "");
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
  if ((s = check_numerics(m, n, CHECK_INPUTS | CHECK_PARAMS, "loss_and_grad", ""))) return s;
  fp_mode mode = flush_subnormals();
  double start = begin_call(m, ENTRY_LOSS_AND_GRAD, n);
  m->desc->loss_and_grad(m->arena, n);
  end_call(m, ENTRY_LOSS_AND_GRAD, start);
  restore_fp_mode(mode);
  if (loss) *loss = m->arena[m->desc->loss_offset];
  return check_numerics(m, n, CHECK_LOSS | CHECK_GRADS, "loss_and_grad", "");
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
  if ((s = check_numerics(m, n, CHECK_INPUTS | CHECK_PARAMS, "train_step", ""))) return s;
  float hyper[DLC_HYPER_COUNT];
  next_step_hyper(m, hyper);
  fp_mode mode = flush_subnormals();
  double start = begin_call(m, ENTRY_TRAIN_STEP, n);
  m->desc->train_step(m->arena, n, hyper);
  end_call(m, ENTRY_TRAIN_STEP, start);
  restore_fp_mode(mode);
  if (loss) *loss = m->arena[m->desc->loss_offset];
  if ((s = check_numerics(m, n, CHECK_LOSS | CHECK_GRADS, "train_step", ""))) return s;
  return check_numerics(m, n, CHECK_PARAMS, "train_step", " after the update");
}

dlc_status dlc_rt_apply_update(dlc_model *m) {
  if (!m) return fail(NULL, DLC_ERR_NULL, "apply_update: the model is null");
  if (m->desc->loss_offset < 0 || !m->desc->update)
    return fail(m, DLC_ERR_STATE, "apply_update: model '%s' has no loss", m->desc->api->model_name);
  float hyper[DLC_HYPER_COUNT];
  next_step_hyper(m, hyper);
  fp_mode mode = flush_subnormals();
  m->desc->update(m->arena, 1, hyper);
  restore_fp_mode(mode);
  return check_numerics(m, 1, CHECK_PARAMS, "apply_update", " after the update");
}

/* The arena range [begin, end) that holds the buffers in `mask`: for every
 * param 1 the param, 2 its optimizer state, 4 its gradient; 8 every state
 * tensor. The layout places params, optimizer state, model state and
 * gradients each contiguously, in that order (codegen/Layout.cpp); 0 if the
 * range has gaps. */
enum { RANGE_PARAMS = 1, RANGE_OPTIMIZER = 2, RANGE_GRADS = 4, RANGE_STATE = 8 };
static int64_t padded(int64_t count) { return (count > 0 ? count + 15 : 16) / 16 * 16; }
static int param_range(const dlc_model *m, int mask, int64_t *begin, int64_t *end) {
  const dlc_rt_model *d = m->desc;
  int64_t lo = INT64_MAX, hi = -1, total = 0;
  for (int i = 0; i < d->api->tensor_count; ++i) {
    dlc_role role = d->api->tensors[i].role;
    if (role != DLC_ROLE_PARAM && role != DLC_ROLE_STATE) continue;
    const dlc_rt_tensor *t = &d->tensors[i];
    int param = role == DLC_ROLE_PARAM;
    int64_t at[4] = {(param ? mask & RANGE_PARAMS : mask & RANGE_STATE) ? t->offset : -1,
                     param && (mask & RANGE_OPTIMIZER) ? t->state[0] : -1,
                     param && (mask & RANGE_OPTIMIZER) ? t->state[1] : -1,
                     param && (mask & RANGE_GRADS) ? t->grad_offset : -1};
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
  if (!param_range(m, RANGE_GRADS, &begin, &end)) return fail(m, DLC_ERR_STATE, "gradients: the gradients are not contiguous");
  *data = m->arena + begin, *count = end - begin;
  return DLC_OK;
}

dlc_status dlc_rt_training_state(dlc_model *m, float **data, int64_t *count) {
  if (!m) return fail(NULL, DLC_ERR_NULL, "training_state: the model is null");
  if (!data || !count) return fail(m, DLC_ERR_NULL, "training_state: an output pointer is null");
  int64_t begin, end;
  int ok = param_range(m, RANGE_PARAMS | RANGE_OPTIMIZER | RANGE_STATE, &begin, &end);
  if (!ok) return fail(m, DLC_ERR_STATE, "training_state: the params and their state are not contiguous");
  *data = m->arena + begin, *count = end - begin;
  return DLC_OK;
}

dlc_status dlc_rt_model_state(dlc_model *m, float **data, int64_t *count) {
  if (!m) return fail(NULL, DLC_ERR_NULL, "model_state: the model is null");
  if (!data || !count) return fail(m, DLC_ERR_NULL, "model_state: an output pointer is null");
  int64_t begin, end;
  if (!param_range(m, RANGE_STATE, &begin, &end)) return fail(m, DLC_ERR_STATE, "model_state: the state is not contiguous");
  *data = m->arena + begin, *count = end - begin;
  return DLC_OK;
}

dlc_status dlc_rt_set_step(dlc_model *m, int64_t step) {
  if (!m) return fail(NULL, DLC_ERR_NULL, "set_step: the model is null");
  if (step < 0 || step > ((int64_t)1 << 53))
    return fail(m, DLC_ERR_VALUE, "set_step: step %lld is outside 0..2^53", (long long)step);
  m->step = step;
  return DLC_OK;
}

/* The arena offset of a param (or its gradient, `grad`) or a state tensor
 * (role DLC_ROLE_STATE) named `name`, checking the buffer's element count. */
static dlc_status tensor_access(const dlc_model *m, dlc_role role, const char *name, int64_t count, const void *data,
                                int grad, const char *what, int64_t *offset) {
  dlc_model *mm = (dlc_model *)m;
  const char *kind = role == DLC_ROLE_STATE ? "state tensor" : "param";
  if (!m) return fail(NULL, DLC_ERR_NULL, "%s: the model is null", what);
  if (!name || !data) return fail(mm, DLC_ERR_NULL, "%s: the name or the buffer is null", what);
  int i = find_tensor(m, name, role);
  if (i < 0) {
    int other = find_tensor(m, name, role == DLC_ROLE_STATE ? DLC_ROLE_PARAM : DLC_ROLE_STATE) >= 0;
    return fail(mm, DLC_ERR_NAME, "%s: no %s named '%s'%s", what, kind, name,
                !other ? "" : role == DLC_ROLE_STATE ? " (it is a param: get_param)" : " (it is model state: get_state)");
  }
  const dlc_rt_tensor *t = &m->desc->tensors[i];
  if (count != t->count)
    return fail(mm, DLC_ERR_SIZE, "%s: %s '%s' has %lld elements, the buffer %lld", what, kind, name,
                (long long)t->count, (long long)count);
  if (grad && t->grad_offset < 0) return fail(mm, DLC_ERR_STATE, "%s: no gradient for '%s'", what, name);
  *offset = grad ? t->grad_offset : t->offset;
  return DLC_OK;
}

static dlc_status param_access(const dlc_model *m, const char *name, int64_t count, const void *data, int grad,
                               const char *what, int64_t *offset) {
  return tensor_access(m, DLC_ROLE_PARAM, name, count, data, grad, what, offset);
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

dlc_status dlc_rt_get_state(const dlc_model *m, const char *name, float *data, int64_t count) {
  int64_t off;
  dlc_status s = tensor_access(m, DLC_ROLE_STATE, name, count, data, 0, "get_state", &off);
  if (!s) memcpy(data, m->arena + off, (size_t)count * sizeof(float));
  return s;
}

dlc_status dlc_rt_set_state(dlc_model *m, const char *name, const float *data, int64_t count) {
  int64_t off;
  dlc_status s = tensor_access(m, DLC_ROLE_STATE, name, count, data, 0, "set_state", &off);
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
  if (strcmp(key, "check_numerics") == 0) {
    if (value != 0 && value != 1) return fail(m, DLC_ERR_VALUE, "set_hyper: check_numerics = %g is not 0 or 1", value);
    m->check_numerics = (int)value;
    return DLC_OK;
  }
  if (strcmp(key, "adaptive_threads") == 0) {
    if (value != 0 && value != 1) return fail(m, DLC_ERR_VALUE, "set_hyper: adaptive_threads = %g is not 0 or 1", value);
    m->adaptive_threads = (int)value;
    memset(m->governor, 0, sizeof m->governor); /* on again: it starts over */
    return DLC_OK;
  }
  if (strcmp(key, "step_threads") == 0)
    return fail(m, DLC_ERR_NAME, "set_hyper: step_threads is read-only (the threads the last step ran on)");
  if (strcmp(key, "threads") == 0) {
    if (!(value >= 1 && value <= DLC_MAX_THREADS) || value != floor(value))
      return fail(m, DLC_ERR_VALUE, "set_hyper: threads = %g is not allowed (1..%d)", value, DLC_MAX_THREADS);
    dlc_set_num_threads((int)value);
    return DLC_OK;
  }
  for (int h = 0; h < DLC_HYPER_SETTINGS; ++h) {
    if (strcmp(key, hyper_keys[h]) != 0) continue;
    if (!isfinite(value) || value < 0) return fail(m, DLC_ERR_VALUE, "set_hyper: %s = %g is not allowed", key, value);
    if ((h == DLC_HYPER_Beta1 || h == DLC_HYPER_Beta2) && value >= 1) /* Adam divides by 1 - beta^t */
      return fail(m, DLC_ERR_VALUE, "set_hyper: %s = %g is not allowed (0 <= %s < 1)", key, value, key);
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
  if (m && key && strcmp(key, "check_numerics") == 0) return m->check_numerics;
  if (m && key && strcmp(key, "adaptive_threads") == 0) return m->adaptive_threads;
  if (m && key && strcmp(key, "step_threads") == 0) return m->step_threads;
  for (int h = 0; m && key && h < DLC_HYPER_SETTINGS; ++h)
    if (strcmp(key, hyper_keys[h]) == 0) return m->hyper[h];
  return NAN;
}
