//===- ir/ShapeRules.cpp - How each op computes its result type -----------===//
#include "ir/ShapeRules.h"
#include "ir/Limits.h"

#include "ir/ConvGeometry.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

namespace dlc {

TypeOrError inferType(OpKind kind, const std::vector<TensorType> &operands, const Attrs &attrs) {
  const OpInfo &info = opInfo(kind);
  if (int(operands.size()) != info.arity)
    return TypeOrError::fail(fmt::format("'{}' takes {} operand(s), got {}", info.mnemonic,
                                         info.arity, operands.size()));
  return info.infer(kind, operands, attrs);
}

static TypeOrError ok(DType t, Shape s) { return {{t, std::move(s)}, {}}; }

static std::optional<std::string> requireF32(const std::vector<TensorType> &ops, OpKind kind) {
  for (const auto &t : ops)
    if (t.dtype != DType::F32)
      return fmt::format("'{}' needs f32 operands, got {}", mnemonic(kind), t.str());
  return std::nullopt;
}

TypeOrError inferLeaf(OpKind kind, const std::vector<TensorType> &, const Attrs &) {
  return TypeOrError::fail(fmt::format("'{}' has a declared type, not an inferred one", mnemonic(kind)));
}

TypeOrError inferUnary(OpKind kind, const std::vector<TensorType> &ops, const Attrs &attrs) {
  if (auto e = requireF32(ops, kind)) return TypeOrError::fail(*e);
  if (kind == OpKind::Pow && !attrs.has("exponent"))
    return TypeOrError::fail("'pow' needs an 'exponent' attribute");
  return ok(DType::F32, ops[0].shape);
}

std::optional<Shape> broadcastShapes(const Shape &a, const Shape &b) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const Dim *da = i < a.size() ? &a[a.size() - 1 - i] : nullptr;
    const Dim *db = i < b.size() ? &b[b.size() - 1 - i] : nullptr;
    Dim &r = out[rank - 1 - i];
    if (!da) r = *db;
    else if (!db) r = *da;
    else if (*da == *db) r = *da;
    else if (da->isKnown() && da->value() == 1) r = *db;
    else if (db->isKnown() && db->value() == 1) r = *da;
    else return std::nullopt;
  }
  return out;
}

static const char *binaryVerb(OpKind k) {
  switch (k) {
  case OpKind::Add: return "add";
  case OpKind::Sub: return "subtract";
  case OpKind::Mul: return "multiply elementwise";
  case OpKind::Div: return "divide";
  default: return "combine elementwise";
  }
}

TypeOrError inferBinary(OpKind kind, const std::vector<TensorType> &ops, const Attrs &) {
  if (auto e = requireF32(ops, kind)) return TypeOrError::fail(*e);
  auto s = broadcastShapes(ops[0].shape, ops[1].shape);
  if (!s)
    return TypeOrError::fail(fmt::format("cannot {} {} and {}: shapes do not broadcast",
                                         binaryVerb(kind), shapeStr(ops[0].shape),
                                         shapeStr(ops[1].shape)));
  return ok(DType::F32, *s);
}

TypeOrError inferMatMul(OpKind kind, const std::vector<TensorType> &ops, const Attrs &attrs) {
  if (auto e = requireF32(ops, kind)) return TypeOrError::fail(*e);
  bool ta = attrs.getBool("transpose_a"), tb = attrs.getBool("transpose_b");
  Shape a = ops[0].shape, b = ops[1].shape;
  auto describe = [](const Shape &s, bool t) { return shapeStr(s) + (t ? "^T" : ""); };
  auto fail = [&] {
    return TypeOrError::fail(fmt::format("cannot multiply {} by {}", describe(a, ta), describe(b, tb)));
  };
  if (a.empty() || b.empty() || a.size() > 2 || b.size() > 2) {
    return TypeOrError::fail(fmt::format("'@' needs vectors or matrices, got {} and {}",
                                         shapeStr(a), shapeStr(b)));
  }
  if ((ta && a.size() != 2) || (tb && b.size() != 2))
    return TypeOrError::fail("matmul transpose flags apply to matrices only");
  Shape ea = a, eb = b;
  if (ta) std::swap(ea[0], ea[1]);
  if (tb) std::swap(eb[0], eb[1]);
  // A vector on the left is a row, on the right a column (numpy's rule).
  Dim ka = ea.back(), kb = eb.front();
  if (ka != kb) return fail();
  Shape out;
  if (ea.size() == 2) out.push_back(ea[0]);
  if (eb.size() == 2) out.push_back(eb[1]);
  return ok(DType::F32, out);
}

TypeOrError inferTranspose(OpKind, const std::vector<TensorType> &ops, const Attrs &attrs) {
  const Shape &s = ops[0].shape;
  std::vector<int64_t> perm = attrs.getInts("perm");
  if (!attrs.has("perm")) {
    if (s.size() != 2)
      return TypeOrError::fail(fmt::format("transpose of {} needs a permutation", shapeStr(s)));
    perm = {1, 0};
  }
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  bool isPerm = perm.size() == s.size();
  for (size_t i = 0; isPerm && i < sorted.size(); ++i) isPerm = sorted[i] == int64_t(i);
  if (!isPerm)
    return TypeOrError::fail(fmt::format("{} is not a permutation of the {} dims of {}",
                                         shapeStr(attrs.getShape("perm")), s.size(), shapeStr(s)));
  Shape out;
  for (int64_t p : perm) out.push_back(s[size_t(p)]);
  return ok(ops[0].dtype, out);
}

/// Known-extent product and the multiset of symbols of a shape; the product
/// is -1 when it overflows int64 (so that counts never compare modulo 2^64).
static std::pair<int64_t, std::map<std::string, int>> sizeSignature(const Shape &s) {
  int64_t n = 1;
  std::map<std::string, int> syms;
  for (const Dim &d : s) {
    if (d.isSymbolic()) ++syms[d.symbolName()];
    else if (n >= 0) n = checkedMul(n, d.value()).value_or(-1);
  }
  return {n, syms};
}

TypeOrError inferReshape(OpKind, const std::vector<TensorType> &ops, const Attrs &attrs) {
  if (!attrs.has("shape")) return TypeOrError::fail("'reshape' needs a 'shape' attribute");
  Shape target = attrs.getShape("shape");
  for (const Dim &d : target)
    if (d.isKnown() && d.value() < 0)
      return TypeOrError::fail(fmt::format("negative extent in reshape target {}", shapeStr(target)));
  if (sizeSignature(target).first < 0 || sizeSignature(target) != sizeSignature(ops[0].shape))
    return TypeOrError::fail(fmt::format("cannot reshape {} into {}: element counts differ",
                                         shapeStr(ops[0].shape), shapeStr(target)));
  return ok(ops[0].dtype, target);
}

TypeOrError inferBroadcast(OpKind, const std::vector<TensorType> &ops, const Attrs &attrs) {
  Shape target = attrs.getShape("shape");
  std::vector<int64_t> dims = attrs.getInts("dims");
  const Shape &s = ops[0].shape;
  if (dims.size() != s.size())
    return TypeOrError::fail(fmt::format("broadcast of {} needs {} dims, got {}", shapeStr(s),
                                         s.size(), dims.size()));
  for (size_t i = 0; i < dims.size(); ++i) {
    bool inRange = dims[i] >= 0 && dims[i] < int64_t(target.size());
    bool increasing = i == 0 || dims[i] > dims[i - 1];
    if (!inRange || !increasing)
      return TypeOrError::fail(fmt::format("bad broadcast dims {} for {} -> {}",
                                           shapeStr(attrs.getShape("dims")), shapeStr(s),
                                           shapeStr(target)));
    const Dim &from = s[i], &to = target[size_t(dims[i])];
    if (from != to && !(from.isKnown() && from.value() == 1))
      return TypeOrError::fail(fmt::format("cannot broadcast {} to {}", shapeStr(s), shapeStr(target)));
  }
  return ok(ops[0].dtype, target);
}

TypeOrError inferReduce(OpKind kind, const std::vector<TensorType> &ops, const Attrs &attrs) {
  if (auto e = requireF32(ops, kind)) return TypeOrError::fail(*e);
  const Shape &s = ops[0].shape;
  std::vector<int64_t> axes = attrs.getInts("axes");
  std::vector<bool> drop(s.size(), false);
  for (int64_t a : axes) {
    if (a < 0 || a >= int64_t(s.size()) || drop[size_t(a)])
      return TypeOrError::fail(fmt::format("bad reduction axes {} for {}",
                                           shapeStr(attrs.getShape("axes")), shapeStr(s)));
    drop[size_t(a)] = true;
  }
  Shape out;
  for (size_t i = 0; i < s.size(); ++i)
    if (!drop[i]) out.push_back(s[i]);
  return ok(DType::F32, out);
}

TypeOrError inferSoftmax(OpKind kind, const std::vector<TensorType> &ops, const Attrs &attrs) {
  if (auto e = requireF32(ops, kind)) return TypeOrError::fail(*e);
  int64_t axis = attrs.getInt("axis", -1);
  if (ops[0].shape.empty() || axis < 0 || axis >= ops[0].rank())
    return TypeOrError::fail(fmt::format("'{}' needs a vector axis; got axis {} of {}",
                                         mnemonic(kind), axis, shapeStr(ops[0].shape)));
  return ok(DType::F32, ops[0].shape);
}

TypeOrError inferOneHot(OpKind, const std::vector<TensorType> &ops, const Attrs &attrs) {
  if (ops[0].dtype != DType::I32)
    return TypeOrError::fail(fmt::format("'onehot' needs class indices (i32), got {}", ops[0].str()));
  int64_t classes = attrs.getInt("classes");
  if (classes <= 0) return TypeOrError::fail("'onehot' needs a positive 'classes' attribute");
  Shape out = ops[0].shape;
  out.push_back(classes);
  return ok(DType::F32, out);
}

std::optional<Dim> convOutDim(const Dim &in, int64_t k, int64_t stride, int64_t pad) {
  if (in.isSymbolic()) return std::nullopt;
  if (auto extent = convOutExtent(in.value(), k, stride, pad)) return Dim(*extent);
  return std::nullopt;
}

/// A two-element [h, w] attribute such as stride or pad; missing means `dflt`.
static std::optional<std::pair<int64_t, int64_t>> pairAttr(const Attrs &attrs, const char *key, int64_t dflt) {
  if (!attrs.has(key)) return std::make_pair(dflt, dflt);
  std::vector<int64_t> v = attrs.getInts(key);
  if (v.size() != 2) return std::nullopt;
  return std::make_pair(v[0], v[1]);
}

/// The output shape of conv2d(x, k), or an error.
static TypeOrError convShape(const Shape &x, const Shape &k, const Attrs &attrs) {
  auto stride = pairAttr(attrs, "stride", 1), pad = pairAttr(attrs, "pad", 0);
  if (!stride || !pad) return TypeOrError::fail("conv2d stride and pad are [h, w] pairs");
  if (x.size() != 3 && x.size() != 4)
    return TypeOrError::fail(fmt::format("conv2d needs a [C, H, W] image, got {}", shapeStr(x)));
  if (k.size() != 4 || !isKnown(k))
    return TypeOrError::fail(fmt::format("conv2d needs a [O, C, KH, KW] filter, got {}", shapeStr(k)));
  size_t c = x.size() - 3;
  if (x[c] != k[1])
    return TypeOrError::fail(fmt::format("conv2d filter {} expects {} channels, image {} has {}",
                                         shapeStr(k), k[1].str(), shapeStr(x), x[c].str()));
  if (stride->first < 1 || stride->second < 1 || pad->first < 0 || pad->second < 0)
    return TypeOrError::fail("conv2d needs stride >= 1 and pad >= 0");
  auto h = convOutDim(x[c + 1], k[2].value(), stride->first, pad->first);
  auto w = convOutDim(x[c + 2], k[3].value(), stride->second, pad->second);
  if (!h || !w)
    return TypeOrError::fail(fmt::format("conv2d filter {} does not fit image {} with pad [{}, {}]",
                                         shapeStr(k), shapeStr(x), pad->first, pad->second));
  Shape out(x.begin(), x.begin() + long(c));
  out.insert(out.end(), {k[0], *h, *w});
  return ok(DType::F32, out);
}

TypeOrError inferConv2D(OpKind kind, const std::vector<TensorType> &ops, const Attrs &attrs) {
  if (auto e = requireF32(ops, kind)) return TypeOrError::fail(*e);
  return convShape(ops[0].shape, ops[1].shape, attrs);
}

TypeOrError inferConv2DBwdData(OpKind kind, const std::vector<TensorType> &ops, const Attrs &attrs) {
  if (auto e = requireF32(ops, kind)) return TypeOrError::fail(*e);
  Shape x = attrs.getShape("shape");
  TypeOrError fwd = convShape(x, ops[1].shape, attrs);
  if (!fwd.ok()) return fwd;
  if (fwd.type.shape != ops[0].shape)
    return TypeOrError::fail(fmt::format("conv2d_bwd_data: gradient {} does not match output {}",
                                         shapeStr(ops[0].shape), shapeStr(fwd.type.shape)));
  return ok(DType::F32, x);
}

TypeOrError inferConv2DBwdFilter(OpKind kind, const std::vector<TensorType> &ops, const Attrs &attrs) {
  if (auto e = requireF32(ops, kind)) return TypeOrError::fail(*e);
  Shape k = attrs.getShape("shape");
  TypeOrError fwd = convShape(ops[0].shape, k, attrs);
  if (!fwd.ok()) return fwd;
  if (fwd.type.shape != ops[1].shape)
    return TypeOrError::fail(fmt::format("conv2d_bwd_filter: gradient {} does not match output {}",
                                         shapeStr(ops[1].shape), shapeStr(fwd.type.shape)));
  return ok(DType::F32, k);
}

} // namespace dlc
