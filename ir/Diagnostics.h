//===- ir/Diagnostics.h - Source locations and diagnostics as data --------===//
//
// Every stage reports problems as Diagnostic values collected in a
// DiagnosticEngine; only the driver decides how to print them and which exit
// code to use. Rendering (file:line:col, the source line, a caret) is done
// through LLVM's SMDiagnostic so it looks like clang.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace dlc {

/// A named text buffer (a .net file, an IR file, or stdin).
struct SourceFile {
  std::string name;
  std::string text;

  /// The text of 1-based line `line`, without its newline.
  std::string_view lineText(uint32_t line) const;
};

/// A position in a SourceFile; line and col are 1-based, 0 means unknown.
struct SourceLoc {
  std::shared_ptr<const SourceFile> file;
  uint32_t line = 0;
  uint32_t col = 0;
  /// How many characters from col the construct spans (for ~~~ underlines).
  uint32_t length = 1;

  bool valid() const { return file && line > 0; }
};

enum class Severity { Error, Warning, Note };

struct Diagnostic {
  Severity severity = Severity::Error;
  SourceLoc loc;
  std::string message;
  bool compilerBug = false; ///< dlc broke its own invariant (never the input's fault)
};

/// Collects diagnostics in order; stages keep going after an error where
/// they can so that one run reports several problems.
class DiagnosticEngine {
public:
  template <typename... Args>
  void error(const SourceLoc &loc, fmt::format_string<Args...> f, Args &&...args) {
    report(Severity::Error, loc, fmt::format(f, std::forward<Args>(args)...));
  }
  /// An error that is dlc's fault, not the input's: said so in the message,
  /// and marked, so that tests and fuzzers can tell it from a user error.
  template <typename... Args>
  void bug(const SourceLoc &loc, fmt::format_string<Args...> f, Args &&...args) {
    size_t before = diags_.size();
    report(Severity::Error, loc, fmt::format(f, std::forward<Args>(args)...) + " (a compiler bug)");
    if (diags_.size() > before) diags_.back().compilerBug = true;
  }
  template <typename... Args>
  void note(const SourceLoc &loc, fmt::format_string<Args...> f, Args &&...args) {
    report(Severity::Note, loc, fmt::format(f, std::forward<Args>(args)...));
  }
  void report(Severity s, SourceLoc loc, std::string message);

  bool hasErrors() const { return errorCount_ > 0; }
  unsigned errorCount() const { return errorCount_; }
  const std::vector<Diagnostic> &diagnostics() const { return diags_; }
  void clear() { diags_.clear(); errorCount_ = 0; }

  /// Stop recording errors past this many (a corrupt file must not flood).
  static constexpr unsigned kMaxErrors = 20;

private:
  std::vector<Diagnostic> diags_;
  unsigned errorCount_ = 0;
};

/// Renders one diagnostic as clang does: `file:line:col: error: msg`, the
/// source line, and a caret (with ~~~ under the span).
std::string renderDiagnostic(const Diagnostic &d, bool color = false);

/// Renders all diagnostics of an engine, in order.
std::string renderDiagnostics(const DiagnosticEngine &engine, bool color = false);

} // namespace dlc
