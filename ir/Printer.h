//===- ir/Printer.h - The stable text form of the IR ----------------------===//
#pragma once

#include <string>

#include "ir/Graph.h"

namespace dlc {

/// Prints `g` in the text form that IRParser reads back:
///
///   graph mlp {
///     %v0 = input() : f32[784]
///     %0 = matmul(%A1, %v0) : f32[128]
///     output %p
///   }
std::string printGraph(const Graph &g);

/// The printed names (`%v1`, `%3`) of every node, in node order.
std::vector<std::string> printedNames(const Graph &g);

} // namespace dlc
