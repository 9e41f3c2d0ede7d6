//===- frontend/Builtins.cpp ----------------------------------------------===//
#include "frontend/Builtins.h"

#include <algorithm>
#include <cmath>

#include "ir/ShapeRules.h"

namespace dlc {

namespace {

const SourceLoc &locOf(const BuiltinCall &c) { return c.expr.loc; }

/// A compile-time integer argument (pad, stride, axis), or an error.
std::optional<int64_t> intArg(IRBuilder &b, const BuiltinCall &c, const char *key, int64_t dflt) {
  auto it = c.keywords.find(key);
  if (it == c.keywords.end()) return dflt;
  auto v = IRBuilder::constantValue(it->second);
  if (!v || *v != std::floor(*v) || std::fabs(*v) > 1e9) {
    b.diags.error(c.keywordExprs.at(key)->loc, "'{}' must be an integer constant", key);
    return std::nullopt;
  }
  return int64_t(*v);
}

/// Resolves a possibly negative axis against rank.
std::optional<int64_t> axisArg(IRBuilder &b, const BuiltinCall &c, Node *x, int64_t dflt) {
  auto axis = intArg(b, c, "axis", dflt);
  if (!axis || !x) return std::nullopt;
  int64_t r = x->type.rank();
  int64_t a = *axis < 0 ? *axis + r : *axis;
  if (a < 0 || a >= r) {
    b.diags.error(c.keywords.count("axis") ? c.keywordExprs.at("axis")->loc : locOf(c),
                  "axis {} is out of range for {}", *axis, shapeStr(x->shape()));
    return std::nullopt;
  }
  return a;
}

Node *unary(IRBuilder &b, const BuiltinCall &c, OpKind k) { return b.op(k, {c.args[0]}, locOf(c)); }

#define DLC_UNARY(Fn, Kind) \
  Node *Fn(IRBuilder &b, const BuiltinCall &c) { return unary(b, c, OpKind::Kind); }
DLC_UNARY(lowerExp, Exp)
DLC_UNARY(lowerLog, Log)
DLC_UNARY(lowerSqrt, Sqrt)
DLC_UNARY(lowerAbs, Abs)
DLC_UNARY(lowerTanh, Tanh)
DLC_UNARY(lowerSigmoid, Sigmoid)
DLC_UNARY(lowerRelu, Relu)
#undef DLC_UNARY

Node *reduction(IRBuilder &b, const BuiltinCall &c, OpKind kind) {
  Node *x = c.args[0];
  if (!x) return nullptr;
  if (!c.keywords.count("axis")) return b.reduceAll(kind, x, locOf(c));
  auto axis = axisArg(b, c, x, 0);
  if (!axis) return nullptr;
  return b.op(kind, {x}, locOf(c), axesAttr("axes", {*axis}));
}

Node *lowerSum(IRBuilder &b, const BuiltinCall &c) { return reduction(b, c, OpKind::ReduceSum); }

// mean(x) = sum(x) / count
Node *lowerMean(IRBuilder &b, const BuiltinCall &c) {
  Node *s = reduction(b, c, OpKind::ReduceSum);
  if (!s) return nullptr;
  auto all = numElements(c.args[0]->shape()), kept = numElements(s->shape());
  if (!all || !kept) return nullptr;
  int64_t count = *all / std::max<int64_t>(1, *kept);
  return b.op(OpKind::Mul, {s, b.scalar(1.0 / double(std::max<int64_t>(1, count)), locOf(c))}, locOf(c));
}

// max(x) and max(x, axis = k) reduce; max(a, b) is the elementwise maximum.
Node *lowerMax(IRBuilder &b, const BuiltinCall &c) {
  if (c.args.size() == 2) {
    if (c.keywords.count("axis")) {
      b.diags.error(c.keywordExprs.at("axis")->loc, "max(a, b) is elementwise and takes no axis");
      return nullptr;
    }
    return b.op(OpKind::Max, {c.args[0], c.args[1]}, locOf(c));
  }
  return reduction(b, c, OpKind::ReduceMax);
}

Node *softmaxLike(IRBuilder &b, const BuiltinCall &c, OpKind kind) {
  Node *x = c.args[0];
  if (x && x->type.isScalar()) {
    b.diags.error(locOf(c), "'{}' needs a vector, got a scalar", c.expr.name);
    return nullptr;
  }
  auto axis = axisArg(b, c, x, -1);
  if (!axis) return nullptr;
  Attrs a;
  a.set("axis", *axis);
  return b.op(kind, {x}, locOf(c), a);
}
Node *lowerSoftmax(IRBuilder &b, const BuiltinCall &c) { return softmaxLike(b, c, OpKind::Softmax); }
Node *lowerLogSoftmax(IRBuilder &b, const BuiltinCall &c) { return softmaxLike(b, c, OpKind::LogSoftmax); }

Node *lowerTranspose(IRBuilder &b, const BuiltinCall &c) {
  Node *x = c.args[0];
  if (x && x->type.rank() != 2) {
    b.diags.error(locOf(c), "transpose needs a matrix, got {}", shapeStr(x->shape()));
    return nullptr;
  }
  return b.op(OpKind::Transpose, {x}, locOf(c), axesAttr("perm", {1, 0}));
}

Node *reshapeTo(IRBuilder &b, Node *x, std::vector<int64_t> dims, const SourceLoc &loc) {
  return b.op(OpKind::Reshape, {x}, loc, axesAttr("shape", std::move(dims)));
}

Node *lowerFlatten(IRBuilder &b, const BuiltinCall &c) {
  Node *x = c.args[0];
  if (!x) return nullptr;
  auto n = numElements(x->shape());
  return n ? reshapeTo(b, x, {*n}, locOf(c)) : nullptr;
}

// reshape(x, [a, b, ...])
Node *lowerReshape(IRBuilder &b, const BuiltinCall &c) {
  const Expr *list = c.argExprs[1];
  if (list->kind != Expr::Kind::List) {
    b.diags.error(list->loc, "reshape needs a shape like [8, 14, 14] as its second argument");
    return nullptr;
  }
  std::vector<int64_t> dims;
  for (const auto &item : list->args) {
    if (!item->isInteger || item->number < 1) {
      b.diags.error(item->loc, "shape extents must be positive integers");
      return nullptr;
    }
    dims.push_back(int64_t(item->number));
  }
  return reshapeTo(b, c.args[0], dims, locOf(c));
}

Attrs convAttrs(std::pair<int64_t, int64_t> stride, std::pair<int64_t, int64_t> pad) {
  Attrs a;
  a.set("stride", Shape{Dim(stride.first), Dim(stride.second)});
  a.set("pad", Shape{Dim(pad.first), Dim(pad.second)});
  return a;
}

// conv2d(x : [C, H, W], K : [O, C, KH, KW], stride = 1, pad = 0) : [O, H', W']
Node *lowerConv2D(IRBuilder &b, const BuiltinCall &c) {
  auto stride = intArg(b, c, "stride", 1), pad = intArg(b, c, "pad", 0);
  if (!stride || !pad) return nullptr;
  return b.op(OpKind::Conv2D, {c.args[0], c.args[1]}, locOf(c),
              convAttrs({*stride, *stride}, {*pad, *pad}));
}

// conv1d(x : [L], k : [K]) or conv1d(x : [C, L], k : [O, C, K]): a conv2d of height 1.
Node *lowerConv1D(IRBuilder &b, const BuiltinCall &c) {
  Node *x = c.args[0], *k = c.args[1];
  auto stride = intArg(b, c, "stride", 1), pad = intArg(b, c, "pad", 0);
  if (!x || !k || !stride || !pad) return nullptr;
  const Shape &xs = x->shape(), &ks = k->shape();
  bool vector = xs.size() == 1 && ks.size() == 1, channels = xs.size() == 2 && ks.size() == 3;
  if (!vector && !channels) {
    b.diags.error(locOf(c), "conv1d needs x : [L] with k : [K], or x : [C, L] with k : [O, C, K]; got {} and {}",
                  shapeStr(xs), shapeStr(ks));
    return nullptr;
  }
  const SourceLoc &loc = locOf(c);
  Node *x4 = vector ? reshapeTo(b, x, {1, 1, xs[0].value()}, loc)
                    : reshapeTo(b, x, {xs[0].value(), 1, xs[1].value()}, loc);
  Node *k4 = vector ? reshapeTo(b, k, {1, 1, 1, ks[0].value()}, loc)
                    : reshapeTo(b, k, {ks[0].value(), ks[1].value(), 1, ks[2].value()}, loc);
  Node *y = b.op(OpKind::Conv2D, {x4, k4}, loc, convAttrs({1, *stride}, {0, *pad}));
  if (!y) return nullptr;
  const Shape &ys = y->shape();
  return vector ? reshapeTo(b, y, {ys[2].value()}, loc) : reshapeTo(b, y, {ys[0].value(), ys[2].value()}, loc);
}

/// A window, stride or pad argument: an integer constant, or a list of as
/// many integers as one of `counts` allows ([h, w], or [top, left, bottom,
/// right]), each at least `min`; `what` names it in errors.
std::optional<std::vector<int64_t>> intsArg(IRBuilder &b, const Node *v, const Expr &e, const std::string &what,
                                            std::vector<size_t> counts, int64_t min) {
  std::vector<double> values;
  if (auto one = IRBuilder::constantValue(v)) values = {*one};
  else if (v && v->kind == OpKind::Literal && v->type.rank() == 1) values = v->attrs.getFloats("values");
  bool countOk = std::find(counts.begin(), counts.end(), values.size()) != counts.end() || values.size() == 1;
  bool integers = countOk;
  for (double x : values) integers = integers && x == std::floor(x) && std::fabs(x) <= 1e9;
  if (!integers) {
    std::string lists;
    for (size_t n : counts) lists += fmt::format("{}{}", lists.empty() ? "" : " or ", n);
    b.diags.error(e.loc, "{} must be an integer constant or a list of {} integers", what, lists);
    return std::nullopt;
  }
  std::vector<int64_t> out;
  for (double x : values) {
    if (x < double(min)) {
      b.diags.error(e.loc, "{} must be {} or more, got {}", what, min, int64_t(x));
      return std::nullopt;
    }
    out.push_back(int64_t(x));
  }
  return out;
}

// maxpool2d(x : [C, H, W], k, stride = k, pad = 0), avgpool2d(..., count_include_pad = 0):
// k x k windows (or [kh, kw]) every `stride` pixels ([sh, sw]) of the image
// padded by `pad` on every side ([h, w], or [top, left, bottom, right]).
Node *pool(IRBuilder &b, const BuiltinCall &c, OpKind kind) {
  Node *x = c.args[0];
  if (!x) return nullptr;
  if (x->type.rank() != 3) {
    b.diags.error(c.argExprs[0]->loc, "{} needs a [C, H, W] image, got {}", c.expr.name, shapeStr(x->shape()));
    return nullptr;
  }
  auto window = intsArg(b, c.args[1], *c.argExprs[1], "the pool window", {2}, 1);
  if (!window) return nullptr;
  if (window->size() == 1) window->push_back(window->front());
  std::vector<int64_t> stride = *window, pad{0, 0, 0, 0};
  if (c.keywords.count("stride")) {
    auto s = intsArg(b, c.keywords.at("stride"), *c.keywordExprs.at("stride"), "'stride'", {2}, 1);
    if (!s) return nullptr;
    stride = s->size() == 1 ? std::vector<int64_t>{s->at(0), s->at(0)} : *s;
  }
  if (c.keywords.count("pad")) {
    const Expr &e = *c.keywordExprs.at("pad");
    auto p = intsArg(b, c.keywords.at("pad"), e, "'pad'", {2, 4}, 0);
    if (!p) return nullptr;
    if (p->size() == 4) pad = *p;
    else if (p->size() == 2) pad = {(*p)[0], (*p)[1], (*p)[0], (*p)[1]}; // [h, w]: top and bottom, left and right
    else pad.assign(4, p->front());
    for (size_t i = 0; i < 4; ++i)
      if (pad[i] >= (*window)[i % 2]) {
        b.diags.error(e.loc, "'pad' {} must be smaller than the {}x{} window", pad[i], (*window)[0], (*window)[1]);
        return nullptr;
      }
  }
  auto dims = [](const std::vector<int64_t> &v) { return Shape(v.begin(), v.end()); };
  Attrs a;
  a.set("kernel", dims(*window));
  a.set("stride", dims(stride));
  a.set("pad", dims(pad));
  if (c.keywords.count("count_include_pad")) {
    auto v = IRBuilder::constantValue(c.keywords.at("count_include_pad"));
    if (!v || (*v != 0 && *v != 1)) {
      b.diags.error(c.keywordExprs.at("count_include_pad")->loc, "'count_include_pad' must be 0 or 1");
      return nullptr;
    }
    if (*v == 1) a.set("count_include_pad", true);
  }
  return b.op(kind, {x}, locOf(c), std::move(a));
}
Node *lowerMaxPool(IRBuilder &b, const BuiltinCall &c) { return pool(b, c, OpKind::MaxPool2D); }
Node *lowerAvgPool(IRBuilder &b, const BuiltinCall &c) { return pool(b, c, OpKind::AvgPool2D); }

// one_hot(y) for a class label y of K classes: the vector e_y of K entries,
// a target for losses on class scores (square_loss(w, one_hot(y))).
Node *lowerOneHot(IRBuilder &b, const BuiltinCall &c) {
  Node *y = c.args[0];
  if (!y) return nullptr;
  if (y->kind != OpKind::Label || !y->attrs.has("classes")) {
    b.diags.error(c.argExprs[0]->loc, "one_hot needs a class label (declared `label y : class(K)`), got {}",
                  shapeStr(y->shape()));
    return nullptr;
  }
  Attrs a;
  a.set("classes", y->attrs.getInt("classes"));
  return b.op(OpKind::OneHot, {y}, locOf(c), a);
}

// concat(a, b, ..., axis = 0): the operands one after another along the axis,
// every other dim equal; a chain of two-operand concat ops.
Node *lowerConcat(IRBuilder &b, const BuiltinCall &c) {
  for (Node *x : c.args)
    if (!x) return nullptr;
  if (c.args[0]->type.isScalar()) {
    b.diags.error(c.argExprs[0]->loc, "concat needs vectors or tensors, got a scalar");
    return nullptr;
  }
  auto axis = axisArg(b, c, c.args[0], 0);
  if (!axis) return nullptr;
  Attrs a;
  a.set("axis", *axis);
  Node *y = c.args[0];
  for (size_t i = 1; i < c.args.size() && y; ++i) y = b.op(OpKind::Concat, {y, c.args[i]}, c.argExprs[i]->loc, a);
  return y;
}

// layer_norm(x, eps = 1e-5) = (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps)
// over all of a sample's elements; a gain and a bias are ordinary params
// (`layer_norm(x) * g + b`).
Node *lowerLayerNorm(IRBuilder &b, const BuiltinCall &c) {
  Node *x = c.args[0];
  if (!x) return nullptr;
  const SourceLoc &loc = locOf(c);
  double eps = 1e-5;
  if (auto it = c.keywords.find("eps"); it != c.keywords.end()) {
    auto v = IRBuilder::constantValue(it->second);
    if (!v || !(*v > 0)) {
      b.diags.error(c.keywordExprs.at("eps")->loc, "'eps' must be a positive constant");
      return nullptr;
    }
    eps = *v;
  }
  auto count = numElements(x->shape());
  if (x->type.isScalar() || !count || *count < 2) {
    b.diags.error(c.argExprs[0]->loc, "layer_norm needs a vector or a tensor of 2 or more elements, got {}",
                  shapeStr(x->shape()));
    return nullptr;
  }
  Node *inv = b.scalar(1.0 / double(*count), loc);
  Node *mean = b.op(OpKind::Mul, {b.reduceAll(OpKind::ReduceSum, x, loc), inv}, loc);
  Node *centered = b.op(OpKind::Sub, {x, mean}, loc);
  Attrs sq;
  sq.set("exponent", 2.0);
  Node *var = b.op(OpKind::Mul, {b.reduceAll(OpKind::ReduceSum, b.op(OpKind::Pow, {centered}, loc, sq), loc), inv}, loc);
  Node *scale = b.op(OpKind::Sqrt, {b.op(OpKind::Add, {var, b.scalar(eps, loc)}, loc)}, loc);
  return b.op(OpKind::Div, {centered, scale}, loc);
}

// dropout(x, p) = x * mask: in training (loss_and_grad, train_step) each
// element is kept with probability 1 - p and scaled by 1 / (1 - p); in
// forward the mask is 1 (docs/ir.md#modes). Each dropout gets its own salt.
Node *lowerDropout(IRBuilder &b, const BuiltinCall &c) {
  Node *x = c.args[0];
  auto p = IRBuilder::constantValue(c.args[1]);
  if (!x) return nullptr;
  if (!p || !(*p >= 0 && *p < 1)) {
    b.diags.error(c.argExprs[1]->loc, "dropout's p must be a constant in [0, 1) (the probability of dropping)");
    return nullptr;
  }
  if (*p == 0) return x;
  Attrs a;
  a.set("p", *p);
  a.set("salt", int64_t(b.graph.nodesOfKind(OpKind::DropoutMask).size() + 1));
  Node *mask = b.graph.add(OpKind::DropoutMask, {}, std::move(a), x->type, "", locOf(c));
  return b.op(OpKind::Mul, {x, mask}, locOf(c));
}

// ---- losses (per sample) ------------------------------------------------

// cross_entropy(w, y) = -log softmax(w)[y] for a class label y, or
// -sum(y * log_softmax(w)) for a target distribution y.
Node *lowerCrossEntropy(IRBuilder &b, const BuiltinCall &c) {
  Node *w = c.args[0], *y = c.args[1];
  if (!w || !y) return nullptr;
  const SourceLoc &loc = locOf(c);
  if (w->type.rank() != 1) {
    b.diags.error(loc, "cross_entropy needs a vector of logits, got {}", shapeStr(w->shape()));
    return nullptr;
  }
  Node *target = y;
  if (y->type.dtype == DType::I32) {
    int64_t classes = y->attrs.getInt("classes");
    if (Dim(classes) != w->shape()[0]) {
      b.diags.error(loc, "cross_entropy: {} logits for a label of {} classes", w->shape()[0].str(), classes);
      return nullptr;
    }
    Attrs a;
    a.set("classes", classes);
    target = b.op(OpKind::OneHot, {y}, loc, a);
  }
  Attrs axis;
  axis.set("axis", int64_t(0));
  Node *logp = b.op(OpKind::LogSoftmax, {w}, loc, axis);
  return b.op(OpKind::Neg, {b.reduceAll(OpKind::ReduceSum, b.op(OpKind::Mul, {target, logp}, loc), loc)}, loc);
}

// square_loss(p, t) = sum((p - t)^2)
Node *lowerSquareLoss(IRBuilder &b, const BuiltinCall &c) {
  const SourceLoc &loc = locOf(c);
  Attrs sq;
  sq.set("exponent", 2.0);
  return b.reduceAll(OpKind::ReduceSum, b.op(OpKind::Pow, {b.op(OpKind::Sub, {c.args[0], c.args[1]}, loc)}, loc, sq), loc);
}

// hinge(s, t) = sum(max(1 - t s, 0)) with t in {-1, +1}
Node *lowerHinge(IRBuilder &b, const BuiltinCall &c) {
  const SourceLoc &loc = locOf(c);
  Node *margin = b.op(OpKind::Sub, {b.scalar(1, loc), b.op(OpKind::Mul, {c.args[1], c.args[0]}, loc)}, loc);
  return b.reduceAll(OpKind::ReduceSum, b.op(OpKind::Max, {margin, b.scalar(0, loc)}, loc), loc);
}

// binary_cross_entropy(z, t) on logits z, targets t in [0, 1]:
// sum(max(z, 0) - z t + log(1 + exp(-|z|))), stable for any z.
Node *lowerBinaryCrossEntropy(IRBuilder &b, const BuiltinCall &c) {
  const SourceLoc &loc = locOf(c);
  Node *z = c.args[0], *t = c.args[1];
  Node *pos = b.op(OpKind::Max, {z, b.scalar(0, loc)}, loc);
  Node *soft = b.op(OpKind::Log, {b.op(OpKind::Add, {b.scalar(1, loc),
                    b.op(OpKind::Exp, {b.op(OpKind::Neg, {b.op(OpKind::Abs, {z}, loc)}, loc)}, loc)}, loc)}, loc);
  Node *terms = b.op(OpKind::Add, {b.op(OpKind::Sub, {pos, b.op(OpKind::Mul, {z, t}, loc)}, loc), soft}, loc);
  return b.reduceAll(OpKind::ReduceSum, terms, loc);
}

// jvp(y, x, t), hvp(f, x, v), jacobian(y, x): requests the derive pass expands.
Node *derivative(IRBuilder &b, const BuiltinCall &c, OpKind kind) {
  for (size_t i = 0; i < c.args.size(); ++i)
    if (!c.args[i]) return nullptr;
  Node *x = c.args[1];
  if (x->kind != OpKind::Input && x->kind != OpKind::Param) {
    b.diags.error(c.argExprs[1]->loc, "{}: differentiate with respect to an input or a param", c.expr.name);
    return nullptr;
  }
  return b.op(kind, c.args, locOf(c));
}
Node *lowerJvp(IRBuilder &b, const BuiltinCall &c) { return derivative(b, c, OpKind::Jvp); }
Node *lowerHvp(IRBuilder &b, const BuiltinCall &c) { return derivative(b, c, OpKind::Hvp); }
Node *lowerJacobian(IRBuilder &b, const BuiltinCall &c) { return derivative(b, c, OpKind::Jacobian); }

const std::vector<Builtin> &builtins() {
  static const std::vector<Builtin> table = {
      {"exp", 1, 1, {}, false, lowerExp},
      {"log", 1, 1, {}, false, lowerLog},
      {"sqrt", 1, 1, {}, false, lowerSqrt},
      {"abs", 1, 1, {}, false, lowerAbs},
      {"tanh", 1, 1, {}, false, lowerTanh},
      {"sigmoid", 1, 1, {}, false, lowerSigmoid},
      {"relu", 1, 1, {}, false, lowerRelu},
      {"sum", 1, 1, {"axis"}, false, lowerSum},
      {"mean", 1, 1, {"axis"}, false, lowerMean},
      {"max", 1, 2, {"axis"}, false, lowerMax},
      {"softmax", 1, 1, {"axis"}, false, lowerSoftmax},
      {"log_softmax", 1, 1, {"axis"}, false, lowerLogSoftmax},
      {"transpose", 1, 1, {}, false, lowerTranspose},
      {"flatten", 1, 1, {}, false, lowerFlatten},
      {"reshape", 2, 2, {}, false, lowerReshape},
      {"conv2d", 2, 2, {"stride", "pad"}, false, lowerConv2D},
      {"conv1d", 2, 2, {"stride", "pad"}, false, lowerConv1D},
      {"maxpool2d", 2, 2, {"stride", "pad"}, false, lowerMaxPool},
      {"avgpool2d", 2, 2, {"stride", "pad", "count_include_pad"}, false, lowerAvgPool},
      {"one_hot", 1, 1, {}, false, lowerOneHot},
      {"concat", 2, 64, {"axis"}, false, lowerConcat},
      {"layer_norm", 1, 1, {"eps"}, false, lowerLayerNorm},
      {"dropout", 2, 2, {}, false, lowerDropout},
      {"batch_norm", 1, 1, {"momentum", "eps"}, false, lowerBatchNorm},
      {"jvp", 3, 3, {}, false, lowerJvp},
      {"hvp", 3, 3, {}, false, lowerHvp},
      {"jacobian", 2, 2, {}, false, lowerJacobian},
      {"cross_entropy", 2, 2, {}, true, lowerCrossEntropy},
      {"square_loss", 2, 2, {}, true, lowerSquareLoss},
      {"hinge", 2, 2, {}, true, lowerHinge},
      {"binary_cross_entropy", 2, 2, {}, true, lowerBinaryCrossEntropy},
  };
  return table;
}

} // namespace

const Builtin *findBuiltin(std::string_view name) {
  for (const Builtin &b : builtins())
    if (name == b.name) return &b;
  return nullptr;
}

std::string lossNames() {
  std::string out;
  for (const Builtin &b : builtins())
    if (b.isLoss) out += (out.empty() ? "" : ", ") + std::string(b.name);
  return out;
}

} // namespace dlc
