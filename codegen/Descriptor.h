//===- codegen/Descriptor.h - What the C glue needs to know of a model ----===//
//
// One description of a compiled model's interface: its tensors in API order
// (inputs, labels, params by declaration, then outputs), where each lives in
// the arena, how params are initialized, and the optimizer defaults. The AOT
// writer prints it as C; the JIT host API builds the same tables in memory.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <string>
#include <vector>

#include "codegen/Layout.h"
#include "ir/Graph.h"

namespace dlc {

struct TensorDescription {
  const Node *node;
  std::string name;
  int role;                 ///< dlc_role: 0 input, 1 label, 2 param, 3 output
  bool isClassLabel;        ///< int32 class indices
  std::vector<int64_t> dims;///< -1 for the batch dim
  int64_t offset;           ///< in the arena
  int64_t gradOffset = -1;  ///< params
  int64_t state[2] = {-1, -1};
  int64_t count;            ///< elements per sample if batched, else in total
  bool batched;
  int64_t classes = 0;
  int init = 0;             ///< DLC_INIT_* (runtime/model_runtime.h)
  double initA = 0, initB = 0;
  int64_t fanIn = 1, fanOut = 1;
};

struct ModelDescription {
  std::string name;
  std::vector<TensorDescription> tensors;
  int64_t capacity, arenaSize;
  bool adam;
  int64_t lossOffset = -1;
  /// lr, momentum, nesterov, beta1, beta2, eps, weight_decay
  double hyperDefaults[7];
  /// Where lr, momentum, nesterov, beta1, beta2, eps, weight_decay, c1, c2
  /// go in the kernels' hyper array.
  int hyperIndex[9];
};

ModelDescription describeModel(const Graph &g, const ModelLayout &layout);

} // namespace dlc
