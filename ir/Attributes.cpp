//===- ir/Attributes.cpp --------------------------------------------------===//
#include "ir/Attributes.h"

#include <cctype>
#include <cmath>

#include <fmt/format.h>

namespace dlc {

const AttrValue *Attrs::get(const std::string &k) const {
  auto it = map_.find(k);
  return it == map_.end() ? nullptr : &it->second;
}

int64_t Attrs::getInt(const std::string &k, int64_t dflt) const {
  if (auto *v = get(k))
    if (auto *i = std::get_if<int64_t>(v)) return *i;
  return dflt;
}

double Attrs::getFloat(const std::string &k, double dflt) const {
  if (auto *v = get(k)) {
    if (auto *d = std::get_if<double>(v)) return *d;
    if (auto *i = std::get_if<int64_t>(v)) return double(*i);
  }
  return dflt;
}

bool Attrs::getBool(const std::string &k, bool dflt) const {
  if (auto *v = get(k))
    if (auto *b = std::get_if<bool>(v)) return *b;
  return dflt;
}

std::string Attrs::getString(const std::string &k, const std::string &dflt) const {
  if (auto *v = get(k))
    if (auto *s = std::get_if<std::string>(v)) return *s;
  return dflt;
}

Shape Attrs::getShape(const std::string &k) const {
  if (auto *v = get(k))
    if (auto *s = std::get_if<Shape>(v)) return *s;
  return {};
}

std::vector<int64_t> Attrs::getInts(const std::string &k) const {
  std::vector<int64_t> out;
  for (const Dim &d : getShape(k))
    out.push_back(d.isKnown() ? d.value() : -1);
  return out;
}

std::vector<double> Attrs::getFloats(const std::string &k) const {
  if (auto *v = get(k)) {
    if (auto *f = std::get_if<std::vector<double>>(v)) return *f;
    if (auto *s = std::get_if<Shape>(v)) { // an int list like [0, 1]
      std::vector<double> out;
      for (const Dim &d : *s) out.push_back(double(d.value()));
      return out;
    }
  }
  return {};
}

std::string formatFloat(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::string s = fmt::format("{}", v); // shortest round-trip form
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

bool isIdentifier(const std::string &s) {
  if (s.empty() || !(std::isalpha((unsigned char)s[0]) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum((unsigned char)c) || c == '_')) return false;
  return s != "true" && s != "false" && s != "nan" && s != "inf";
}

static std::string quote(const std::string &s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') { out += "\\n"; continue; }
    out += c;
  }
  return out + "\"";
}

std::string formatAttrValue(const AttrValue &v) {
  struct Visitor {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return formatFloat(d); }
    std::string operator()(const std::string &s) const { return isIdentifier(s) ? s : quote(s); }
    std::string operator()(const Shape &s) const { return shapeStr(s); }
    std::string operator()(const std::vector<double> &f) const {
      std::string out = "[";
      for (size_t i = 0; i < f.size(); ++i) out += (i ? ", " : "") + formatFloat(f[i]);
      return out + "]";
    }
  };
  return std::visit(Visitor{}, v);
}

std::string formatAttrs(const Attrs &a) {
  if (a.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto &[k, v] : a.entries()) {
    out += (first ? "" : ", ") + k + " = " + formatAttrValue(v);
    first = false;
  }
  return out + "}";
}

} // namespace dlc
