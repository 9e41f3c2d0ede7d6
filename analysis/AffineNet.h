//===- analysis/AffineNet.h - A ReLU network as affine steps on a plane ---===//
//
// Restricted to a line or a plane through input space, x(t) = x0 + t1 u1
// (+ t2 u2), a network of dense layers and ReLUs is continuous and piecewise
// linear in t. AffineNet reads such a network from the per-sample IR: every
// value that depends on the input becomes a step whose result, on a region
// where every earlier ReLU keeps its sign, is affine in t (an AffineTensor);
// values that do not depend on the input are constants, computed once by the
// reference interpreter. The region counter (Regions.h) splits the plane at
// each ReLU step and applies the linear steps in between.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "analysis/ParamValues.h"
#include "ir/Graph.h"
#include "ir/Interpreter.h"

namespace dlc {

/// Element e is rows[e * (m + 1)] + sum_k rows[e * (m + 1) + 1 + k] t_k.
struct AffineTensor {
  std::vector<int64_t> shape;
  int m = 0;
  std::vector<double> rows;
  int64_t size() const { return int64_t(rows.size()) / (m + 1); }
  double offset(int64_t e) const { return rows[size_t(e * (m + 1))]; }
  double slope(int64_t e, int k) const { return rows[size_t(e * (m + 1) + 1 + k)]; }
  /// The value of element e at t (m coordinates).
  double at(int64_t e, const double *t) const;
};

/// A line (one direction) or plane (two) through input space.
struct Plane {
  std::vector<double> origin;
  std::vector<std::vector<double>> directions;
  int dims() const { return int(directions.size()); }
  /// The input point at plane coordinates t.
  std::vector<double> point(const double *t) const;
};

class AffineNet {
public:
  /// One value that depends on the input. Operands index earlier steps
  /// (>= 0) or constants (-1 - index).
  struct Step {
    const Node *node;
    std::vector<int> operands;
    bool isRelu() const;
  };

  /// Reads the network that computes `outputName` (default: the first
  /// output; a softmax, log_softmax, sigmoid or tanh output is replaced by
  /// its operand, the logits, whose pieces it shares). False, with the
  /// reason, when the graph has not exactly one input of rank 1, or an op
  /// on the way is not piecewise linear in it.
  static std::optional<AffineNet> fromGraph(const Graph &g, const ParamValues &params,
                                            const std::string &outputName, std::string &error);

  const std::vector<Step> &steps() const { return steps_; }
  int64_t inputSize() const { return inputSize_; }
  const Node *output() const { return output_; }
  /// Why the output differs from the model's declared output, if it does.
  const std::string &outputNote() const { return outputNote_; }

  /// The value of the input step on `plane`.
  AffineTensor inputValue(const Plane &plane) const;
  /// The result of linear step `s` (not a ReLU, not the input) from the
  /// results of the earlier steps.
  AffineTensor apply(size_t s, const std::vector<AffineTensor> &values) const;
  /// The network's output at one input point, evaluated by the interpreter
  /// (the reference the affine maps are checked against).
  std::vector<double> evaluate(const std::vector<double> &x, std::string &error) const;
  /// Every ReLU's operand at one input point (the activation pattern's signs).
  std::vector<double> preActivations(const std::vector<double> &x, std::string &error) const;

private:
  AffineNet(const Graph &g, ParamValues p) : graph_(&g), params_(std::move(p)) {}
  bool run(Interpreter &it, const std::vector<double> &x, std::string &error) const;

  const Graph *graph_;
  ParamValues params_;
  const Node *input_ = nullptr, *output_ = nullptr;
  int64_t inputSize_ = 0;
  std::vector<Step> steps_;
  std::vector<Tensor> constants_;
  std::string outputNote_;
};

} // namespace dlc
