//===- ir/Attributes.h - Compile-time attributes of IR ops ----------------===//
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "ir/Types.h"

namespace dlc {

/// An attribute value. Int lists are stored as dims (Shape) so that shapes
/// with the symbolic batch dim and plain axis lists share one form.
using AttrValue = std::variant<bool, int64_t, double, std::string, Shape, std::vector<double>>;

/// Attributes by name, printed in name order so the text form is stable.
class Attrs {
public:
  void set(const std::string &k, AttrValue v) { map_[k] = std::move(v); }
  bool has(const std::string &k) const { return map_.count(k) != 0; }
  void erase(const std::string &k) { map_.erase(k); }
  const AttrValue *get(const std::string &k) const;

  int64_t getInt(const std::string &k, int64_t dflt = 0) const;
  double getFloat(const std::string &k, double dflt = 0) const; ///< accepts ints too
  bool getBool(const std::string &k, bool dflt = false) const;
  std::string getString(const std::string &k, const std::string &dflt = "") const;
  Shape getShape(const std::string &k) const;
  std::vector<int64_t> getInts(const std::string &k) const; ///< known dims only
  std::vector<double> getFloats(const std::string &k) const;

  const std::map<std::string, AttrValue> &entries() const { return map_; }
  bool empty() const { return map_.empty(); }
  bool operator==(const Attrs &o) const { return map_ == o.map_; }

private:
  std::map<std::string, AttrValue> map_;
};

/// Prints a double so that it parses back to the same value and always
/// reads as a float (`2.0`, `0.001`, `1e-08`).
std::string formatFloat(double v);
std::string formatAttrValue(const AttrValue &v);
/// `{a = 1, b = [0, 1]}` or "" when empty.
std::string formatAttrs(const Attrs &a);

/// Is `s` spelled like an identifier (so it can be printed unquoted)?
bool isIdentifier(const std::string &s);

} // namespace dlc
