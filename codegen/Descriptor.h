//===- codegen/Descriptor.h - What the C glue needs to know of a model ----===//
//
// One description of a compiled model's interface: its tensors in API order,
// where each lives in the arena, how params are initialized, and the
// optimizer defaults. The records are the C glue's own (dlc_rt_tensor,
// runtime/TensorRecord.def): the AOT writer prints them as C, the JIT host
// API hands them to the glue in memory.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <string>
#include <vector>

#include "codegen/Layout.h"
#include "ir/Graph.h"
#include "runtime/model_runtime.h"

namespace dlc {

/// A tensor of the model's API table.
struct ApiTensor {
  const Node *node;
  dlc_role role;
  bool isClassLabel; ///< int32 class indices
};

/// The API's tensor order, the one every table follows: inputs, labels and
/// params in declaration order, then the state (in source order), then the
/// outputs.
std::vector<ApiTensor> apiTensors(const Graph &g);

struct TensorDescription {
  ApiTensor api;
  std::string name;
  std::vector<int64_t> dims; ///< -1 for the batch dim
  dlc_rt_tensor record;      ///< what the glue knows of it
  dlc_dtype dtype() const { return api.isClassLabel ? DLC_I32 : DLC_F32; }
};

struct ModelDescription {
  std::string name;
  std::vector<TensorDescription> tensors; ///< in API order
  int64_t capacity, arenaSize;
  int optimizer; ///< DLC_OPT_*
  int64_t lossOffset = -1;
  int64_t dropoutKeyOffset = -1;
  /// The settings of runtime/Hyperparameters.def: the train block's, else the
  /// table's default for the optimizer.
  double hyperDefaults[DLC_HYPER_SETTINGS];
};

ModelDescription describeModel(const Graph &g, const ModelLayout &layout);

} // namespace dlc
