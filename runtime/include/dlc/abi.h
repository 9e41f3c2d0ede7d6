/*===- dlc/abi.h - The C ABI every dlc-compiled model exports -------------===*
 *
 * A shared library written by `dlc model.net -o model.so` exports one entry,
 * dlc_get_api(), through which a host that has never seen the model can list
 * its tensors and create, run, train and inspect instances. The model's own
 * header (model.h) adds typed wrappers named after the model.
 *
 * Every call returns a dlc_status; on failure last_error() says why. Bad
 * arguments (null pointers, a batch outside 1..max_batch, unknown names,
 * buffers of the wrong size, class labels out of range) are rejected; they
 * never crash the host. C99 and C++ clean.
 *
 *===----------------------------------------------------------------------===*/
#ifndef DLC_ABI_H
#define DLC_ABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DLC_ABI_VERSION 3 /* 2: gradients, training_state, apply_update, get_step, set_step;
                            3: model state (DLC_ROLE_STATE, get_state, set_state, model_state) */
#define DLC_MAX_RANK 8

typedef enum dlc_status {
  DLC_OK = 0,
  DLC_ERR_NULL = 1,   /* a required pointer is null */
  DLC_ERR_BATCH = 2,  /* batch size outside 1..max_batch */
  DLC_ERR_NAME = 3,   /* no tensor or setting of that name */
  DLC_ERR_SIZE = 4,   /* a buffer's element count does not match */
  DLC_ERR_VALUE = 5,  /* a value is out of range (a class label, a hyperparameter) */
  DLC_ERR_NOMEM = 6,  /* out of memory */
  DLC_ERR_STATE = 7,  /* the model has no loss, so it cannot be trained */
  DLC_ERR_IO = 8,     /* a checkpoint file cannot be read or written */
  DLC_ERR_FORMAT = 9, /* a checkpoint is corrupt or belongs to another model */
  DLC_ERR_CPU = 10    /* the library was compiled for CPU features this CPU lacks */
} dlc_status;

/* DLC_ROLE_STATE (ABI 3): values that are neither trained by gradients nor
 * passed per call, such as batch norm's running statistics: forward reads
 * them, loss_and_grad and train_step write their new values after the loss,
 * checkpoints hold them. */
typedef enum dlc_role {
  DLC_ROLE_INPUT = 0,
  DLC_ROLE_LABEL = 1,
  DLC_ROLE_PARAM = 2,
  DLC_ROLE_OUTPUT = 3,
  DLC_ROLE_STATE = 4
} dlc_role;
typedef enum dlc_dtype { DLC_F32 = 0, DLC_I32 = 1 } dlc_dtype;

/* One tensor of the model. dims[i] == -1 marks the batch dim. */
typedef struct dlc_tensor_info {
  const char *name;
  dlc_role role;
  dlc_dtype dtype;
  int rank;
  int64_t dims[DLC_MAX_RANK];
} dlc_tensor_info;

typedef struct dlc_model dlc_model;

typedef struct dlc_api {
  int abi_version;         /* DLC_ABI_VERSION of the library */
  const char *model_name;
  int64_t max_batch;       /* the batch capacity fixed at compile time */
  int has_loss;            /* 0: forward only */
  int tensor_count;
  /* Inputs, labels and params in declaration order, then the state (ABI 3),
   * then the outputs. */
  const dlc_tensor_info *tensors;

  /* A new instance with params initialized from their declared initializers
   * (seeded, reproducible), the state from its own (batch norm's running
   * mean at zero, its variance at one) and optimizer state at zero. */
  dlc_status (*create)(uint64_t seed, dlc_model **out);
  void (*destroy)(dlc_model *m);

  /* inputs: one pointer per DLC_ROLE_INPUT tensor, in table order, each
   * holding n samples; outputs: one per DLC_ROLE_OUTPUT tensor (a null entry
   * skips that output). */
  dlc_status (*forward)(dlc_model *m, int64_t n, const float *const *inputs, float *const *outputs);
  /* labels: one pointer per DLC_ROLE_LABEL tensor (int32_t for class labels,
   * float otherwise). loss may be null. Gradients are read with get_grad.
   * It trains (dropout drawn, batch statistics) and so writes the state. */
  dlc_status (*loss_and_grad)(dlc_model *m, int64_t n, const float *const *inputs, const void *const *labels,
                              float *loss);
  /* loss_and_grad, then the optimizer update; loss is the loss before it. */
  dlc_status (*train_step)(dlc_model *m, int64_t n, const float *const *inputs, const void *const *labels,
                           float *loss);

  /* Params and gradients by name; count is the buffer's element count. */
  dlc_status (*get_param)(const dlc_model *m, const char *name, float *data, int64_t count);
  dlc_status (*set_param)(dlc_model *m, const char *name, const float *data, int64_t count);
  dlc_status (*get_grad)(const dlc_model *m, const char *name, float *data, int64_t count);

  /* Optimizer settings ("lr", "momentum", ...: the model header lists them),
   * "threads" and "adaptive_threads" (docs/abi.md). Defaults come from the
   * model's train block. */
  dlc_status (*set_hyper)(dlc_model *m, const char *key, double value);

  /* Checkpoints in the safetensors format: params, optimizer state (as
   * "NAME:z", "NAME:m", "NAME:v"), the model state under its own names, and
   * the step count and create's seed (so that a resumed run draws the
   * dropout masks an uninterrupted one would). save writes a temporary file
   * and renames it over `path`, so an interrupted save leaves the old
   * checkpoint intact; load checks the whole file (format, names, shapes)
   * before it changes anything: a missing param or state tensor is
   * DLC_ERR_FORMAT naming it. */
  dlc_status (*save)(const dlc_model *m, const char *path);
  dlc_status (*load)(dlc_model *m, const char *path);

  /* Why the last call on m failed (m may be null for create). */
  const char *(*last_error)(const dlc_model *m);

  /* Since ABI 2: training split in two, for a host that combines gradients
   * of several processes (data-parallel training on MPI, docs/abi.md):
   * train_step is loss_and_grad, then apply_update, and between the two the
   * host may change the gradients in place.
   *
   * gradients: every param's gradient in one contiguous float buffer inside
   * the model (params in table order, each padded to a multiple of 16
   * floats with zeros); valid after loss_and_grad, read by apply_update;
   * *data stays valid until destroy.
   * training_state: every param, its optimizer state and (ABI 3) the model
   * state, contiguous (what rank 0 broadcasts so that all ranks start
   * alike); writing it is allowed.
   * apply_update: the optimizer update from the gradient buffer as it
   * stands; counts one step (like train_step).
   * get_step / set_step: the steps taken (Adam's bias corrections and the
   * learning-rate schedule depend on it; load restores it). */
  dlc_status (*gradients)(dlc_model *m, float **data, int64_t *count);
  dlc_status (*training_state)(dlc_model *m, float **data, int64_t *count);
  dlc_status (*apply_update)(dlc_model *m);
  int64_t (*get_step)(const dlc_model *m);
  dlc_status (*set_step)(dlc_model *m, int64_t step);

  /* Since ABI 3: the model state (DLC_ROLE_STATE tensors) by name, and all
   * of it as one contiguous float buffer inside the model (table order, each
   * padded to a multiple of 16 floats; *count is 0 without state), which a
   * data-parallel host averages over the ranks after each loss_and_grad
   * (docs/abi.md). *data stays valid until destroy. */
  dlc_status (*get_state)(const dlc_model *m, const char *name, float *data, int64_t count);
  dlc_status (*set_state)(dlc_model *m, const char *name, const float *data, int64_t count);
  dlc_status (*model_state)(dlc_model *m, float **data, int64_t *count);
} dlc_api;

/* Exported by every dlc-compiled shared library. */
const dlc_api *dlc_get_api(void);

#ifdef __cplusplus
}
#endif

#endif /* DLC_ABI_H */
