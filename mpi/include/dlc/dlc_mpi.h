/*===- dlc_mpi.h - Data-parallel training of a dlc model on MPI -----------===*
 *
 * A small C helper for a host that trains a dlc-compiled model (its own
 * model.so, through dlc/abi.h) on several processes: every rank runs
 * loss_and_grad on its shard of the global batch, dlc_mpi_average_gradients
 * turns the gradients into the global-batch gradient with one MPI_Allreduce
 * over the model's flat gradient buffer, and every rank applies the same
 * update. The model library itself stays libc-only; MPI lives here and in
 * the host. docs/abi.md ("Training on many processes") has a whole host.
 *
 *   dlc_mpi_trainer t;
 *   dlc_mpi_init(&t, api, model, MPI_COMM_WORLD, deterministic);
 *   dlc_mpi_broadcast_state(&t);              rank 0's params, optimizer and model state, step
 *   dlc_mpi_shard(global, t.rank, t.size, &begin, &rows);
 *   dlc_mpi_train_step(&t, rows, global, inputs + begin, labels + begin, &loss);
 *   dlc_mpi_free(&t);
 *
 * Functions return 0 or, on failure, a nonzero code with t.error saying why.
 *
 *===----------------------------------------------------------------------===*/
#ifndef DLC_MPI_H
#define DLC_MPI_H

#include <mpi.h>
#include <stdint.h>

#include "dlc/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dlc_mpi_trainer {
  const dlc_api *api;
  dlc_model *model;
  MPI_Comm comm;
  int rank, size;
  int deterministic; /* reduce by gather + sum in rank order: the same bits everywhere */
  float *gathered;   /* deterministic mode: size x the gradient (or state) buffer, the larger */
  char error[512];
} dlc_mpi_trainer;

/* The rows [*begin, *begin + *rows) of a global batch of `global` rows that
 * `rank` of `size` trains on: the first global % size ranks take one row
 * more, so shards differ by at most one row (and may be empty). */
void dlc_mpi_shard(int64_t global, int rank, int size, int64_t *begin, int64_t *rows);

/* The weight of a shard's mean gradient in the global-batch mean. */
float dlc_mpi_shard_weight(int64_t rows, int64_t global);

/* Binds a trainer to a model (ABI 2 or later) and a communicator. */
int dlc_mpi_init(dlc_mpi_trainer *t, const dlc_api *api, dlc_model *model, MPI_Comm comm, int deterministic);
void dlc_mpi_free(dlc_mpi_trainer *t);

/* Rank 0's params, optimizer state, model state and step count to every rank (after
 * create, or after rank 0 alone loaded a checkpoint). */
int dlc_mpi_broadcast_state(dlc_mpi_trainer *t);

/* Replaces every rank's gradient buffer (its shard mean, from loss_and_grad
 * on `rows` rows; rows may be 0) by the global-batch mean:
 * sum over ranks of rows_r / global x gradient_r. One MPI_Allreduce, or in
 * deterministic mode one MPI_Allgather and a sum in rank order. */
int dlc_mpi_average_gradients(dlc_mpi_trainer *t, int64_t rows, int64_t global);

/* The same weighted average over ranks of the model state (ABI 3: batch
 * norm's running statistics, which each rank's loss_and_grad updated from
 * its shard), so that the ranks keep one model; nothing without state. */
int dlc_mpi_average_state(dlc_mpi_trainer *t, int64_t rows, int64_t global);

/* One data-parallel step: loss_and_grad on this rank's `rows` rows
 * (inputs/labels as in dlc/abi.h; skipped when rows is 0), the averages of
 * the gradients and the state, apply_update. *loss (may be null) is the
 * shard's loss (0 for no rows). */
int dlc_mpi_train_step(dlc_mpi_trainer *t, int64_t rows, int64_t global, const float *const *inputs,
                       const void *const *labels, float *loss);

/* Buffer-level forms of the above, for hosts with their own model wrapper
 * (dlc's C++ trainer uses these). `gathered` holds size x count floats in
 * deterministic mode (else unused, may be null). */
int dlc_mpi_broadcast_buffers(float *state, int64_t count, int64_t *step, MPI_Comm comm);
int dlc_mpi_reduce_buffer(float *grads, int64_t count, int64_t rows, int64_t global, int deterministic,
                          float *gathered, MPI_Comm comm);

#ifdef __cplusplus
}
#endif

#endif /* DLC_MPI_H */
