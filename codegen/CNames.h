//===- codegen/CNames.h - Source names as safe C text ---------------------===//
//
// Names from a model's source (any bytes, in IR text) reach the generated C
// of a library only through these functions: string literals with every
// byte outside [A-Za-z0-9 _.,/'-] as an octal escape, identifiers mangled to
// letters, digits and '_' that never collide with a C keyword, a name of the
// glue, or each other, and comment text that cannot close the comment.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <set>
#include <string>

namespace dlc {

/// `s` as a C string literal, quotes included: "a\042b".
std::string cStringLiteral(const std::string &s);

/// `s` for a C comment: no "*/" or "/*", no line breaks or control bytes.
std::string cCommentText(const std::string &s);

/// Mangled C identifiers, unique within one generated file: a name becomes
/// its letters, digits and '_' (others as '_'); one that is empty, starts
/// with a digit, is a C or C++ keyword or standard name, could be a macro
/// (three or more characters, none lower-case), starts with "dlc" or '_'
/// (the glue's and the implementation's names), is in `reserved`, or is
/// already taken gets the prefix "v_" or a numeric suffix.
class CIdentifiers {
public:
  explicit CIdentifiers(std::set<std::string> reserved = {}) : taken_(std::move(reserved)) {}
  std::string make(const std::string &name);

private:
  std::set<std::string> taken_;
};

} // namespace dlc
