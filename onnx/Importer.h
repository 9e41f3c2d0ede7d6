//===- onnx/Importer.h - The state of one ONNX import (internal) ----------===//
//
// The class behind importOnnx (onnx/OnnxImport.h), shared by the files that
// implement it: OnnxImport.cpp (values, names, the graph's inputs and
// outputs, the walk), ImportOps.cpp (elementwise, products, shapes, softmax,
// reductions, slices) and ImportImages.cpp (convolution, pooling, padding).
// Not installed; nothing outside onnx/ includes it.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <onnx/onnx_pb.h>

#include "onnx/OnnxImport.h"
#include "onnx/TensorData.h"

namespace dlc::onnx_import {

using ::onnx::AttributeProto;
using ::onnx::ModelProto;
using ::onnx::NodeProto;
using ::onnx::TensorProto;
using Dims = std::vector<int64_t>;

inline int64_t product(const Dims &d) {
  int64_t n = 1;
  for (int64_t x : d) n *= x;
  return n;
}

/// One ONNX value as the importer sees it.
struct Value {
  std::string expr;      ///< .net name or literal; empty for an initializer not yet declared
  bool batched = false;  ///< depends on the batch: dims are per sample
  Dims dims;
  bool known = false;    ///< data is known at import time (initializer, Constant)
  std::vector<double> data;
  bool fromInitializer = false;
  std::string onnxName;
  std::string declaredAs; ///< for an initializer: the param's .net name once declared
  Dims declaredDims;
  /// A Pad of zeros around the image `padded` (torch's export of an average
  /// pool that counts its padding): [top, left, bottom, right]; it becomes
  /// the pool's own padding, and any other use is an error.
  std::string padded;
  Dims zeroPads;
};

/// Names .net may not use for a value (statement keywords and built-ins).
const std::set<std::string> &reservedNames();
/// A number as .net text (parenthesized when negative; the float range).
std::string literal(double v);

class Importer {
public:
  Importer(const ModelProto &m, const ImportOptions &o) : model_(m), options_(o) {}
  llvm::Expected<ImportedModel> run();

private:
  using Handler = llvm::Error (Importer::*)(const NodeProto &);
  struct OpRule {
    Handler handler;
    std::set<std::string> attributes; ///< the attributes the handler understands
  };
  static const std::map<std::string, OpRule> &rules();

  // ---- errors -------------------------------------------------------------
  template <typename... Args> llvm::Error fail(fmt::format_string<Args...> f, Args &&...args) {
    return makeError(fmt::format("{}: error: {}", options_.sourceName, fmt::format(f, std::forward<Args>(args)...)));
  }
  std::string nodeLabel(const NodeProto &n) const {
    std::string name = n.name().empty() ? fmt::format("#{}", nodeIndex_) : n.name();
    return fmt::format("node '{}' ({})", name, n.op_type());
  }
  template <typename... Args>
  llvm::Error nodeFail(const NodeProto &n, fmt::format_string<Args...> f, Args &&...args) {
    return fail("{}: {}", nodeLabel(n), fmt::format(f, std::forward<Args>(args)...));
  }

  // ---- attributes ---------------------------------------------------------
  const AttributeProto *attr(const NodeProto &n, const std::string &name) const {
    for (const AttributeProto &a : n.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  int64_t attrInt(const NodeProto &n, const std::string &name, int64_t dflt) const {
    const AttributeProto *a = attr(n, name);
    return a ? a->i() : dflt;
  }
  float attrFloat(const NodeProto &n, const std::string &name, float dflt) const {
    const AttributeProto *a = attr(n, name);
    return a ? a->f() : dflt;
  }
  Dims attrInts(const NodeProto &n, const std::string &name, Dims dflt) const {
    const AttributeProto *a = attr(n, name);
    return a ? Dims(a->ints().begin(), a->ints().end()) : dflt;
  }
  std::string attrString(const NodeProto &n, const std::string &name, std::string dflt) const {
    const AttributeProto *a = attr(n, name);
    return a ? a->s() : dflt;
  }

  // ---- values -------------------------------------------------------------
  llvm::Expected<Value *> input(const NodeProto &n, int i) {
    if (i >= n.input_size() || n.input(i).empty()) return nodeFail(n, "input {} is missing", i);
    auto it = values_.find(n.input(i));
    if (it == values_.end())
      return nodeFail(n, "uses '{}', which no earlier node, graph input or initializer defines", n.input(i));
    if (!it->second.padded.empty() && n.op_type() != "AveragePool")
      return nodeFail(n, "uses the Pad output '{}'; dlc imports Pad only before an AveragePool (as its padding)",
                      n.input(i));
    return &it->second;
  }
  bool hasInput(const NodeProto &n, int i) const { return i < n.input_size() && !n.input(i).empty(); }
  std::string freshName(const std::string &hint);
  /// The .net expression of v as a tensor operand; declares an initializer
  /// as a param (with `dims`, if given, else its own shape) at its first use.
  std::string use(Value &v, const Dims *dims = nullptr);
  /// v as an operand of a broadcasting op whose other operand is `other`.
  llvm::Expected<std::string> broadcastOperand(const NodeProto &n, Value &v, const Value &other);
  llvm::Expected<Dims> knownInts(const NodeProto &n, int i);
  void define(const NodeProto &n, const std::string &expr, bool batched, Dims dims, int output = 0);
  /// The batch dim's position in ONNX terms is 0; per-sample axis = axis - 1.
  llvm::Expected<int64_t> sampleAxis(const NodeProto &n, int64_t axis, const Value &x, const char *what);

  // ---- handlers -----------------------------------------------------------
  llvm::Error identity(const NodeProto &n);
  llvm::Error constant(const NodeProto &n);
  llvm::Error unary(const NodeProto &n);
  llvm::Error binary(const NodeProto &n);
  llvm::Error pow(const NodeProto &n);
  llvm::Error matmul(const NodeProto &n);
  llvm::Error gemm(const NodeProto &n);
  llvm::Error conv(const NodeProto &n);
  llvm::Error pool(const NodeProto &n);
  llvm::Error globalPool(const NodeProto &n);
  llvm::Error pad(const NodeProto &n);
  llvm::Error slice(const NodeProto &n);
  llvm::Error concat(const NodeProto &n);
  llvm::Error flatten(const NodeProto &n);
  llvm::Error reshape(const NodeProto &n);
  llvm::Error softmax(const NodeProto &n);
  llvm::Error reduce(const NodeProto &n);
  llvm::Error transpose(const NodeProto &n);

  llvm::Error declareInputs();
  llvm::Error declareOutputs();

  const ModelProto &model_;
  const ImportOptions &options_;
  int64_t opset_ = 0;
  int nodeIndex_ = 0;
  int64_t fixedBatch_ = 0; ///< the inputs' dim 0 when the file fixes it
  std::map<std::string, Value> values_;
  std::set<std::string> names_;
  std::map<std::string, int> opCounts_;
  std::string decls_, body_, tail_;
  std::vector<NamedTensor> params_;
  std::vector<std::pair<std::string, Value *>> outputs_;
  std::map<std::string, const NodeProto *> producer_;
};

} // namespace dlc::onnx_import
