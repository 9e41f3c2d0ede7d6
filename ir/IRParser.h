//===- ir/IRParser.h - Reads the IR text form back into a Graph -----------===//
#pragma once

#include <memory>

#include "ir/Diagnostics.h"
#include "ir/Graph.h"

namespace dlc {

/// Parses the text printed by printGraph. Reports syntax and type errors
/// (verified with the same rules as any pass output) to `diags`, with the
/// location in `file`; returns null when there was any error.
std::unique_ptr<Graph> parseIR(std::shared_ptr<const SourceFile> file, DiagnosticEngine &diags);

} // namespace dlc
