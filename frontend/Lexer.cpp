//===- frontend/Lexer.cpp -------------------------------------------------===//
#include "frontend/Lexer.h"

#include <cctype>
#include <charconv>
#include <cmath>

#include "ir/Limits.h"

namespace dlc {

Lexer::Lexer(std::shared_ptr<const SourceFile> file, DiagnosticEngine &diags)
    : file_(std::move(file)), src_(file_->text), diags_(diags) {}

char Lexer::peek(size_t ahead) const {
  return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : '\0';
}

void Lexer::advance() {
  if (pos_ >= src_.size()) return;
  if (src_[pos_] == '\n') { ++line_; col_ = 1; }
  else ++col_;
  ++pos_;
}

void Lexer::skipSpaceAndComments() {
  while (pos_ < src_.size()) {
    char c = src_[pos_];
    if (c == '#') {
      while (pos_ < src_.size() && src_[pos_] != '\n') advance();
    } else if (c == '\\' && peek(1) == '\n') { // explicit line continuation
      advance();
      advance();
    } else if (c == ' ' || c == '\t' || c == '\r') {
      advance();
    } else {
      return;
    }
  }
}

// NUMBER := DIGITS ['.' DIGITS] [('e'|'E') ['+'|'-'] DIGITS]
Token Lexer::lexNumber() {
  Token t;
  t.loc = here();
  size_t start = pos_;
  bool isInt = true;
  while (std::isdigit((unsigned char)peek())) advance();
  if (peek() == '.' && std::isdigit((unsigned char)peek(1))) {
    isInt = false;
    advance();
    while (std::isdigit((unsigned char)peek())) advance();
  }
  if (peek() == 'e' || peek() == 'E') {
    isInt = false;
    advance();
    if (peek() == '+' || peek() == '-') advance();
    while (std::isdigit((unsigned char)peek())) advance();
  }
  // Glued letters, digits or dots make the literal malformed (1.2.3, 1e, 3x).
  while (std::isalnum((unsigned char)peek()) || peek() == '_' ||
         (peek() == '.' && std::isdigit((unsigned char)peek(1))))
    advance();
  t.text = std::string(src_.substr(start, pos_ - start));
  t.loc.length = uint32_t(t.text.size());
  double v = 0;
  auto r = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
  if (r.ptr != t.text.data() + t.text.size() || (r.ec != std::errc() && r.ec != std::errc::result_out_of_range)) {
    diags_.error(t.loc, "invalid numeric literal '{}'", t.text);
    t.kind = TokenKind::Error;
    return t;
  }
  if (r.ec == std::errc::result_out_of_range) {
    // Underflow (1e-999) is zero; overflow (1e999) is an error.
    bool negativeExponent = t.text.find("e-") != std::string::npos || t.text.find("E-") != std::string::npos;
    if (!negativeExponent) {
      diags_.error(t.loc, "numeric literal '{}' is out of range", t.text);
      t.kind = TokenKind::Error;
      return t;
    }
    v = 0;
  }
  t.kind = TokenKind::Number;
  t.number = v;
  t.isInteger = isInt && v <= 9.007199254740992e15;
  return t;
}

Token Lexer::next() {
  skipSpaceAndComments();
  Token t;
  t.loc = here();
  if (pos_ >= src_.size()) {
    t.kind = TokenKind::End;
    return t;
  }
  char c = peek();
  if (c == '\n') {
    advance();
    t.kind = TokenKind::Newline;
    t.text = "\\n";
    return t;
  }
  if (std::isdigit((unsigned char)c) || (c == '.' && std::isdigit((unsigned char)peek(1))))
    return lexNumber();
  if (std::isalpha((unsigned char)c) || c == '_') {
    size_t start = pos_;
    while (std::isalnum((unsigned char)peek()) || peek() == '_') advance();
    t.kind = TokenKind::Ident;
    t.text = std::string(src_.substr(start, pos_ - start));
    t.loc.length = uint32_t(t.text.size());
    if (std::string e = checkNameLimits(t.text, "a"); !e.empty()) diags_.error(t.loc, "{}", e);
    return t;
  }
  static const std::string_view puncts = "()[]{},:=~+-*/^@.;";
  if (puncts.find(c) != std::string_view::npos) {
    advance();
    t.kind = TokenKind::Punct;
    t.text = std::string(1, c);
    return t;
  }
  advance();
  t.kind = TokenKind::Error;
  if (std::isprint((unsigned char)c))
    diags_.error(t.loc, "unexpected character '{}'", c);
  else
    diags_.error(t.loc, "unexpected byte 0x{:02x}", (unsigned)(unsigned char)c);
  return t;
}

} // namespace dlc
