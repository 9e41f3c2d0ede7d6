//===- frontend/Lexer.h - Splits .net text into tokens --------------------===//
#pragma once

#include <memory>

#include "frontend/Token.h"

namespace dlc {

class Lexer {
public:
  Lexer(std::shared_ptr<const SourceFile> file, DiagnosticEngine &diags);

  /// The next token; reports bad characters and numeric literals once and
  /// returns an Error token for them.
  Token next();

private:
  char peek(size_t ahead = 0) const;
  void advance();
  SourceLoc here() const { return {file_, line_, col_, 1}; }
  void skipSpaceAndComments();
  Token lexNumber();

  std::shared_ptr<const SourceFile> file_;
  std::string_view src_;
  DiagnosticEngine &diags_;
  size_t pos_ = 0;
  uint32_t line_ = 1, col_ = 1;
};

} // namespace dlc
