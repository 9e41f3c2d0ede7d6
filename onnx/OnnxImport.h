//===- onnx/OnnxImport.h - ONNX models in, .net text out ------------------===//
//
// A front end beside the .net parser: an ONNX ModelProto (opsets 11-17, the
// op subset in docs/onnx.md) becomes readable .net source in per-sample
// notation (the ONNX batch dim 0 becomes dlc's implicit batch), and its
// initializers become the values of the model's params. The text then goes
// through the ordinary front end, so an imported model is differentiated and
// trained like any other.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <llvm/Support/Error.h>

namespace dlc::onnx_import {

/// A named float tensor (a param's value, or test data).
struct NamedTensor {
  std::string name;
  std::vector<int64_t> dims;
  std::vector<float> values;
  std::string source; ///< for an imported param: the ONNX initializer's name
};

/// Which loss the imported model gets (ONNX files carry none).
enum class LossKind {
  Auto,         ///< cross_entropy for one per-sample vector output, else none
  CrossEntropy, ///< label y : class(K); on the logits (a final Softmax/LogSoftmax is looked through)
  Square,       ///< label t shaped like the output; square_loss
  None,         ///< forward only
};

struct ImportOptions {
  std::string modelName = "imported"; ///< the .net model's name (an identifier)
  LossKind loss = LossKind::Auto;
  std::string sourceName = "model.onnx"; ///< the file name errors show
};

struct ImportedModel {
  std::string netText;              ///< the .net source
  std::vector<NamedTensor> params;  ///< initial values, named as in netText, in declaration order
  std::string modelName;
};

/// Imports a serialized ModelProto. Errors name the file and, for an
/// unsupported op or attribute, the node and op.
llvm::Expected<ImportedModel> importOnnx(const std::string &bytes, const ImportOptions &options);

/// Reads a serialized TensorProto (the backend tests' input_0.pb) as floats.
llvm::Expected<NamedTensor> readTensorProto(const std::string &bytes);

/// Writes params as a safetensors checkpoint that dlc's `load` reads (the
/// layout of runtime/model_runtime.c's save: F32 tensors and a "__metadata__"
/// with format dlc, the model name and step 0), atomically (temp + rename).
llvm::Error writeCheckpoint(const std::string &path, const std::string &modelName,
                            const std::vector<NamedTensor> &params);

} // namespace dlc::onnx_import
