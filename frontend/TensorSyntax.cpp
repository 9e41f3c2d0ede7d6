//===- frontend/TensorSyntax.cpp ------------------------------------------===//
#include "frontend/TensorSyntax.h"

#include <cmath>

#include "ir/ShapeRules.h"

namespace dlc {

namespace {

/// Appends the numbers of a nested list to `values`, row-major, checking that
/// every level is rectangular; `shape` is the first row's shape at each depth.
bool flatten(IRBuilder &b, const Expr &e, size_t depth, std::vector<int64_t> &shape, std::vector<double> &values) {
  if (e.kind == Expr::Kind::Number) {
    if (depth != shape.size()) {
      b.diags.error(e.loc, "a number where the literal has a list (rows must have the same shape)");
      return false;
    }
    values.push_back(e.number);
    return true;
  }
  if (depth == shape.size()) {
    if (!values.empty()) { // a deeper list where the first row had a number
      b.diags.error(e.loc, "a list where the literal has a number (rows must have the same shape)");
      return false;
    }
    shape.push_back(int64_t(e.args.size()));
  }
  if (int64_t(e.args.size()) != shape[depth]) {
    b.diags.error(e.loc, "this row has {} elements, the first row at this depth has {}", e.args.size(), shape[depth]);
    return false;
  }
  if (e.args.empty()) {
    b.diags.error(e.loc, "a tensor literal cannot be empty");
    return false;
  }
  for (const auto &item : e.args)
    if (!flatten(b, *item, depth + 1, shape, values)) return false;
  return true;
}

Node *literal(IRBuilder &b, std::vector<double> values, Shape shape, const SourceLoc &loc) {
  Attrs a;
  a.set("values", std::move(values));
  return b.graph.add(OpKind::Literal, {}, std::move(a), TensorType{DType::F32, std::move(shape)}, "", loc);
}

/// One index item resolved against an axis of `extent`: [start, end) and
/// whether the axis is dropped (a plain index).
struct Range {
  int64_t start, end;
  bool drop;
};

std::optional<Range> resolveItem(IRBuilder &b, const IndexItem &it, int64_t axis, int64_t extent, const Shape &s) {
  auto wrap = [&](int64_t v) { return v < 0 ? v + extent : v; };
  if (!it.isSlice) {
    int64_t i = wrap(it.start);
    if (i < 0 || i >= extent) {
      b.diags.error(it.loc, "index {} is out of range for axis {} of {} (0..{})", it.start, axis, shapeStr(s),
                    extent - 1);
      return std::nullopt;
    }
    return Range{i, i + 1, true};
  }
  int64_t start = it.hasStart ? wrap(it.start) : 0, end = it.hasEnd ? wrap(it.end) : extent;
  if (start < 0 || end > extent || start >= end) {
    std::string written = (it.hasStart ? std::to_string(it.start) : "") + ":" + (it.hasEnd ? std::to_string(it.end) : "");
    b.diags.error(it.loc, "slice {} is {} for axis {} of {} (extent {})", written,
                  start >= end && start >= 0 && end <= extent ? "empty" : "out of range", axis, shapeStr(s), extent);
    return std::nullopt;
  }
  return Range{start, end, false};
}

} // namespace

Node *lowerTensorLiteral(IRBuilder &b, const Expr &list) {
  std::vector<int64_t> dims;
  std::vector<double> values;
  if (!flatten(b, list, 0, dims, values)) return nullptr;
  return literal(b, std::move(values), Shape(dims.begin(), dims.end()), list.loc);
}

Node *lowerShapedConstant(IRBuilder &b, const Expr &list, const Shape &shape, const SourceLoc &shapeLoc) {
  int64_t count = numElements(shape).value_or(0);
  Node *lit = lowerTensorLiteral(b, list);
  if (!lit) return nullptr;
  if (lit->shape() == shape) return lit;
  auto values = lit->attrs.getFloats("values");
  if (lit->type.rank() != 1 || int64_t(values.size()) != count) {
    b.diags.error(list.loc, "the literal is {} with {} elements; the const is declared {} ({} elements)",
                  shapeStr(lit->shape()), values.size(), shapeStr(shape), count);
    b.diags.note(shapeLoc, "declared here");
    return nullptr;
  }
  lit->type.shape = shape; // a flat list in row-major order
  return lit;
}

Node *lowerIndex(IRBuilder &b, Node *x, const Expr &e) {
  if (!x) return nullptr;
  const Shape s = x->shape();
  if (e.index.size() > s.size()) {
    b.diags.error(e.index[s.size()].loc, "too many indices: {} has {} axes", shapeStr(s), s.size());
    return nullptr;
  }
  Shape kept;
  bool dropped = false;
  for (size_t axis = 0; axis < s.size(); ++axis) {
    if (axis >= e.index.size()) {
      kept.push_back(s[axis]);
      continue;
    }
    int64_t extent = s[axis].value();
    auto r = resolveItem(b, e.index[axis], int64_t(axis), extent, s);
    if (!r) return nullptr;
    dropped = dropped || r->drop;
    if (!r->drop) kept.push_back(Dim(r->end - r->start));
    if (r->start == 0 && r->end == extent) continue; // the whole axis
    Attrs a;
    a.set("axis", int64_t(axis));
    a.set("start", r->start);
    a.set("end", r->end);
    x = b.op(OpKind::Slice, {x}, e.index[axis].loc, a);
    if (!x) return nullptr;
  }
  if (!dropped) return x;
  Attrs a;
  a.set("shape", kept);
  return b.op(OpKind::Reshape, {x}, e.loc, a);
}

} // namespace dlc
