//===- passes/VJPRules.cpp - The gradient of each op, side by side --------===//
//
// Each rule is a pure function of the op, its operands and g = dL/dy, with
// the math in its comment. Ops flagged NoGrad and leaves have none. The table
// at the bottom is generated from Ops.def, so an op without a rule does not
// link.
//
//===----------------------------------------------------------------------===//
#include "passes/VJPRules.h"

#include <algorithm>

namespace dlc {

Node *GradBuilder::unbroadcast(const Node *x, Node *t, const SourceLoc &loc) {
  if (!t || t->shape() == x->shape()) return t;
  const Shape &xs = x->shape(), &ts = t->shape();
  size_t lead = ts.size() - xs.size();
  std::vector<int64_t> axes;
  for (size_t i = 0; i < ts.size(); ++i) {
    bool added = i < lead;
    bool stretched = !added && xs[i - lead].isKnown() && xs[i - lead].value() == 1 && ts[i] != Dim(1);
    if (added || stretched) axes.push_back(int64_t(i));
  }
  Node *s = axes.empty() ? t : b.op(OpKind::ReduceSum, {t}, loc, axesAttr("axes", axes));
  if (s && s->shape() != xs) {
    Attrs a;
    a.set("shape", xs);
    s = b.op(OpKind::Reshape, {s}, loc, a);
  }
  return s;
}

Node *GradBuilder::expandReduced(const Node *x, Node *t, const std::vector<int64_t> &axes, const SourceLoc &loc) {
  Shape kept;
  for (int64_t i = 0; i < x->type.rank(); ++i)
    if (std::find(axes.begin(), axes.end(), i) == axes.end()) kept.push_back(Dim(i));
  Attrs a;
  a.set("shape", x->shape());
  a.set("dims", kept);
  return b.op(OpKind::Broadcast, {t}, loc, a);
}

namespace {

using Grads = std::vector<Node *>;
Node *in(const Node *y, size_t i) { return y->operands[i]; }

Grads none(const Node *y) { return Grads(y->operands.size(), nullptr); }

#define LEAF_OR_CONSTANT(Kind) \
  Grads vjp##Kind(GradBuilder &, const Node *y, Node *) { return none(y); }
LEAF_OR_CONSTANT(Input)
LEAF_OR_CONSTANT(Label)
LEAF_OR_CONSTANT(Param)
LEAF_OR_CONSTANT(Const)
LEAF_OR_CONSTANT(Literal)
LEAF_OR_CONSTANT(DimSize)
LEAF_OR_CONSTANT(DropoutMask) // a constant of the step
LEAF_OR_CONSTANT(State)       // a constant of the step (its update is not differentiated)
LEAF_OR_CONSTANT(Sign) // piecewise constant
LEAF_OR_CONSTANT(Gt)
LEAF_OR_CONSTANT(Eq)
LEAF_OR_CONSTANT(OneHot)
#undef LEAF_OR_CONSTANT

// dx = -g
Grads vjpNeg(GradBuilder &gb, const Node *y, Node *g) { return {gb.op(OpKind::Neg, {g}, y->loc)}; }
// dx = g * exp(x) = g * y
Grads vjpExp(GradBuilder &gb, const Node *y, Node *g) {
  return {gb.op(OpKind::Mul, {g, const_cast<Node *>(y)}, y->loc)};
}
// dx = g / x
Grads vjpLog(GradBuilder &gb, const Node *y, Node *g) { return {gb.op(OpKind::Div, {g, in(y, 0)}, y->loc)}; }
// dx = g / (2 sqrt(x)) = (0.5 g) / y
Grads vjpSqrt(GradBuilder &gb, const Node *y, Node *g) {
  return {gb.op(OpKind::Div, {gb.op(OpKind::Mul, {g, gb.scalar(0.5, y->loc)}, y->loc), const_cast<Node *>(y)}, y->loc)};
}
// dx = g * sign(x)
Grads vjpAbs(GradBuilder &gb, const Node *y, Node *g) {
  return {gb.op(OpKind::Mul, {g, gb.op(OpKind::Sign, {in(y, 0)}, y->loc)}, y->loc)};
}
// dx = g * (1 - y^2)
Grads vjpTanh(GradBuilder &gb, const Node *y, Node *g) {
  Attrs sq;
  sq.set("exponent", 2.0);
  Node *d = gb.op(OpKind::Sub, {gb.scalar(1, y->loc), gb.op(OpKind::Pow, {const_cast<Node *>(y)}, y->loc, sq)}, y->loc);
  return {gb.op(OpKind::Mul, {g, d}, y->loc)};
}
// dx = g * y * (1 - y)
Grads vjpSigmoid(GradBuilder &gb, const Node *y, Node *g) {
  Node *yy = const_cast<Node *>(y);
  Node *d = gb.op(OpKind::Mul, {yy, gb.op(OpKind::Sub, {gb.scalar(1, y->loc), yy}, y->loc)}, y->loc);
  return {gb.op(OpKind::Mul, {g, d}, y->loc)};
}
// dx = g * (y > 0), the same mask as x > 0 read from the output (as PyTorch
// does): x then has no use after the forward, and fusion computes it inline.
Grads vjpRelu(GradBuilder &gb, const Node *y, Node *g) {
  return {gb.op(OpKind::Mul, {g, gb.op(OpKind::Gt, {const_cast<Node *>(y), gb.scalar(0, y->loc)}, y->loc)}, y->loc)};
}
// dx = g * p * x^(p-1)
Grads vjpPow(GradBuilder &gb, const Node *y, Node *g) {
  double p = y->attrs.getFloat("exponent");
  Node *x = in(y, 0);
  Node *xp = x;
  if (p - 1 != 1) {
    Attrs a;
    a.set("exponent", p - 1);
    xp = p - 1 == 0 ? gb.scalar(1, y->loc) : gb.op(OpKind::Pow, {x}, y->loc, a);
  }
  return {gb.op(OpKind::Mul, {g, gb.op(OpKind::Mul, {gb.scalar(p, y->loc), xp}, y->loc)}, y->loc)};
}

// da = g, db = g (each summed back to its shape)
Grads vjpAdd(GradBuilder &gb, const Node *y, Node *g) {
  return {gb.unbroadcast(in(y, 0), g, y->loc), gb.unbroadcast(in(y, 1), g, y->loc)};
}
// da = g, db = -g
Grads vjpSub(GradBuilder &gb, const Node *y, Node *g) {
  return {gb.unbroadcast(in(y, 0), g, y->loc), gb.unbroadcast(in(y, 1), gb.op(OpKind::Neg, {g}, y->loc), y->loc)};
}
// da = g b, db = g a
Grads vjpMul(GradBuilder &gb, const Node *y, Node *g) {
  return {gb.unbroadcast(in(y, 0), gb.op(OpKind::Mul, {g, in(y, 1)}, y->loc), y->loc),
          gb.unbroadcast(in(y, 1), gb.op(OpKind::Mul, {g, in(y, 0)}, y->loc), y->loc)};
}
// da = g / b, db = -g a / b^2 = -(g y) / b
Grads vjpDiv(GradBuilder &gb, const Node *y, Node *g) {
  Node *da = gb.op(OpKind::Div, {g, in(y, 1)}, y->loc);
  Node *db = gb.op(OpKind::Neg, {gb.op(OpKind::Div, {gb.op(OpKind::Mul, {g, const_cast<Node *>(y)}, y->loc), in(y, 1)}, y->loc)}, y->loc);
  return {gb.unbroadcast(in(y, 0), da, y->loc), gb.unbroadcast(in(y, 1), db, y->loc)};
}
// da = g (a > b), db = g (1 - (a > b)); a tie sends the gradient to b
Grads vjpMax(GradBuilder &gb, const Node *y, Node *g) {
  Node *mask = gb.op(OpKind::Gt, {in(y, 0), in(y, 1)}, y->loc);
  Node *rest = gb.op(OpKind::Sub, {gb.scalar(1, y->loc), mask}, y->loc);
  return {gb.unbroadcast(in(y, 0), gb.op(OpKind::Mul, {g, mask}, y->loc), y->loc),
          gb.unbroadcast(in(y, 1), gb.op(OpKind::Mul, {g, rest}, y->loc), y->loc)};
}

Node *reshapeTo(GradBuilder &gb, Node *x, Shape s, const SourceLoc &loc) {
  Attrs a;
  a.set("shape", std::move(s));
  return gb.op(OpKind::Reshape, {x}, loc, a);
}
Node *matmul(GradBuilder &gb, Node *a, Node *b, bool ta, bool tb, const SourceLoc &loc) {
  Attrs at;
  if (ta) at.set("transpose_a", true);
  if (tb) at.set("transpose_b", true);
  return gb.op(OpKind::MatMul, {a, b}, loc, at);
}
/// The outer product u v^T of two vectors.
Node *outer(GradBuilder &gb, Node *u, Node *v, const SourceLoc &loc) {
  return matmul(gb, reshapeTo(gb, u, {u->shape()[0], Dim(1)}, loc), reshapeTo(gb, v, {Dim(1), v->shape()[0]}, loc),
                false, false, loc);
}

// y = op(a) op(b), op = transpose where flagged.
//   matrices:  dA = g B^T, dB = A^T g (then transposed back where flagged)
//   A v:       dA = g v^T, dv = A^T g;   v B: dv = B g, dB = v g^T;   u . v: du = g v
Grads vjpMatMul(GradBuilder &gb, const Node *y, Node *g) {
  Node *a = in(y, 0), *b = in(y, 1);
  bool ta = y->attrs.getBool("transpose_a"), tb = y->attrs.getBool("transpose_b");
  const SourceLoc &loc = y->loc;
  int64_t ra = a->type.rank(), rb = b->type.rank();
  if (ra == 2 && rb == 2) {
    Node *da = ta ? matmul(gb, b, g, tb, true, loc) : matmul(gb, g, b, false, !tb, loc);
    Node *db = tb ? matmul(gb, g, a, true, ta, loc) : matmul(gb, a, g, !ta, false, loc);
    return {da, db};
  }
  if (ra == 2 && rb == 1) // y = A_eff v
    return {ta ? outer(gb, b, g, loc) : outer(gb, g, b, loc), matmul(gb, a, g, !ta, false, loc)};
  if (ra == 1 && rb == 2) // y = v B_eff
    return {matmul(gb, b, g, tb, false, loc), tb ? outer(gb, g, a, loc) : outer(gb, a, g, loc)};
  return {gb.op(OpKind::Mul, {g, b}, loc), gb.op(OpKind::Mul, {g, a}, loc)};
}

// dx = g permuted by the inverse permutation
Grads vjpTranspose(GradBuilder &gb, const Node *y, Node *g) {
  std::vector<int64_t> perm = y->attrs.has("perm") ? y->attrs.getInts("perm") : std::vector<int64_t>{1, 0};
  std::vector<int64_t> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[size_t(perm[i])] = int64_t(i);
  return {gb.op(OpKind::Transpose, {g}, y->loc, axesAttr("perm", inv))};
}
// dx = g with x's shape
Grads vjpReshape(GradBuilder &gb, const Node *y, Node *g) { return {reshapeTo(gb, g, in(y, 0)->shape(), y->loc)}; }
// dx = g summed over the broadcast dims
Grads vjpBroadcast(GradBuilder &gb, const Node *y, Node *g) {
  const Node *x = in(y, 0);
  std::vector<int64_t> dims = y->attrs.getInts("dims"), axes;
  for (int64_t i = 0; i < y->type.rank(); ++i) {
    auto it = std::find(dims.begin(), dims.end(), i);
    bool stretched = it != dims.end() && x->shape()[size_t(it - dims.begin())] == Dim(1) && y->shape()[size_t(i)] != Dim(1);
    if (it == dims.end() || stretched) axes.push_back(i);
  }
  Node *s = axes.empty() ? g : gb.op(OpKind::ReduceSum, {g}, y->loc, axesAttr("axes", axes));
  return {s && s->shape() != x->shape() ? reshapeTo(gb, s, x->shape(), y->loc) : s};
}
// dx = [0, g, 0] along the axis: g where the slice came from, zeros elsewhere
Grads vjpSlice(GradBuilder &gb, const Node *y, Node *g) {
  const Node *x = in(y, 0);
  int64_t axis = y->attrs.getInt("axis"), start = y->attrs.getInt("start"), end = y->attrs.getInt("end");
  int64_t extent = x->shape()[size_t(axis)].value();
  Attrs along;
  along.set("axis", axis);
  auto zerosOf = [&](int64_t count) {
    TensorType t = x->type;
    t.shape[size_t(axis)] = Dim(count);
    return gb.zeros(t, y->loc);
  };
  Node *dx = g;
  if (start > 0) dx = gb.op(OpKind::Concat, {zerosOf(start), dx}, y->loc, along);
  if (end < extent) dx = gb.op(OpKind::Concat, {dx, zerosOf(extent - end)}, y->loc, along);
  return {dx};
}
// da = g[:len(a)], db = g[len(a):] along the axis
Grads vjpConcat(GradBuilder &gb, const Node *y, Node *g) {
  int64_t axis = y->attrs.getInt("axis");
  int64_t split = in(y, 0)->shape()[size_t(axis)].value(), total = y->shape()[size_t(axis)].value();
  auto part = [&](int64_t start, int64_t end) {
    Attrs a;
    a.set("axis", axis);
    a.set("start", start);
    a.set("end", end);
    return gb.op(OpKind::Slice, {g}, y->loc, a);
  };
  return {part(0, split), part(split, total)};
}
// dx = g broadcast back over the reduced axes
Grads vjpReduceSum(GradBuilder &gb, const Node *y, Node *g) {
  return {gb.expandReduced(in(y, 0), g, y->attrs.getInts("axes"), y->loc)};
}
// dx = g where x equals the max (every tied element receives g)
Grads vjpReduceMax(GradBuilder &gb, const Node *y, Node *g) {
  auto axes = y->attrs.getInts("axes");
  Node *x = in(y, 0);
  Node *mask = gb.op(OpKind::Eq, {x, gb.expandReduced(x, const_cast<Node *>(y), axes, y->loc)}, y->loc);
  return {gb.op(OpKind::Mul, {gb.expandReduced(x, g, axes, y->loc), mask}, y->loc)};
}
// dx = y (g - sum(g y))
Grads vjpSoftmax(GradBuilder &gb, const Node *y, Node *g) {
  int64_t axis = y->attrs.getInt("axis");
  Node *yy = const_cast<Node *>(y);
  Node *dot = gb.op(OpKind::ReduceSum, {gb.op(OpKind::Mul, {g, yy}, y->loc)}, y->loc, axesAttr("axes", {axis}));
  Node *centered = gb.op(OpKind::Sub, {g, gb.expandReduced(y, dot, {axis}, y->loc)}, y->loc);
  return {gb.op(OpKind::Mul, {yy, centered}, y->loc)};
}
// dx = g - softmax(x) sum(g), with softmax(x) = exp(y)
Grads vjpLogSoftmax(GradBuilder &gb, const Node *y, Node *g) {
  int64_t axis = y->attrs.getInt("axis");
  Node *p = gb.op(OpKind::Exp, {const_cast<Node *>(y)}, y->loc);
  Node *total = gb.op(OpKind::ReduceSum, {g}, y->loc, axesAttr("axes", {axis}));
  return {gb.op(OpKind::Sub, {g, gb.op(OpKind::Mul, {p, gb.expandReduced(y, total, {axis}, y->loc)}, y->loc)}, y->loc)};
}

// dtrain = select_mode(g, 0), dinfer = select_mode(0, g): g reaches the operand the mode takes
Grads vjpSelectMode(GradBuilder &gb, const Node *y, Node *g) {
  Node *zero = gb.zeros(y->type, y->loc);
  return {gb.op(OpKind::SelectMode, {g, zero}, y->loc), gb.op(OpKind::SelectMode, {zero, g}, y->loc)};
}
// dx = g / max(count - ddof, 1) broadcast over the axes (one sample: the batch pass expands the op before autodiff)
Grads vjpBatchMean(GradBuilder &gb, const Node *y, Node *g) {
  const Node *x = in(y, 0);
  double count = double(numElements(x->shape()).value_or(1)) / double(numElements(y->shape()).value_or(1));
  double scale = 1.0 / std::max(count - double(y->attrs.getInt("ddof", 0)), 1.0);
  Node *spread = gb.expandReduced(x, g, y->attrs.getInts("axes"), y->loc);
  return {gb.op(OpKind::Mul, {spread, gb.scalar(scale, y->loc)}, y->loc)};
}

Attrs convAttrs(const Node *y, const Shape &shape) {
  Attrs a;
  for (const char *k : {"stride", "pad"})
    if (auto *v = y->attrs.get(k)) a.set(k, *v);
  a.set("shape", shape);
  return a;
}
// y = conv(x, k): dx = conv^T_data(g, k), dk = conv^T_filter(x, g)
Grads vjpConv2D(GradBuilder &gb, const Node *y, Node *g) {
  Node *x = in(y, 0), *k = in(y, 1);
  return {gb.op(OpKind::Conv2DBwdData, {g, k}, y->loc, convAttrs(y, x->shape())),
          gb.op(OpKind::Conv2DBwdFilter, {x, g}, y->loc, convAttrs(y, k->shape()))};
}
// y = conv^T_data(d, k), linear in each: dd = conv(h, k), dk = conv^T_filter(h, d)
Grads vjpConv2DBwdData(GradBuilder &gb, const Node *y, Node *h) {
  Node *d = in(y, 0), *k = in(y, 1);
  Attrs plain = convAttrs(y, {});
  plain.erase("shape");
  return {gb.op(OpKind::Conv2D, {h, k}, y->loc, plain),
          gb.op(OpKind::Conv2DBwdFilter, {h, d}, y->loc, convAttrs(y, k->shape()))};
}
// y = conv^T_filter(x, d): dx = conv^T_data(d, h), dd = conv(x, h)
Grads vjpConv2DBwdFilter(GradBuilder &gb, const Node *y, Node *h) {
  Node *x = in(y, 0), *d = in(y, 1);
  Attrs plain = convAttrs(y, {});
  plain.erase("shape");
  return {gb.op(OpKind::Conv2DBwdData, {d, h}, y->loc, convAttrs(y, x->shape())),
          gb.op(OpKind::Conv2D, {x, h}, y->loc, plain)};
}

/// The attributes of pooling `y` without its `shape` (a forward op's), or
/// with `shape` set (a gradient op's).
Attrs poolAttrs(const Node *y, const Shape *shape) {
  Attrs a = y->attrs;
  a.erase("shape");
  if (shape) a.set("shape", *shape);
  return a;
}
// y = maxpool2d(x): dx = g added at each window's argmax
Grads vjpMaxPool2D(GradBuilder &gb, const Node *y, Node *g) {
  return {gb.op(OpKind::MaxPool2DBwd, {in(y, 0), g}, y->loc, poolAttrs(y, nullptr))};
}
// y = h at x's argmaxes: dx = 0 (the argmaxes are piecewise constant), dh = maxpool2d_bwd(x, g)
Grads vjpMaxPool2DGather(GradBuilder &gb, const Node *y, Node *g) {
  return {nullptr, gb.op(OpKind::MaxPool2DBwd, {in(y, 0), g}, y->loc, poolAttrs(y, nullptr))};
}
// y = d added at x's argmaxes, linear in d: dx = 0, dd = h at x's argmaxes
Grads vjpMaxPool2DBwd(GradBuilder &gb, const Node *y, Node *h) {
  return {nullptr, gb.op(OpKind::MaxPool2DGather, {in(y, 0), h}, y->loc, poolAttrs(y, nullptr))};
}
// y = avgpool2d(x), linear: dx = its adjoint applied to g
Grads vjpAvgPool2D(GradBuilder &gb, const Node *y, Node *g) {
  return {gb.op(OpKind::AvgPool2DBwd, {g}, y->loc, poolAttrs(y, &in(y, 0)->shape()))};
}
// y = avgpool2d_bwd(d), the adjoint of avgpool2d: dd = avgpool2d(h)
Grads vjpAvgPool2DBwd(GradBuilder &gb, const Node *y, Node *h) {
  return {gb.op(OpKind::AvgPool2D, {h}, y->loc, poolAttrs(y, nullptr))};
}

// jvp, hvp, jacobian: the derive pass expands them before autodiff runs
#define EXPANDED_FIRST(Kind) \
  Grads vjp##Kind(GradBuilder &gb, const Node *y, Node *) { \
    gb.b.diags.error(y->loc, "autodiff: '{}' must be expanded by the derive pass first", y->info().mnemonic); \
    return none(y); \
  }
EXPANDED_FIRST(Jvp)
EXPANDED_FIRST(Hvp)
EXPANDED_FIRST(Jacobian)
#undef EXPANDED_FIRST

} // namespace

VJPRule vjpRule(OpKind kind) {
  static const VJPRule rules[] = {
#define OP(Enum, Mnemonic, Arity, Shape, Flags) &vjp##Enum,
#include "ir/Ops.def"
  };
  return rules[size_t(kind)];
}

} // namespace dlc
