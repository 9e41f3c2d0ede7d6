//===- ir/Interpreter.h - A plain reference evaluator of the IR -----------===//
//
// Evaluates a graph in double precision with straightforward loops, one rule
// per op family; elementwise ops take their scalar functions from
// ir/ScalarOps.h. It is the oracle the tests hold every other stage to:
// gradients against finite differences, the passes, PyTorch's values, and the
// JIT-compiled kernels of every example and of every op table row. It
// favours obviousness over speed.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/Graph.h"

namespace dlc {

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<double> data;

  Tensor() = default;
  explicit Tensor(std::vector<int64_t> s, double fill = 0);
  size_t size() const { return data.size(); }
  double &operator[](size_t i) { return data[i]; }
  double operator[](size_t i) const { return data[i]; }
};

class Interpreter {
public:
  explicit Interpreter(const Graph &g) : graph_(g) {}

  /// Binds a symbolic dim (the batch size N).
  void bindSymbol(const std::string &name, int64_t value) { symbols_[name] = value; }
  /// The entry point evaluated: `forward` infers, `loss_and_grad` and
  /// `train_step` train. select_mode takes its first operand in Train, its
  /// second in Infer (the default).
  enum class Mode { Infer, Train };
  void setMode(Mode mode) { mode_ = mode; }
  /// Evaluates as a training entry point does (Mode::Train), with dropout
  /// masks drawn from `key` (ir/DropoutMask.h). Without a key they are 1.
  void setTrainingKey(uint32_t key) {
    trainingKey_ = key;
    mode_ = Mode::Train;
  }
  /// Sets the value of an input, label, param or state (labels of classes
  /// hold the index). A state left unset starts at its init (zeros, ones, fill).
  void set(const Node *leaf, Tensor value) { values_[leaf] = std::move(value); }
  bool set(const std::string &name, Tensor value);

  /// Evaluates every node in order; on failure (a missing or misshapen
  /// input, a class label out of range) returns false and sets `error`.
  bool run(std::string &error);
  /// What a training call does after the loss: each `update` result's value
  /// becomes its state's value for the next run.
  void commitUpdates();

  const Tensor &value(const Node *n) const { return values_.at(n); }
  const Tensor &value(const std::string &name) const;
  /// The concrete extents of a shape under the bound symbols.
  std::vector<int64_t> resolve(const Shape &s) const;

private:
  /// Whether an input, label, param or state has a value of its shape (a
  /// state without one gets its init's).
  bool checkGiven(const Node &n, std::string &error);
  /// The value of a computed node from its operands' values.
  Tensor evaluate(const Node &n, std::string &error);

  const Graph &graph_;
  std::map<std::string, int64_t> symbols_;
  std::optional<uint32_t> trainingKey_;
  Mode mode_ = Mode::Infer;
  std::unordered_map<const Node *, Tensor> values_;
};

} // namespace dlc
