//===- ir/Diagnostics.cpp - Diagnostic collection and rendering -----------===//
#include "ir/Diagnostics.h"

#include <llvm/Support/ConvertUTF.h>
#include <llvm/Support/SourceMgr.h>
#include <llvm/Support/raw_ostream.h>

namespace dlc {

std::string_view SourceFile::lineText(uint32_t line) const {
  std::string_view t = text;
  size_t begin = 0;
  for (uint32_t l = 1; l < line; ++l) {
    size_t nl = t.find('\n', begin);
    if (nl == std::string_view::npos)
      return {};
    begin = nl + 1;
  }
  size_t end = t.find('\n', begin);
  if (end == std::string_view::npos)
    end = t.size();
  std::string_view s = t.substr(begin, end - begin);
  if (!s.empty() && s.back() == '\r')
    s.remove_suffix(1);
  return s;
}

void DiagnosticEngine::report(Severity s, SourceLoc loc, std::string message) {
  if (s == Severity::Error) {
    if (errorCount_ >= kMaxErrors) {
      ++errorCount_;
      return;
    }
    ++errorCount_;
  } else if (errorCount_ > kMaxErrors) {
    return; // notes of suppressed errors
  }
  diags_.push_back({s, std::move(loc), std::move(message)});
}

/// `text` with every byte a terminal would act on (control bytes, DEL,
/// malformed UTF-8) replaced: in the source line by '?' (columns stay put),
/// in messages by \xNN. Valid UTF-8 stays as written.
static std::string printableText(std::string_view text, bool escape) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    unsigned char c = (unsigned char)text[i];
    if (c >= 0x80) {
      unsigned len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
      if (len > 1 && i + len <= text.size() &&
          llvm::isLegalUTF8Sequence(reinterpret_cast<const llvm::UTF8 *>(text.data() + i),
                                    reinterpret_cast<const llvm::UTF8 *>(text.data() + i + len))) {
        out.append(text.substr(i, len));
        i += len;
        continue;
      }
    }
    bool control = (c < 0x20 && c != '\t' && !(escape && c == '\n')) || c == 0x7f || c >= 0x80;
    if (!control) out += char(c);
    else if (escape) out += fmt::format("\\x{:02x}", c);
    else out += '?';
    ++i;
  }
  return out;
}

static llvm::SourceMgr::DiagKind toKind(Severity s) {
  switch (s) {
  case Severity::Error: return llvm::SourceMgr::DK_Error;
  case Severity::Warning: return llvm::SourceMgr::DK_Warning;
  case Severity::Note: return llvm::SourceMgr::DK_Note;
  }
  return llvm::SourceMgr::DK_Error;
}

std::string renderDiagnostic(const Diagnostic &d, bool color) {
  std::string out;
  llvm::raw_string_ostream os(out);
  std::string fileName = printableText(d.loc.file ? d.loc.file->name : "dlc", true);
  std::string lineText;
  std::vector<std::pair<unsigned, unsigned>> ranges;
  int col = -1;
  if (d.loc.valid()) {
    lineText = printableText(d.loc.file->lineText(d.loc.line), false);
    col = int(d.loc.col) - 1;
    if (col > int(lineText.size()))
      col = int(lineText.size());
    unsigned end = std::min<unsigned>(unsigned(col) + std::max(1u, d.loc.length),
                                      unsigned(lineText.size()));
    if (d.loc.length > 1 && end > unsigned(col) + 1)
      ranges.push_back({unsigned(col), end});
  }
  llvm::SourceMgr sm;
  llvm::SMDiagnostic diag(sm, llvm::SMLoc(), fileName,
                          d.loc.valid() ? int(d.loc.line) : -1, col,
                          toKind(d.severity), printableText(d.message, true), lineText, ranges);
  diag.print(nullptr, os, color, /*ShowKindLabel=*/true);
  return out;
}

std::string renderDiagnostics(const DiagnosticEngine &engine, bool color) {
  std::string out;
  for (const auto &d : engine.diagnostics())
    out += renderDiagnostic(d, color);
  if (engine.errorCount() > DiagnosticEngine::kMaxErrors)
    out += fmt::format("fatal: too many errors ({}); stopping\n", engine.errorCount());
  return out;
}

} // namespace dlc
