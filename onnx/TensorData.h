//===- onnx/TensorData.h - ONNX tensors to and from plain arrays ----------===//
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <llvm/Support/Error.h>
#include <onnx/onnx_pb.h>

#include "onnx/OnnxImport.h"

namespace dlc::onnx_import {

/// A tensor's values as doubles (float, double, int32 and int64 tensors;
/// inline or raw data; external data is refused). `what` names it in errors.
llvm::Expected<std::vector<double>> tensorValues(const ::onnx::TensorProto &t, const std::string &what);

/// The tensor's dims, checked non-negative.
llvm::Expected<std::vector<int64_t>> tensorDims(const ::onnx::TensorProto &t, const std::string &what);

/// A float TensorProto with these dims and values.
void fillTensor(::onnx::TensorProto &t, const std::string &name, const std::vector<int64_t> &dims,
                const std::vector<float> &values);

llvm::Error makeError(const std::string &message);

} // namespace dlc::onnx_import
