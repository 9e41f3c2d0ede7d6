//===- onnx/OnnxExport.h - The forward graph as an ONNX model -------------===//
//
// Writes the inference part of a batched graph (what the outputs depend on)
// as an ONNX ModelProto at opset 13: inputs get the symbolic batch dim "N",
// params become initializers with the given values, matrix products Gemm or
// MatMul, conv2d Conv, maxpool2d and avgpool2d MaxPool and AveragePool, the
// rest op for op. Losses, labels and gradients are not exported.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <map>
#include <string>
#include <vector>

#include <llvm/Support/Error.h>

#include "ir/Graph.h"

namespace dlc::onnx_export {

/// A param's values by name (the model's current or trained values).
using ParamValues = std::map<std::string, std::vector<float>>;

/// The serialized ModelProto of the batched graph `g` (after the batch pass).
llvm::Expected<std::string> exportOnnx(const Graph &g, const ParamValues &params);

} // namespace dlc::onnx_export
