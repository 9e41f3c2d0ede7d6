//===- frontend/IRGen.h - From the syntax tree to the graph IR ------------===//
//
// Resolves names, inlines `fn` calls, checks shapes (each op against its
// shape rule) and builds the per-sample graph IR of one model. Source names
// (`v1`, `A1`) become value names; every op keeps the location it came from.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <memory>

#include "frontend/AST.h"
#include "ir/Graph.h"

namespace dlc {

/// Builds the IR of the (single) model in `program`; null after any error.
std::unique_ptr<Graph> generateIR(const Program &program, std::shared_ptr<const SourceFile> file,
                                  DiagnosticEngine &diags);

/// Parses and lowers a .net file in one step.
std::unique_ptr<Graph> compileNet(std::shared_ptr<const SourceFile> file, DiagnosticEngine &diags);

} // namespace dlc
