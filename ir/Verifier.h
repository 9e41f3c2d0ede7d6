//===- ir/Verifier.h - Structural and type checks of a Graph --------------===//
#pragma once

#include "ir/Diagnostics.h"
#include "ir/Graph.h"

namespace dlc {

/// Checks that `g` is well formed: operand counts, types against the shape
/// rules, definition before use (SSA dominance in the single block), unique
/// names, no cycles, and results that name scalar losses and penalties.
/// Reports each problem to `diags`; returns true when there is none.
bool verify(const Graph &g, DiagnosticEngine &diags);

} // namespace dlc
