//===- ir/Dot.h - Graphviz pictures of the IR -----------------------------===//
//
// `dlc --emit=dot`: one box per value (name, op, type, result roles), drawn
// from the dataflow view (ir/Dataflow.h) by Boost.Graph's Graphviz writer.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <functional>
#include <ostream>

#include "ir/Graph.h"

namespace dlc {

struct DotOptions {
  /// Nodes drawn as part of the backward pass (their in-edges dashed, red).
  std::function<bool(const Node *)> isBackward;
};

/// Writes `g` in Graphviz dot: one box per value with name, op and type.
void writeDot(const Graph &g, std::ostream &os, const DotOptions &opts = {});

} // namespace dlc
