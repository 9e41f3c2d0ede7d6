//===- frontend/Token.h - Tokens of the .net language ---------------------===//
#pragma once

#include <string>

#include "ir/Diagnostics.h"

namespace dlc {

enum class TokenKind {
  Ident,   ///< names and keywords (keywords are contextual)
  Number,  ///< 12, 0.5, 1e-4
  Newline, ///< ends a statement (the parser skips it inside ( ) and [ ])
  Punct,   ///< ( ) [ ] { } , : = ~ + - * / ^ @ . ;
  End,
  Error,   ///< already reported by the lexer
};

struct Token {
  TokenKind kind = TokenKind::End;
  std::string text;
  SourceLoc loc;
  double number = 0;   ///< value of a Number
  bool isInteger = false;

  bool is(TokenKind k) const { return kind == k; }
  bool isPunct(const char *p) const { return kind == TokenKind::Punct && text == p; }
  bool isIdent(const char *s) const { return kind == TokenKind::Ident && text == s; }
};

} // namespace dlc
