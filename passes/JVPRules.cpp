//===- passes/JVPRules.cpp - The tangent of each op, side by side ---------===//
//
// Each rule is a pure function of the op, its operands and their tangents
// t_i = dx_i, with the math in its comment; it returns dy, or null when dy is
// zero. Broadcasting is explicit: a tangent of a smaller operand is
// broadcast to the result's shape. The table at the bottom is generated from
// Ops.def, so an op without a rule does not link.
//
//===----------------------------------------------------------------------===//
#include "passes/JVPRules.h"

namespace dlc {

namespace {

using Tangents = std::vector<Node *>;
Node *in(const Node *y, size_t i) { return y->operands[i]; }
Node *self(const Node *y) { return const_cast<Node *>(y); }

/// `t` broadcast to y's shape (dims aligned at the right, as numpy does).
Node *fit(GradBuilder &gb, Node *t, const Node *y) {
  if (!t || t->shape() == y->shape()) return t;
  Shape dims;
  int64_t lead = y->type.rank() - t->type.rank();
  for (int64_t i = 0; i < t->type.rank(); ++i) dims.push_back(Dim(lead + i));
  Attrs a;
  a.set("shape", y->shape());
  a.set("dims", dims);
  return gb.op(OpKind::Broadcast, {t}, y->loc, a);
}
/// a + b where a null term is zero.
Node *plus(GradBuilder &gb, Node *a, Node *b, const SourceLoc &loc) {
  if (!a || !b) return a ? a : b;
  return gb.op(OpKind::Add, {a, b}, loc);
}
Node *times(GradBuilder &gb, Node *t, Node *d, const SourceLoc &loc) {
  return t ? gb.op(OpKind::Mul, {t, d}, loc) : nullptr;
}
/// The op of y applied to other operands, with y's attributes.
Node *same(GradBuilder &gb, const Node *y, std::vector<Node *> ops) { return gb.op(y->kind, std::move(ops), y->loc, y->attrs); }
/// An op linear in each operand (matmul, conv): d op(a, b) = op(da, b) + op(a, db).
Node *bilinear(GradBuilder &gb, const Node *y, const Tangents &t) {
  Node *first = t[0] ? same(gb, y, {t[0], in(y, 1)}) : nullptr;
  Node *second = t[1] ? same(gb, y, {in(y, 0), t[1]}) : nullptr;
  return plus(gb, first, second, y->loc);
}

#define NO_TANGENT(Kind) \
  Node *jvp##Kind(GradBuilder &, const Node *, const Tangents &) { return nullptr; }
NO_TANGENT(Input)
NO_TANGENT(Label)
NO_TANGENT(Param)
NO_TANGENT(Const)
NO_TANGENT(Literal)
NO_TANGENT(DimSize)
NO_TANGENT(DropoutMask)
NO_TANGENT(State)
NO_TANGENT(Sign) // piecewise constant
NO_TANGENT(Gt)
NO_TANGENT(Eq)
NO_TANGENT(OneHot)
#undef NO_TANGENT

// dy = -dx
Node *jvpNeg(GradBuilder &gb, const Node *y, const Tangents &t) { return t[0] ? gb.op(OpKind::Neg, {t[0]}, y->loc) : nullptr; }
// dy = dx * y
Node *jvpExp(GradBuilder &gb, const Node *y, const Tangents &t) { return times(gb, t[0], self(y), y->loc); }
// dy = dx / x
Node *jvpLog(GradBuilder &gb, const Node *y, const Tangents &t) {
  return t[0] ? gb.op(OpKind::Div, {t[0], in(y, 0)}, y->loc) : nullptr;
}
// dy = (0.5 dx) / y
Node *jvpSqrt(GradBuilder &gb, const Node *y, const Tangents &t) {
  if (!t[0]) return nullptr;
  return gb.op(OpKind::Div, {gb.op(OpKind::Mul, {t[0], gb.scalar(0.5, y->loc)}, y->loc), self(y)}, y->loc);
}
// dy = dx * sign(x)
Node *jvpAbs(GradBuilder &gb, const Node *y, const Tangents &t) {
  return t[0] ? times(gb, t[0], gb.op(OpKind::Sign, {in(y, 0)}, y->loc), y->loc) : nullptr;
}
// dy = dx * (1 - y^2)
Node *jvpTanh(GradBuilder &gb, const Node *y, const Tangents &t) {
  if (!t[0]) return nullptr;
  Attrs sq;
  sq.set("exponent", 2.0);
  Node *d = gb.op(OpKind::Sub, {gb.scalar(1, y->loc), gb.op(OpKind::Pow, {self(y)}, y->loc, sq)}, y->loc);
  return times(gb, t[0], d, y->loc);
}
// dy = dx * y (1 - y)
Node *jvpSigmoid(GradBuilder &gb, const Node *y, const Tangents &t) {
  if (!t[0]) return nullptr;
  Node *d = gb.op(OpKind::Mul, {self(y), gb.op(OpKind::Sub, {gb.scalar(1, y->loc), self(y)}, y->loc)}, y->loc);
  return times(gb, t[0], d, y->loc);
}
// dy = dx * (x > 0)
Node *jvpRelu(GradBuilder &gb, const Node *y, const Tangents &t) {
  if (!t[0]) return nullptr;
  return times(gb, t[0], gb.op(OpKind::Gt, {in(y, 0), gb.scalar(0, y->loc)}, y->loc), y->loc);
}
// dy = dx * p x^(p-1)
Node *jvpPow(GradBuilder &gb, const Node *y, const Tangents &t) {
  if (!t[0]) return nullptr;
  double p = y->attrs.getFloat("exponent");
  Node *xp = in(y, 0);
  if (p - 1 != 1) {
    Attrs a;
    a.set("exponent", p - 1);
    xp = p - 1 == 0 ? gb.scalar(1, y->loc) : gb.op(OpKind::Pow, {xp}, y->loc, a);
  }
  return times(gb, t[0], gb.op(OpKind::Mul, {gb.scalar(p, y->loc), xp}, y->loc), y->loc);
}

// dy = da + db
Node *jvpAdd(GradBuilder &gb, const Node *y, const Tangents &t) {
  return plus(gb, fit(gb, t[0], y), fit(gb, t[1], y), y->loc);
}
// dy = da - db
Node *jvpSub(GradBuilder &gb, const Node *y, const Tangents &t) {
  Node *db = t[1] ? fit(gb, gb.op(OpKind::Neg, {t[1]}, y->loc), y) : nullptr;
  return plus(gb, fit(gb, t[0], y), db, y->loc);
}
// dy = da b + a db
Node *jvpMul(GradBuilder &gb, const Node *y, const Tangents &t) {
  Node *first = t[0] ? fit(gb, gb.op(OpKind::Mul, {t[0], in(y, 1)}, y->loc), y) : nullptr;
  Node *second = t[1] ? fit(gb, gb.op(OpKind::Mul, {in(y, 0), t[1]}, y->loc), y) : nullptr;
  return plus(gb, first, second, y->loc);
}
// dy = da / b - y db / b
Node *jvpDiv(GradBuilder &gb, const Node *y, const Tangents &t) {
  Node *first = t[0] ? fit(gb, gb.op(OpKind::Div, {t[0], in(y, 1)}, y->loc), y) : nullptr;
  Node *second = nullptr;
  if (t[1]) {
    Node *ydb = gb.op(OpKind::Mul, {self(y), t[1]}, y->loc);
    second = fit(gb, gb.op(OpKind::Neg, {gb.op(OpKind::Div, {ydb, in(y, 1)}, y->loc)}, y->loc), y);
  }
  return plus(gb, first, second, y->loc);
}
// dy = da (a > b) + db (1 - (a > b)); a tie follows b, as in the VJP
Node *jvpMax(GradBuilder &gb, const Node *y, const Tangents &t) {
  Node *mask = gb.op(OpKind::Gt, {in(y, 0), in(y, 1)}, y->loc);
  Node *first = t[0] ? fit(gb, gb.op(OpKind::Mul, {t[0], mask}, y->loc), y) : nullptr;
  Node *second = nullptr;
  if (t[1]) {
    Node *rest = gb.op(OpKind::Sub, {gb.scalar(1, y->loc), mask}, y->loc);
    second = fit(gb, gb.op(OpKind::Mul, {t[1], rest}, y->loc), y);
  }
  return plus(gb, first, second, y->loc);
}

// dy = op(dA) op(B) + op(A) op(dB)
Node *jvpMatMul(GradBuilder &gb, const Node *y, const Tangents &t) { return bilinear(gb, y, t); }
// dy = dx permuted, reshaped, broadcast or summed like x (linear ops)
Node *jvpTranspose(GradBuilder &gb, const Node *y, const Tangents &t) { return t[0] ? same(gb, y, {t[0]}) : nullptr; }
Node *jvpReshape(GradBuilder &gb, const Node *y, const Tangents &t) { return t[0] ? same(gb, y, {t[0]}) : nullptr; }
Node *jvpBroadcast(GradBuilder &gb, const Node *y, const Tangents &t) { return t[0] ? same(gb, y, {t[0]}) : nullptr; }
Node *jvpSlice(GradBuilder &gb, const Node *y, const Tangents &t) { return t[0] ? same(gb, y, {t[0]}) : nullptr; }
// dy = concat(da, db), a missing tangent being zeros
Node *jvpConcat(GradBuilder &gb, const Node *y, const Tangents &t) {
  if (!t[0] && !t[1]) return nullptr;
  Node *da = t[0] ? t[0] : gb.zeros(in(y, 0)->type, y->loc);
  Node *db = t[1] ? t[1] : gb.zeros(in(y, 1)->type, y->loc);
  return same(gb, y, {da, db});
}
Node *jvpReduceSum(GradBuilder &gb, const Node *y, const Tangents &t) { return t[0] ? same(gb, y, {t[0]}) : nullptr; }
// dy = sum(dx where x equals the max), the VJP's choice at ties
Node *jvpReduceMax(GradBuilder &gb, const Node *y, const Tangents &t) {
  if (!t[0]) return nullptr;
  auto axes = y->attrs.getInts("axes");
  Node *x = in(y, 0);
  Node *mask = gb.op(OpKind::Eq, {x, gb.expandReduced(x, self(y), axes, y->loc)}, y->loc);
  return gb.op(OpKind::ReduceSum, {gb.op(OpKind::Mul, {t[0], mask}, y->loc)}, y->loc, axesAttr("axes", axes));
}
// dy = y (dx - sum(y dx))
Node *jvpSoftmax(GradBuilder &gb, const Node *y, const Tangents &t) {
  if (!t[0]) return nullptr;
  int64_t axis = y->attrs.getInt("axis");
  Node *dot = gb.op(OpKind::ReduceSum, {gb.op(OpKind::Mul, {t[0], self(y)}, y->loc)}, y->loc, axesAttr("axes", {axis}));
  Node *centered = gb.op(OpKind::Sub, {t[0], gb.expandReduced(y, dot, {axis}, y->loc)}, y->loc);
  return gb.op(OpKind::Mul, {self(y), centered}, y->loc);
}
// dy = dx - sum(softmax(x) dx), with softmax(x) = exp(y)
Node *jvpLogSoftmax(GradBuilder &gb, const Node *y, const Tangents &t) {
  if (!t[0]) return nullptr;
  int64_t axis = y->attrs.getInt("axis");
  Node *p = gb.op(OpKind::Exp, {self(y)}, y->loc);
  Node *dot = gb.op(OpKind::ReduceSum, {gb.op(OpKind::Mul, {p, t[0]}, y->loc)}, y->loc, axesAttr("axes", {axis}));
  return gb.op(OpKind::Sub, {t[0], gb.expandReduced(y, dot, {axis}, y->loc)}, y->loc);
}

// dy = select_mode(dtrain, dinfer), a missing tangent being zeros
Node *jvpSelectMode(GradBuilder &gb, const Node *y, const Tangents &t) {
  if (!t[0] && !t[1]) return nullptr;
  return same(gb, y, {t[0] ? t[0] : gb.zeros(y->type, y->loc), t[1] ? t[1] : gb.zeros(y->type, y->loc)});
}
// dy = batch_mean(dx) (linear)
Node *jvpBatchMean(GradBuilder &gb, const Node *y, const Tangents &t) { return t[0] ? same(gb, y, {t[0]}) : nullptr; }

// The convolutions are linear in each operand: dy = conv(dx, k) + conv(x, dk).
Node *jvpConv2D(GradBuilder &gb, const Node *y, const Tangents &t) { return bilinear(gb, y, t); }
Node *jvpConv2DBwdData(GradBuilder &gb, const Node *y, const Tangents &t) { return bilinear(gb, y, t); }
Node *jvpConv2DBwdFilter(GradBuilder &gb, const Node *y, const Tangents &t) { return bilinear(gb, y, t); }

// Max pooling reads its operand at the argmaxes of x, which do not move
// under a small change of x: dy = dx (dh) at x's argmaxes; the gradient op is
// linear in g: dy = maxpool2d_bwd(x, dg).
Node *jvpMaxPool2D(GradBuilder &gb, const Node *y, const Tangents &t) {
  return t[0] ? gb.op(OpKind::MaxPool2DGather, {in(y, 0), t[0]}, y->loc, y->attrs) : nullptr;
}
/// dy = op(x, dh) for an op linear in h whose x only picks positions (a
/// tangent of x alone moves nothing: zeros).
Node *linearInSecond(GradBuilder &gb, const Node *y, const Tangents &t) {
  if (!t[0] && !t[1]) return nullptr;
  return t[1] ? same(gb, y, {in(y, 0), t[1]}) : gb.zeros(y->type, y->loc);
}
Node *jvpMaxPool2DGather(GradBuilder &gb, const Node *y, const Tangents &t) { return linearInSecond(gb, y, t); }
Node *jvpMaxPool2DBwd(GradBuilder &gb, const Node *y, const Tangents &t) { return linearInSecond(gb, y, t); }
// Average pooling and its adjoint are linear: dy = op(dx).
Node *jvpAvgPool2D(GradBuilder &gb, const Node *y, const Tangents &t) { return t[0] ? same(gb, y, {t[0]}) : nullptr; }
Node *jvpAvgPool2DBwd(GradBuilder &gb, const Node *y, const Tangents &t) { return t[0] ? same(gb, y, {t[0]}) : nullptr; }

// jvp, hvp, jacobian: the derive pass expands them (innermost first)
#define EXPANDED_FIRST(Kind) \
  Node *jvp##Kind(GradBuilder &gb, const Node *y, const Tangents &) { \
    gb.b.diags.error(y->loc, "forward mode: '{}' must be expanded by the derive pass first", y->info().mnemonic); \
    return nullptr; \
  }
EXPANDED_FIRST(Jvp)
EXPANDED_FIRST(Hvp)
EXPANDED_FIRST(Jacobian)
#undef EXPANDED_FIRST

} // namespace

JVPRule jvpRule(OpKind kind) {
  static const JVPRule rules[] = {
#define OP(Enum, Mnemonic, Arity, Shape, Flags) &jvp##Enum,
#include "ir/Ops.def"
  };
  return rules[size_t(kind)];
}

} // namespace dlc
