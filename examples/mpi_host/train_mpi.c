/*===- examples/mpi_host/train_mpi.c - Train a dlc .so on MPI ranks -------===*
 *
 *   dlc model.net -o model.so
 *   mpirun -np 4 train_mpi ./model.so STEPS BATCH out.safetensors [--deterministic]
 *   train_mpi ./model.so STEPS BATCH ref.safetensors --serial-shards 4
 *
 * Trains any dlc model with inputs and labels on a synthetic, reproducible
 * data stream: step s uses samples s*BATCH .. (s+1)*BATCH - 1, split into
 * one shard per rank (dlc_mpi_shard). Rank 0 writes the checkpoint.
 * --serial-shards K runs in one process what K deterministic ranks compute:
 * the K shards one after another, their scaled gradients summed in rank
 * order (the reference that --deterministic must match bit for bit).
 *
 *===----------------------------------------------------------------------===*/
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlc/abi.h"
#include "dlc/dlc_mpi.h"

typedef struct {
  const dlc_api *api;
  int inputs, labels;
  int64_t width[16]; /* values per sample of each input, then of each label */
  void *buffers[16];
} stream;

static int64_t per_sample(const dlc_tensor_info *t) {
  int64_t e = 1;
  for (int d = 0; d < t->rank; ++d) e *= t->dims[d] < 0 ? 1 : t->dims[d];
  return e;
}

/* Samples first .. first + rows - 1 of the stream into the buffers. */
static void fill(stream *s, int64_t first, int64_t rows) {
  int k = 0;
  for (int i = 0; i < s->api->tensor_count; ++i) {
    const dlc_tensor_info *t = &s->api->tensors[i];
    if (t->role != DLC_ROLE_INPUT && t->role != DLC_ROLE_LABEL) continue;
    int64_t w = s->width[k];
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < w; ++j) {
        int64_t sample = first + r;
        if (t->dtype == DLC_I32) ((int32_t *)s->buffers[k])[r * w + j] = (int32_t)((sample * 7 + j) % 2); /* any class label has 2+ classes */
        else ((float *)s->buffers[k])[r * w + j] = (float)sin(0.37 * (double)sample + 1.3 * (double)j + 0.1 * k);
      }
    ++k;
  }
}

static int die(const char *what, const char *why) {
  fprintf(stderr, "train_mpi: error: %s: %s\n", what, why);
  MPI_Abort(MPI_COMM_WORLD, 1);
  return 1;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  if (argc < 5) return die("usage", "train_mpi MODEL.so STEPS BATCH OUT [--deterministic | --serial-shards K]");
  int64_t steps = atoll(argv[2]), batch = atoll(argv[3]);
  int deterministic = argc > 5 && strcmp(argv[5], "--deterministic") == 0;
  int serial = argc > 6 && strcmp(argv[5], "--serial-shards") == 0 ? atoi(argv[6]) : 0;
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) return die(argv[1], dlerror());
  const dlc_api *(*get_api)(void) = (const dlc_api *(*)(void))dlsym(lib, "dlc_get_api");
  if (!get_api) return die(argv[1], "not a dlc model library (no dlc_get_api)");
  stream s = {get_api(), 0, 0, {0}, {0}};
  if (batch < 1 || batch > s.api->max_batch) return die("BATCH", "outside 1..the model's max_batch");
  for (int i = 0, k = 0; i < s.api->tensor_count && k < 16; ++i) {
    const dlc_tensor_info *t = &s.api->tensors[i];
    if (t->role != DLC_ROLE_INPUT && t->role != DLC_ROLE_LABEL) continue;
    s.inputs += t->role == DLC_ROLE_INPUT, s.labels += t->role == DLC_ROLE_LABEL;
    s.width[k] = per_sample(t);
    s.buffers[k] = malloc((size_t)(batch * s.width[k]) * 4);
    ++k;
  }

  dlc_model *m = NULL;
  if (s.api->create(0, &m)) return die("create", s.api->last_error(NULL));
  dlc_mpi_trainer t;
  if (dlc_mpi_init(&t, s.api, m, MPI_COMM_WORLD, deterministic)) return die("dlc_mpi_init", t.error);
  if (dlc_mpi_broadcast_state(&t)) return die("broadcast", t.error);
  const float *inputs[16];
  const void *labels[16];
  for (int k = 0; k < s.inputs; ++k) inputs[k] = (const float *)s.buffers[k];
  for (int k = 0; k < s.labels; ++k) labels[k] = s.buffers[s.inputs + k];

  float *grads, *sum = NULL;
  int64_t count;
  s.api->gradients(m, &grads, &count);
  if (serial) sum = (float *)malloc((size_t)count * sizeof(float));
  for (int64_t step = 0; step < steps; ++step) {
    int64_t begin, rows;
    float loss = 0;
    if (!serial) {
      dlc_mpi_shard(batch, t.rank, t.size, &begin, &rows);
      fill(&s, step * batch + begin, rows);
      if (dlc_mpi_train_step(&t, rows, batch, inputs, labels, &loss)) return die("step", t.error);
    } else {
      for (int r = 0; r < serial; ++r) {
        dlc_mpi_shard(batch, r, serial, &begin, &rows);
        fill(&s, step * batch + begin, rows);
        if (rows > 0 && s.api->loss_and_grad(m, rows, inputs, labels, &loss)) return die("loss_and_grad", s.api->last_error(m));
        float w = dlc_mpi_shard_weight(rows, batch);
        for (int64_t i = 0; i < count; ++i) {
          float g = rows > 0 ? grads[i] * w : 0.0f;
          sum[i] = r == 0 ? g : sum[i] + g;
        }
      }
      memcpy(grads, sum, (size_t)count * sizeof(float));
      if (s.api->apply_update(m)) return die("apply_update", s.api->last_error(m));
    }
    if (t.rank == 0) printf("step %lld  rank 0 shard loss %.6f\n", (long long)step + 1, loss);
  }
  if (t.rank == 0) {
    if (s.api->save(m, argv[4])) return die("save", s.api->last_error(m));
    printf("%s: %lld steps of batch %lld on %d %s; wrote %s\n", s.api->model_name, (long long)steps, (long long)batch,
           serial ? serial : t.size, serial ? "serial shards" : "ranks", argv[4]);
  }
  dlc_mpi_free(&t);
  s.api->destroy(m);
  free(sum);
  MPI_Finalize();
  return 0;
}
