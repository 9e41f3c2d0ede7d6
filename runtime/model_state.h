/*===- runtime/model_state.h - A model instance, inside the glue ----------===*
 *
 * What model_runtime.c and checkpoint.c share about a dlc_model (opaque to
 * hosts): its descriptor, arena, optimizer settings and step count, and the
 * error of its last failed call.
 *
 *===----------------------------------------------------------------------===*/
#ifndef DLC_MODEL_STATE_H
#define DLC_MODEL_STATE_H

#include "model_runtime.h"

struct dlc_model {
  const dlc_rt_model *desc;
  float *arena;
  size_t arena_mapped; /* dlc_rt_arena_alloc's: the bytes mapped, 0 from calloc */
  double hyper[DLC_HYPER_COUNT];
  int64_t step;
  uint64_t seed;      /* create's: with the step, it keys the dropout masks */
  int check_numerics; /* set_hyper("check_numerics", 1) */
  int adaptive_threads; /* set_hyper("adaptive_threads", 0) turns the governors off */
  int step_threads;     /* the threads of the last forward, loss_and_grad or train_step (0: none yet) */
  dlc_governor governor[3]; /* one per entry: forward, loss_and_grad, train_step */
  char error[256];
};

/* Records the message as the last error of `m` (of create when `m` is null)
 * and returns `s`. */
dlc_status dlc_rt_fail(dlc_model *m, dlc_status s, const char *fmt, ...);
#define fail dlc_rt_fail

#endif
