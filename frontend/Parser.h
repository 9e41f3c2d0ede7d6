//===- frontend/Parser.h - Recursive-descent parser for .net --------------===//
#pragma once

#include "frontend/AST.h"
#include "frontend/Lexer.h"

namespace dlc {

/// Parses a whole file. Syntax errors are reported to `diags` and the parser
/// resumes at the next statement, so one run reports several errors.
Program parseProgram(std::shared_ptr<const SourceFile> file, DiagnosticEngine &diags);

} // namespace dlc
