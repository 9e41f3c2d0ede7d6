//===- codegen/CNames.cpp -------------------------------------------------===//
#include "codegen/CNames.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace dlc {

std::string cStringLiteral(const std::string &s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    // Octal escapes take at most three digits, so they never swallow what follows.
    if (std::isalnum(c) || c == ' ' || c == '_' || c == '.' || c == ',' || c == '/' || c == '-') out += char(c);
    else out += fmt::format("\\{:03o}", c);
  }
  return out + "\"";
}

std::string cCommentText(const std::string &s) {
  std::string out;
  for (unsigned char c : s) {
    // "*/" would end the comment, "/*" inside one draws -Wcomment.
    bool pairs = !out.empty() && ((c == '/' && out.back() == '*') || (c == '*' && out.back() == '/'));
    out += c < 0x20 || c >= 0x7f || pairs ? '_' : char(c);
  }
  return out;
}

namespace {

bool isCReserved(const std::string &s) {
  static const std::set<std::string> words = {
      "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
      "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
      "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "_Bool",
      "_Complex", "_Imaginary", "bool", "true", "false", "NULL", "EOF", "errno", "assert", "int8_t", "int16_t",
      "int32_t", "int64_t", "uint8_t", "uint16_t", "uint32_t", "uint64_t", "size_t", "ptrdiff_t", "intptr_t",
      "uintptr_t", "offsetof", "main", "asm", "typeof", "alignas", "alignof", "noreturn", "static_assert",
      "thread_local", "complex", "imaginary", "stdin", "stdout", "stderr", "FILE",
      // C++ keywords, for hosts that include the header from C++.
      "class", "namespace", "template", "typename", "this", "new", "delete", "operator", "private", "protected",
      "public", "virtual", "friend", "explicit", "mutable", "try", "catch", "throw", "using", "export", "nullptr",
      "and", "or", "not", "xor", "bitand", "bitor", "compl", "and_eq", "or_eq", "not_eq", "xor_eq", "char8_t",
      "char16_t", "char32_t", "wchar_t", "concept", "requires", "constexpr", "consteval", "constinit",
      "decltype", "co_await", "co_return", "co_yield", "dynamic_cast", "static_cast", "reinterpret_cast",
      "const_cast", "typeid"};
  // Macros are spelled in capitals (SIZE_MAX, INFINITY, EOF): a name of three
  // or more characters without a lower-case letter could be one.
  bool macroLike = s.size() >= 3 && std::none_of(s.begin(), s.end(), [](unsigned char c) { return std::islower(c); });
  return words.count(s) || macroLike || s.rfind("dlc", 0) == 0 || s.rfind("DLC", 0) == 0 || s[0] == '_';
}

} // namespace

std::string CIdentifiers::make(const std::string &name) {
  std::string id;
  for (unsigned char c : name) id += std::isalnum(c) && c < 0x80 ? char(c) : '_';
  if (id.empty() || std::isdigit((unsigned char)id[0]) || isCReserved(id)) id = "v_" + id;
  std::string unique = id;
  for (int k = 2; taken_.count(unique); ++k) unique = fmt::format("{}_{}", id, k);
  taken_.insert(unique);
  return unique;
}

} // namespace dlc
