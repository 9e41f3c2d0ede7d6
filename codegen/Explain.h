//===- codegen/Explain.h - Every decision of a compilation, with its cost -===//
//
// `dlc --explain model.net`: one report of what the compiler chose and what
// it costs: each matrix chain's and Jacobian's order against the
// alternatives, the stable rewrites, the kernel plan of each entry point
// (what fused and why), the arena's peak, and the forward values the
// backward pass keeps (the memory --remat=memory trades for recomputation).
//
//===----------------------------------------------------------------------===//
#pragma once

#include <string>
#include <vector>

#include "codegen/Layout.h"
#include "ir/Graph.h"

namespace dlc {

/// A forward value some backward op reads: it stays live until then.
struct KeptValue {
  const Node *node;
  int64_t floats; ///< at the given batch
};

/// The non-leaf values the loss depends on that a gradient's computation
/// (outside the forward) reads, in program order.
std::vector<KeptValue> keptForwardValues(const Graph &g, int64_t batch);

/// The whole report; `remarks` are the passes' (PassContext::remarks).
std::string explainModel(const Graph &g, const std::vector<std::string> &remarks, int64_t batch, Optimizer optimizer);

} // namespace dlc
