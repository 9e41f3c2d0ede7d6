//===- passes/DeadCode.h - Dead-code elimination --------------------------===//
//
// A value is live if a result (or the value a grad result is of) depends on
// it. The `dce` pass removes the others; simplify and chain call the same
// function after their rebuilds. Inputs, labels and params always stay: they
// are the model's interface even when unused.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstddef>

#include "ir/Graph.h"

namespace dlc {

/// Removes nodes that no result depends on; returns how many were removed.
size_t eliminateDeadNodes(Graph &g);

} // namespace dlc
