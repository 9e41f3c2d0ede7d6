/*===- dlc_mpi.c - Data-parallel training of a dlc model on MPI -----------===*
 *
 * Broadcast of rank 0's state, shard arithmetic and the gradient average.
 * The average scales each rank's shard-mean gradient by its share of the
 * global batch in place, then sums over ranks: MPI_Allreduce (whose order
 * of summation Open MPI picks), or in deterministic mode MPI_Allgather and
 * a sum in rank order, so that every rank gets the same bits, and the same
 * bits as one process that adds the same scaled shards in the same order.
 * Built with -ffp-contract=off: the scaling and the sum stay separate
 * roundings, as in dlc's single-process reference (dlc train --simulate-ranks).
 *
 *===----------------------------------------------------------------------===*/
#include "dlc/dlc_mpi.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(dlc_mpi_trainer *t, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->error, sizeof t->error, fmt, ap);
  va_end(ap);
  return code;
}

void dlc_mpi_shard(int64_t global, int rank, int size, int64_t *begin, int64_t *rows) {
  int64_t base = global / size, extra = global % size;
  *rows = base + (rank < extra ? 1 : 0);
  *begin = rank * base + (rank < extra ? rank : extra);
}

float dlc_mpi_shard_weight(int64_t rows, int64_t global) { return global > 0 ? (float)((double)rows / (double)global) : 0.0f; }

int dlc_mpi_init(dlc_mpi_trainer *t, const dlc_api *api, dlc_model *model, MPI_Comm comm, int deterministic) {
  memset(t, 0, sizeof *t);
  t->api = api, t->model = model, t->comm = comm, t->deterministic = deterministic;
  if (!api || !model) return fail(t, DLC_ERR_NULL, "dlc_mpi_init: the api or the model is null");
  if (api->abi_version < 2) return fail(t, DLC_ERR_STATE, "dlc_mpi_init: model '%s' has ABI %d; data-parallel training needs 2 (rebuild it)", api->model_name, api->abi_version);
  MPI_Comm_rank(comm, &t->rank);
  MPI_Comm_size(comm, &t->size);
  float *grads;
  int64_t count;
  int s = api->gradients(model, &grads, &count);
  if (s) return fail(t, s, "dlc_mpi_init: %s", api->last_error(model));
  float *state;
  int64_t states = 0;
  if (api->abi_version >= 3 && (s = api->model_state(model, &state, &states)))
    return fail(t, s, "dlc_mpi_init: %s", api->last_error(model));
  if (states > count) count = states; /* gathered serves both reductions */
  if (deterministic) {
    t->gathered = (float *)malloc((size_t)count * (size_t)t->size * sizeof(float));
    if (!t->gathered) return fail(t, DLC_ERR_NOMEM, "dlc_mpi_init: no memory for %d gradient copies", t->size);
  }
  return 0;
}

void dlc_mpi_free(dlc_mpi_trainer *t) {
  free(t->gathered);
  t->gathered = NULL;
}

int dlc_mpi_broadcast_buffers(float *state, int64_t count, int64_t *step, MPI_Comm comm) {
  if (count > 0x7fffffff) return DLC_ERR_SIZE;
  long long s = (long long)*step;
  int rc = MPI_Bcast(state, (int)count, MPI_FLOAT, 0, comm);
  if (rc == MPI_SUCCESS) rc = MPI_Bcast(&s, 1, MPI_LONG_LONG, 0, comm);
  *step = (int64_t)s;
  return rc;
}

int dlc_mpi_broadcast_state(dlc_mpi_trainer *t) {
  float *state;
  int64_t count;
  int s = t->api->training_state(t->model, &state, &count);
  if (s) return fail(t, s, "broadcast: %s", t->api->last_error(t->model));
  int64_t step = t->api->get_step(t->model);
  int rc = dlc_mpi_broadcast_buffers(state, count, &step, t->comm);
  if (rc) return fail(t, rc, "broadcast: MPI_Bcast of %lld floats failed (%d)", (long long)count, rc);
  return t->api->set_step(t->model, step);
}

int dlc_mpi_reduce_buffer(float *grads, int64_t count, int64_t rows, int64_t global, int deterministic,
                          float *gathered, MPI_Comm comm) {
  if (count > 0x7fffffff) return DLC_ERR_SIZE;
  float w = dlc_mpi_shard_weight(rows, global);
  if (rows == 0) memset(grads, 0, (size_t)count * sizeof(float));
  else
    for (int64_t i = 0; i < count; ++i) grads[i] *= w;
  if (!deterministic) return MPI_Allreduce(MPI_IN_PLACE, grads, (int)count, MPI_FLOAT, MPI_SUM, comm);
  int size;
  MPI_Comm_size(comm, &size);
  int rc = MPI_Allgather(grads, (int)count, MPI_FLOAT, gathered, (int)count, MPI_FLOAT, comm);
  if (rc != MPI_SUCCESS) return rc;
  memcpy(grads, gathered, (size_t)count * sizeof(float));
  for (int r = 1; r < size; ++r) {
    const float *g = gathered + (size_t)r * (size_t)count;
    for (int64_t i = 0; i < count; ++i) grads[i] += g[i];
  }
  return MPI_SUCCESS;
}

int dlc_mpi_average_gradients(dlc_mpi_trainer *t, int64_t rows, int64_t global) {
  float *grads;
  int64_t count;
  int s = t->api->gradients(t->model, &grads, &count);
  if (s) return fail(t, s, "average: %s", t->api->last_error(t->model));
  int rc = dlc_mpi_reduce_buffer(grads, count, rows, global, t->deterministic, t->gathered, t->comm);
  if (rc) return fail(t, rc, "average: the reduction of %lld floats failed (%d)", (long long)count, rc);
  return 0;
}

int dlc_mpi_average_state(dlc_mpi_trainer *t, int64_t rows, int64_t global) {
  float *state;
  int64_t count = 0;
  if (t->api->abi_version < 3) return 0; /* no model state before ABI 3 */
  int s = t->api->model_state(t->model, &state, &count);
  if (s) return fail(t, s, "average: %s", t->api->last_error(t->model));
  if (count == 0) return 0;
  int rc = dlc_mpi_reduce_buffer(state, count, rows, global, t->deterministic, t->gathered, t->comm);
  if (rc) return fail(t, rc, "average: the reduction of %lld state floats failed (%d)", (long long)count, rc);
  return 0;
}

int dlc_mpi_train_step(dlc_mpi_trainer *t, int64_t rows, int64_t global, const float *const *inputs,
                       const void *const *labels, float *loss) {
  float l = 0;
  if (rows > 0) {
    int s = t->api->loss_and_grad(t->model, rows, inputs, labels, &l);
    if (s) return fail(t, s, "rank %d: loss_and_grad: %s", t->rank, t->api->last_error(t->model));
  }
  int rc = dlc_mpi_average_gradients(t, rows, global);
  if (!rc) rc = dlc_mpi_average_state(t, rows, global);
  if (rc) return rc;
  int s = t->api->apply_update(t->model);
  if (s) return fail(t, s, "rank %d: apply_update: %s", t->rank, t->api->last_error(t->model));
  if (loss) *loss = l;
  return 0;
}
