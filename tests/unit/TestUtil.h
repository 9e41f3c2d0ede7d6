//===- tests/unit/TestUtil.h - Helpers shared by the unit tests -----------===//
#pragma once

#include <catch2/catch.hpp>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <llvm/ADT/SmallString.h>
#include <llvm/Support/FileSystem.h>

#include "frontend/IRGen.h"
#include "ir/IRParser.h"
#include "ir/Builder.h"
#include "ir/GraphUtils.h"
#include "ir/Printer.h"

namespace dlc::test {

inline std::shared_ptr<SourceFile> source(std::string text, std::string name = "test.net") {
  auto f = std::make_shared<SourceFile>();
  f->name = std::move(name);
  f->text = std::move(text);
  return f;
}

inline std::string readExample(const std::string &name) {
  std::ifstream in(std::string(DLC_EXAMPLES_DIR) + "/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Compiles .net text; the diagnostics are left in `diags`.
inline std::unique_ptr<Graph> compile(const std::string &text, DiagnosticEngine &diags,
                                      const std::string &name = "test.net") {
  return compileNet(source(text, name), diags);
}

/// Compiles a model body (wrapped in `model m { ... }`) expecting success.
inline std::unique_ptr<Graph> compileBody(const std::string &body) {
  DiagnosticEngine diags;
  auto g = compile("model m {\n" + body + "\n}\n", diags);
  INFO(renderDiagnostics(diags));
  REQUIRE(g);
  return g;
}

/// The first error of a model body as `line:col: message`; line 1 is the first body line.
inline std::string errorOf(const std::string &body) {
  DiagnosticEngine diags;
  auto g = compile("model m {\n" + body + "\n}\n", diags);
  CHECK_FALSE(g);
  if (diags.diagnostics().empty()) return "<none>";
  const Diagnostic &d = diags.diagnostics().front();
  return std::to_string(d.loc.line - 1) + ":" + std::to_string(d.loc.col) + ": " + d.message;
}


inline std::unique_ptr<Graph> parseIRText(const std::string &text, DiagnosticEngine &diags) {
  return parseIR(source(text, "test.ir"), diags);
}

/// The first diagnostic as `line:col: message`.
inline std::string firstError(const DiagnosticEngine &diags) {
  if (diags.diagnostics().empty()) return "<no diagnostic>";
  const Diagnostic &d = diags.diagnostics().front();
  return std::to_string(d.loc.line) + ":" + std::to_string(d.loc.col) + ": " + d.message;
}

inline const char *kExamples[] = {"mnist_mlp.net", "mnist_cnn.net", "fashion_cnn.net", "quadratic.net",
                                  "linear_chain.net", "residual.net", "hinge.net", "bn_cnn.net"};

/// A new empty directory under the system's temporary directory.
inline std::string tempDir(const char *prefix) {
  llvm::SmallString<128> dir;
  REQUIRE(!llvm::sys::fs::createUniqueDirectory(prefix, dir));
  return std::string(dir);
}

/// A file's bytes ("" when it cannot be read).
inline std::string readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace dlc::test
