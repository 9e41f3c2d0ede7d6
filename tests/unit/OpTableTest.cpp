//===- tests/unit/OpTableTest.cpp - Every op table row, end to end --------===//
//
// Walks ir/Ops.def. Each row gets one or more small graphs in which it is the
// op under test: elementwise rows automatically, the others from the samples
// below (a row without one fails here). Each graph, L = sum(y * W) for
// y = op(params), is differentiated, JIT-compiled and run, and y, L and every
// gradient are compared with the double-precision interpreter. The rows'
// VJP rules, text form and constant folding are checked on the same graphs.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <set>

#include "TestUtil.h"
#include "codegen/JIT.h"
#include "codegen/Lowering.h"
#include "ir/Interpreter.h"
#include "passes/Pass.h"
#include "passes/VJPRules.h"

using namespace dlc;
using namespace dlc::test;

namespace {

/// Appends the leaves and the op of one sample graph.
struct SampleBuilder {
  Graph &g;
  DiagnosticEngine &diags;
  IRBuilder b{g, diags};
  int params = 0;
  /// Constants instead of params: tensors of the param's shape, or scalars
  /// where an elementwise op broadcasts them.
  enum class Operands { Params, TensorConstants, ScalarConstants, Literals } operands = Operands::Params;

  Node *param(Shape shape) {
    if (operands == Operands::Literals) { // a tensor literal of distinct values
      std::vector<double> values(size_t(numElements(shape).value_or(0)));
      for (size_t i = 0; i < values.size(); ++i) values[i] = 0.25 + 0.125 * double((i * 7 + size_t(params)) % 13);
      ++params;
      Attrs c;
      c.set("values", values);
      return g.add(OpKind::Literal, {}, c, {DType::F32, std::move(shape)});
    }
    if (operands != Operands::Params) {
      Attrs c;
      c.set("value", 0.5 + 0.25 * double(params++)); // positive: every elementwise row is defined there
      if (operands == Operands::ScalarConstants) shape = {};
      return g.add(OpKind::Const, {}, c, {DType::F32, std::move(shape)});
    }
    Attrs a;
    a.set("init", std::string("zeros"));
    return g.add(OpKind::Param, {}, a, {DType::F32, std::move(shape)}, "p" + std::to_string(params++));
  }
  Node *label(Shape shape, int64_t classes) {
    Attrs a;
    a.set("classes", classes);
    return g.add(OpKind::Label, {}, a, {DType::I32, std::move(shape)}, "t");
  }
  Node *op(OpKind kind, std::vector<Node *> operands, Attrs attrs = {}) {
    return b.op(kind, std::move(operands), {}, std::move(attrs));
  }
};

/// A graph in which one row's op computes the value `y`.
struct Sample {
  std::string what;
  std::function<Node *(SampleBuilder &)> build;
};

Attrs attrs(std::initializer_list<std::pair<const char *, AttrValue>> entries) {
  Attrs a;
  for (auto &[k, v] : entries) a.set(k, v);
  return a;
}
Shape dims(std::initializer_list<int64_t> d) { return Shape(d.begin(), d.end()); }

/// Attribute sets an elementwise row is tested with (most have none).
std::vector<Attrs> elementwiseAttrs(OpKind kind) {
  if (kind == OpKind::Pow) // 2 lowers to x * x, the others to llvm.pow
    return {attrs({{"exponent", 2.0}}), attrs({{"exponent", 3.0}}), attrs({{"exponent", 0.5}})};
  return {Attrs{}};
}

/// Samples of the rows that are not elementwise (leaves are covered as the
/// operands of every sample; const and dim are results of their own).
std::map<OpKind, std::vector<Sample>> structuralSamples() {
  using K = OpKind;
  using B = SampleBuilder;
  auto mm = [](Shape a, Shape b, bool ta, bool tb) {
    return [=](B &s) {
      return s.op(K::MatMul, {s.param(a), s.param(b)}, attrs({{"transpose_a", ta}, {"transpose_b", tb}}));
    };
  };
  auto conv = [](K kind, Shape x, Shape k, Attrs a) { return [=](B &s) { return s.op(kind, {s.param(x), s.param(k)}, a); }; };
  auto pool = [](K kind, std::vector<Shape> operands, Attrs a) {
    return [=](B &s) {
      std::vector<Node *> ops;
      for (const Shape &o : operands) ops.push_back(s.param(o));
      return s.op(kind, ops, a);
    };
  };
  auto poolAttrs = [](Shape kernel, Shape stride, Shape pad) {
    return attrs({{"kernel", kernel}, {"stride", stride}, {"pad", pad}});
  };
  auto withShape = [](Attrs a, Shape shape) {
    a.set("shape", shape);
    return a;
  };
  Attrs pool3s2p1 = poolAttrs(dims({3, 3}), dims({2, 2}), dims({1, 1, 1, 1}));
  Attrs tiles2 = poolAttrs(dims({2, 2}), dims({2, 2}), dims({0, 0, 0, 0}));
  Attrs gaps = poolAttrs(dims({2, 2}), dims({3, 3}), dims({0, 0, 0, 0}));
  Attrs uneven = poolAttrs(dims({2, 3}), dims({1, 3}), dims({1, 0, 0, 2}));
  Attrs rows = poolAttrs(dims({3, 2}), dims({2, 2}), dims({1, 0, 1, 0}));
  Attrs rowsCounted = rows;
  rowsCounted.set("count_include_pad", true);
  Attrs gapsTop = poolAttrs(dims({2, 2}), dims({3, 3}), dims({1, 0, 0, 0}));
  Attrs countPad = uneven;
  countPad.set("count_include_pad", true);
  Attrs pad1 = attrs({{"pad", dims({1, 1})}, {"stride", dims({1, 1})}});
  Attrs stride2 = attrs({{"pad", dims({0, 1})}, {"stride", dims({2, 2})}});
  return {
      {K::Const, {{"a [3, 5] constant", [](B &s) {
                     return s.g.add(K::Const, {}, attrs({{"value", 0.75}}), {DType::F32, dims({3, 5})}, "c");
                   }}}},
      {K::Literal, {{"a [2, 3] literal", [](B &s) {
                       return s.g.add(K::Literal, {}, attrs({{"values", std::vector<double>{1, -2, 3.5, 4, 0.25, -6}}}),
                                      {DType::F32, dims({2, 3})}, "c");
                     }}}},
      {K::State, {{"a [3, 4] state, read where the test put it", [](B &s) {
                     return s.g.add(K::State, {}, attrs({{"init", std::string("zeros")}}), {DType::F32, dims({3, 4})}, "s");
                   }}}},
      {K::DropoutMask, {{"a [3, 4] mask in forward (all ones)", [](B &s) {
                           return s.g.add(K::DropoutMask, {}, attrs({{"p", 0.5}, {"salt", int64_t(1)}}),
                                          {DType::F32, dims({3, 4})}, "mask");
                         }}}},
      {K::Slice,
       {{"[5, 3] rows 1:4", [](B &s) {
          return s.op(K::Slice, {s.param(dims({5, 3}))}, attrs({{"axis", int64_t(0)}, {"start", int64_t(1)}, {"end", int64_t(4)}}));
        }},
        {"[2, 3, 6] axis 2, 2:5", [](B &s) {
          return s.op(K::Slice, {s.param(dims({2, 3, 6}))}, attrs({{"axis", int64_t(2)}, {"start", int64_t(2)}, {"end", int64_t(5)}}));
        }}}},
      {K::Concat,
       {{"[2, 3] with [4, 3] along 0",
         [](B &s) { return s.op(K::Concat, {s.param(dims({2, 3})), s.param(dims({4, 3}))}, attrs({{"axis", int64_t(0)}})); }},
        {"[2, 3, 2] with [2, 1, 2] along 1",
         [](B &s) { return s.op(K::Concat, {s.param(dims({2, 3, 2})), s.param(dims({2, 1, 2}))}, attrs({{"axis", int64_t(1)}})); }}}},
      {K::DimSize, {{"the batch extent", [](B &s) {
                       return s.g.add(K::DimSize, {}, attrs({{"symbol", std::string("N")}}), {DType::F32, {}}, "d");
                     }}}},
      {K::MatMul,
       {{"[3, 4] [4, 5]", mm(dims({3, 4}), dims({4, 5}), false, false)},
        {"[4, 3]^T [4, 5]", mm(dims({4, 3}), dims({4, 5}), true, false)},
        {"[3, 4] [5, 4]^T", mm(dims({3, 4}), dims({5, 4}), false, true)},
        {"[3, 12] [12] (not unrolled)", mm(dims({3, 12}), dims({12}), false, false)},
        {"[4] [4, 5]", mm(dims({4}), dims({4, 5}), false, false)},
        {"[24, 32] [32, 16] (the packed GEMM)", mm(dims({24, 32}), dims({32, 16}), false, false)},
        {"[32, 24]^T [16, 32]^T (the packed GEMM)", mm(dims({32, 24}), dims({16, 32}), true, true)}}},
      {K::Transpose,
       {{"[2, 3, 4] perm [2, 0, 1]",
         [](B &s) { return s.op(K::Transpose, {s.param(dims({2, 3, 4}))}, attrs({{"perm", dims({2, 0, 1})}})); }}}},
      {K::Reshape,
       {{"[2, 6] to [3, 4]",
         [](B &s) { return s.op(K::Reshape, {s.param(dims({2, 6}))}, attrs({{"shape", dims({3, 4})}})); }}}},
      {K::Broadcast, {{"[3, 1] to [3, 2, 4]", [](B &s) {
                         return s.op(K::Broadcast, {s.param(dims({3, 1}))},
                                     attrs({{"dims", dims({0, 2})}, {"shape", dims({3, 2, 4})}}));
                       }}}},
      {K::ReduceSum,
       {{"[2, 3, 4] over [0, 2]",
         [](B &s) { return s.op(K::ReduceSum, {s.param(dims({2, 3, 4}))}, attrs({{"axes", dims({0, 2})}})); }},
        {"[4, 3] over [0] (the last axis kept)",
         [](B &s) { return s.op(K::ReduceSum, {s.param(dims({4, 3}))}, attrs({{"axes", dims({0})}})); }}}},
      {K::BatchMean,
       {{"[2, 3, 4] over [0, 2] (no batch dim: one sample)",
         [](B &s) { return s.op(K::BatchMean, {s.param(dims({2, 3, 4}))}, attrs({{"axes", dims({0, 2})}})); }},
        {"[3, 4] over [1], ddof 1", [](B &s) {
           return s.op(K::BatchMean, {s.param(dims({3, 4}))}, attrs({{"axes", dims({1})}, {"ddof", int64_t(1)}}));
         }}}},
      {K::SelectMode, {{"[3, 4] train, [3, 4] infer", [](B &s) {
                          return s.op(K::SelectMode, {s.param(dims({3, 4})), s.param(dims({3, 4}))});
                        }}}},
      {K::ReduceMax,
       {{"[2, 3, 4] over [1]",
         [](B &s) { return s.op(K::ReduceMax, {s.param(dims({2, 3, 4}))}, attrs({{"axes", dims({1})}})); }}}},
      {K::Softmax,
       {{"[3, 4] along 1", [](B &s) { return s.op(K::Softmax, {s.param(dims({3, 4}))}, attrs({{"axis", int64_t(1)}})); }},
        {"[3, 4] along 0", [](B &s) { return s.op(K::Softmax, {s.param(dims({3, 4}))}, attrs({{"axis", int64_t(0)}})); }}}},
      {K::LogSoftmax, {{"[3, 4] along 1", [](B &s) {
                          return s.op(K::LogSoftmax, {s.param(dims({3, 4}))}, attrs({{"axis", int64_t(1)}}));
                        }}}},
      {K::OneHot, {{"i32[5] into 4 classes", [](B &s) {
                      return s.op(K::OneHot, {s.label(dims({5}), 4)}, attrs({{"classes", int64_t(4)}}));
                    }}}},
      {K::Conv2D,
       {{"[2, 5, 6] * [3, 2, 3, 3], pad 1", conv(K::Conv2D, dims({2, 5, 6}), dims({3, 2, 3, 3}), pad1)},
        {"[2, 2, 7, 6] * [3, 2, 3, 2], stride 2", conv(K::Conv2D, dims({2, 2, 7, 6}), dims({3, 2, 3, 2}), stride2)}}},
      {K::Conv2DBwdData, {{"of [2, 5, 6] * [3, 2, 3, 3], pad 1", [=](B &s) {
                             Attrs a = pad1;
                             a.set("shape", dims({2, 5, 6}));
                             return s.op(K::Conv2DBwdData, {s.param(dims({3, 5, 6})), s.param(dims({3, 2, 3, 3}))}, a);
                           }}}},
      {K::Conv2DBwdFilter, {{"of [2, 2, 7, 6] * [3, 2, 3, 2], stride 2", [=](B &s) {
                               Attrs a = stride2;
                               a.set("shape", dims({3, 2, 3, 2}));
                               return s.op(K::Conv2DBwdFilter, {s.param(dims({2, 2, 7, 6})), s.param(dims({2, 3, 3, 4}))}, a);
                             }}}},
      {K::MaxPool2D,
       {{"[2, 5, 6] 3x3, stride 2, pad 1", pool(K::MaxPool2D, {dims({2, 5, 6})}, pool3s2p1)},
        {"[2, 2, 4, 6] 2x2 tiles", pool(K::MaxPool2D, {dims({2, 2, 4, 6})}, tiles2)},
        {"[2, 7, 9] 2x3, stride [1, 3], pad [1, 0, 0, 2]", pool(K::MaxPool2D, {dims({2, 7, 9})}, uneven)},
        {"[3, 5, 38] 3x2, stride 2, pad [1, 0, 1, 0] (rows of 19 windows)", pool(K::MaxPool2D, {dims({3, 5, 38})}, rows)}}},
      {K::MaxPool2DGather,
       {{"[2, 5, 6] 3x3, stride 2, pad 1", pool(K::MaxPool2DGather, {dims({2, 5, 6}), dims({2, 5, 6})}, pool3s2p1)},
        {"[2, 4, 6] 2x2 tiles", pool(K::MaxPool2DGather, {dims({2, 4, 6}), dims({2, 4, 6})}, tiles2)},
        {"[3, 5, 38] rows of 19 windows", pool(K::MaxPool2DGather, {dims({3, 5, 38}), dims({3, 5, 38})}, rows)}}},
      {K::MaxPool2DBwd,
       {{"of [2, 5, 6] 3x3, stride 2, pad 1 (overlapping)", pool(K::MaxPool2DBwd, {dims({2, 5, 6}), dims({2, 3, 3})}, pool3s2p1)},
        {"of [2, 2, 4, 6] 2x2 tiles", pool(K::MaxPool2DBwd, {dims({2, 2, 4, 6}), dims({2, 2, 2, 3})}, tiles2)},
        {"of [2, 7, 9] 2x2, stride 3 (gaps)", pool(K::MaxPool2DBwd, {dims({2, 7, 9}), dims({2, 2, 3})}, gaps)},
        {"of [2, 4, 38] 2x2 tiles, rows of 19", pool(K::MaxPool2DBwd, {dims({2, 4, 38}), dims({2, 2, 19})}, tiles2)},
        {"of [2, 7, 30] 2x2, stride 3, pad [1, 0, 0, 0]", pool(K::MaxPool2DBwd, {dims({2, 7, 30}), dims({2, 3, 10})}, gapsTop)}}},
      {K::AvgPool2D,
       {{"[2, 5, 6] 3x3, stride 2, pad 1", pool(K::AvgPool2D, {dims({2, 5, 6})}, pool3s2p1)},
        {"[2, 7, 9] 2x3, stride [1, 3], pad [1, 0, 0, 2], counting the pad", pool(K::AvgPool2D, {dims({2, 7, 9})}, countPad)},
        {"[2, 2, 4, 6] 2x2 tiles", pool(K::AvgPool2D, {dims({2, 2, 4, 6})}, tiles2)},
        {"[3, 5, 38] rows of 19 windows", pool(K::AvgPool2D, {dims({3, 5, 38})}, rows)},
        {"[3, 5, 38] rows of 19 windows, counting the pad", pool(K::AvgPool2D, {dims({3, 5, 38})}, rowsCounted)}}},
      {K::AvgPool2DBwd,
       {{"of [2, 5, 6] 3x3, stride 2, pad 1", pool(K::AvgPool2DBwd, {dims({2, 3, 3})}, withShape(pool3s2p1, dims({2, 5, 6})))},
        {"of [2, 7, 9] counting the pad", pool(K::AvgPool2DBwd, {dims({2, 7, 3})}, withShape(countPad, dims({2, 7, 9})))},
        {"of [2, 2, 4, 6] 2x2 tiles", pool(K::AvgPool2DBwd, {dims({2, 2, 2, 3})}, withShape(tiles2, dims({2, 2, 4, 6})))},
        {"of [2, 7, 30] 2x2, stride 3, pad [1, 0, 0, 0]", pool(K::AvgPool2DBwd, {dims({2, 3, 10})}, withShape(gapsTop, dims({2, 7, 30})))}}},
  };
}

/// The samples of one row: elementwise rows get theirs from the table alone.
std::vector<Sample> samplesOf(const OpInfo &row) {
  if (!row.is(Elementwise)) {
    static const auto structural = structuralSamples();
    auto it = structural.find(row.kind);
    return it == structural.end() ? std::vector<Sample>{} : it->second;
  }
  std::vector<Sample> out;
  for (const Attrs &a : elementwiseAttrs(row.kind)) {
    std::string what = row.arity == 1 ? "[3, 5]" : "[3, 5] with [5] broadcast";
    if (!a.empty()) what += " " + formatAttrs(a);
    out.push_back({what, [kind = row.kind, arity = row.arity, a](SampleBuilder &s) {
                     std::vector<Node *> ops{s.param(dims({3, 5}))};
                     if (arity == 2) ops.push_back(s.param(dims({5})));
                     return s.op(kind, ops, a);
                   }});
  }
  return out;
}

/// A sample graph: y = op(...) is an output and, if the row has a gradient,
/// L = sum(y * W) the loss.
std::unique_ptr<Graph> sampleGraph(const OpInfo &row, const Sample &sample, DiagnosticEngine &diags) {
  auto g = std::make_unique<Graph>(std::string("row_") + row.mnemonic);
  SampleBuilder s{*g, diags};
  Node *y = sample.build(s);
  if (!y) return nullptr;
  y->name = "y";
  g->addResult(Role::Output, y);
  if (row.is(NoGrad) || row.is(Leaf)) return g;
  Node *w = g->add(OpKind::Input, {}, {}, y->type, "W");
  Node *loss = s.op(OpKind::Mul, {y, w});
  std::vector<int64_t> axes;
  for (int64_t i = 0; i < y->type.rank(); ++i) axes.push_back(i);
  if (!axes.empty()) loss = s.op(OpKind::ReduceSum, {loss}, axesAttr("axes", axes));
  g->addResult(Role::Loss, loss);
  return g;
}

using EntryFn = void (*)(float *, int64_t);

/// A graph JIT-compiled at batch capacity 3.
struct Compiled {
  ModelLayout layout;
  std::unique_ptr<JIT> jit;
  EntryFn forward = nullptr, lossAndGrad = nullptr;
  std::vector<float> arena;
  float *slot(const Node *n) { return arena.data() + layout.slots.at(n).first; }
};

Compiled compileGraph(const Graph &g) {
  Compiled c;
  DiagnosticEngine diags;
  c.layout = planLayout(g, 3, Optimizer::SGD);
  auto llctx = std::make_unique<llvm::LLVMContext>();
  auto module = lowerModel(g, c.layout, "m", *llctx, diags);
  INFO(renderDiagnostics(diags));
  REQUIRE(module);
  std::string err;
  c.jit = JIT::create(err);
  INFO(err);
  REQUIRE(c.jit);
  REQUIRE(c.jit->add(std::move(module), std::move(llctx), 2, err));
  c.forward = reinterpret_cast<EntryFn>(c.jit->lookup("m_forward", err));
  REQUIRE(c.forward);
  if (g.result(Role::Loss)) {
    c.lossAndGrad = reinterpret_cast<EntryFn>(c.jit->lookup("m_loss_and_grad", err));
    REQUIRE(c.lossAndGrad);
  }
  c.arena.assign(size_t(c.layout.arenaSize), std::nanf("")); // NaN wherever a kernel must write before it reads
  return c;
}

/// Values for the leaves: class indices for labels; otherwise float-exact
/// values with |v| in [0.1, 2], of both signs unless `positive`. The second
/// operand of a binary op is copied into the first row of the first, so that
/// ties (max, eq, gt) occur.
std::map<const Node *, Tensor> leafValues(const Graph &g, Interpreter &ref, bool positive, bool ties) {
  std::mt19937 rng(17);
  std::uniform_real_distribution<double> u(0.1, 2.0);
  std::map<const Node *, Tensor> values;
  for (const auto &n : g.nodes()) {
    if (!n->isSupplied()) continue;
    Tensor t(ref.resolve(n->shape()));
    for (size_t i = 0; i < t.size(); ++i) {
      if (n->kind == OpKind::Label) t[i] = double((i * 3 + 1) % size_t(n->attrs.getInt("classes")));
      else t[i] = double(float((positive || rng() % 2 ? 1 : -1) * u(rng)));
    }
    values[n.get()] = t;
  }
  std::vector<Node *> params = g.nodesOfKind(OpKind::Param);
  if (ties && params.size() == 2)
    std::copy(values[params[1]].data.begin(), values[params[1]].data.end(), values[params[0]].data.begin());
  return values;
}

bool allFinite(const Graph &g, const Interpreter &ref) {
  for (const auto &r : g.results)
    for (double v : ref.value(r.node).data)
      if (!std::isfinite(v)) return false;
  return true;
}

void checkClose(const float *got, const Tensor &want, const std::string &what) {
  double scale = 1e-6;
  for (double v : want.data) scale = std::max(scale, std::fabs(v));
  for (size_t e = 0; e < want.size(); ++e) {
    INFO(what << "[" << e << "]: compiled " << got[e] << ", interpreter " << want[e]);
    CHECK(std::fabs(got[e] - want[e]) <= 1e-4 * std::fabs(want[e]) + 1e-5 * scale);
  }
}

/// Differentiates, compiles and runs one sample; compares with the interpreter.
/// Adds every op kind of the compiled graph to `covered`.
void checkSample(const OpInfo &row, const Sample &sample, std::set<OpKind> &covered) {
  DiagnosticEngine diags;
  std::unique_ptr<Graph> g = sampleGraph(row, sample, diags);
  INFO(renderDiagnostics(diags));
  REQUIRE(g);
  PassContext ctx(diags);
  if (g->result(Role::Loss)) REQUIRE(runPipeline(g, {"autodiff", "simplify"}, ctx));
  INFO(printGraph(*g));
  Node *y = g->result(Role::Output);
  REQUIRE(y->kind == row.kind); // the op under test survived the pipeline
  Compiled c = compileGraph(*g);
  const int64_t n = 2; // the batch of dim's sample, below the capacity

  // forward infers, loss_and_grad trains (select_mode takes another operand).
  Interpreter ref(*g), train(*g);
  ref.bindSymbol("N", n);
  train.bindSymbol("N", n);
  train.setMode(Interpreter::Mode::Train);
  // Mixed signs first; positive values where the op is not defined on
  // negatives (log, sqrt, pow 0.5: the interpreter's values tell).
  for (bool positive : {false, true}) {
    for (auto &[leaf, t] : leafValues(*g, ref, positive, row.is(Elementwise) && row.arity == 2)) {
      ref.set(leaf, t);
      train.set(leaf, t);
      std::copy(t.data.begin(), t.data.end(), c.slot(leaf));
    }
    std::string err;
    REQUIRE(ref.run(err));
    REQUIRE(train.run(err));
    if (allFinite(*g, ref) && allFinite(*g, train)) break;
  }
  REQUIRE(allFinite(*g, ref));

  c.forward(c.arena.data(), n);
  checkClose(c.slot(y), ref.value(y), "y");
  if (c.lossAndGrad) {
    c.lossAndGrad(c.arena.data(), n);
    checkClose(c.slot(g->result(Role::Loss)), train.value(g->result(Role::Loss)), "L");
    int grads = 0;
    for (const auto &r : g->results) {
      if (r.role != Role::Grad) continue;
      checkClose(c.slot(r.node), train.value(r.node), "dL/d" + r.of->name);
      ++grads;
    }
    CHECK(grads == int(g->nodesOfKind(OpKind::Param).size()));
  }
  for (const auto &node : g->nodes()) covered.insert(node->kind);
}

} // namespace

TEST_CASE("the op table is consistent: unique mnemonics, leaves without operands, elementwise arities",
          "[ops]") {
  std::set<std::string> mnemonics;
  for (const OpInfo &info : allOps()) {
    INFO("op " << info.mnemonic);
    CHECK(mnemonics.insert(info.mnemonic).second);
    CHECK(info.is(Leaf) == (info.arity == 0));
    if (info.is(Elementwise)) CHECK((info.arity == 1 || info.arity == 2));
    CHECK(&opInfo(info.kind) == &info); // rows are in enum order
    auto back = opKindFromMnemonic(info.mnemonic);
    REQUIRE(back);
    CHECK(*back == info.kind);
  }
  CHECK_FALSE(opKindFromMnemonic("no_such_op"));
}

TEST_CASE("every op table row, JIT-compiled, matches the interpreter forward and backward", "[ops][codegen]") {
  std::set<OpKind> covered;
  for (const OpInfo &row : allOps()) {
    if (row.is(Derivative)) continue; // expanded by the derive pass first: JacobianTest compiles those
    std::vector<Sample> samples = samplesOf(row);
    INFO("row " << row.mnemonic);
    bool filled = row.kind == OpKind::Const || row.kind == OpKind::DimSize || row.kind == OpKind::Literal ||
                  row.kind == OpKind::DropoutMask; // leaves that a kernel fills
    if (!row.is(Leaf) || filled)
      CHECK_FALSE(samples.empty()); // a row needs a sample in structuralSamples()
    for (const Sample &s : samples) {
      INFO("sample " << s.what);
      checkSample(row, s, covered);
    }
  }
  for (const OpInfo &row : allOps()) {
    INFO("a row no compiled graph used: " << row.mnemonic);
    CHECK((covered.count(row.kind) || row.is(Derivative)));
  }
}

TEST_CASE("every op table row with constant operands, JIT-compiled, matches the interpreter", "[ops][codegen]") {
  using Operands = SampleBuilder::Operands;
  int compiled = 0;
  for (const OpInfo &row : allOps()) {
    if (row.is(Leaf)) continue;
    for (const Sample &sample : samplesOf(row))
      for (Operands operands : {Operands::TensorConstants, Operands::ScalarConstants, Operands::Literals}) {
        // Scalars are operands of elementwise ops only (a product needs a matrix or a vector).
        if (operands == Operands::ScalarConstants && !row.is(Elementwise)) continue;
        INFO("row " << row.mnemonic << ", sample " << sample.what
                    << (operands == Operands::ScalarConstants ? ", scalar constants"
                        : operands == Operands::Literals    ? ", tensor literals"
                                                            : ", tensor constants"));
        DiagnosticEngine diags;
        auto g = std::make_unique<Graph>(std::string("const_") + row.mnemonic);
        SampleBuilder s{*g, diags};
        s.operands = operands;
        Node *y = sample.build(s);
        INFO(renderDiagnostics(diags));
        REQUIRE(y);
        y->name = "y";
        g->addResult(Role::Output, y);
        INFO(printGraph(*g));
        Compiled c = compileGraph(*g); // not simplified: the op itself gets constant operands
        Interpreter ref(*g);
        ref.bindSymbol("N", 2);
        for (auto &[leaf, t] : leafValues(*g, ref, true, false)) {
          ref.set(leaf, t);
          std::copy(t.data.begin(), t.data.end(), c.slot(leaf));
        }
        std::string err;
        REQUIRE(ref.run(err));
        c.forward(c.arena.data(), 2);
        checkClose(c.slot(y), ref.value(y), "y");
        ++compiled;
      }
  }
  CHECK(compiled > 40); // every structural sample and every elementwise row, twice
}

TEST_CASE("each row's VJP rule gives a gradient exactly when the row is not NoGrad", "[ops][grad]") {
  for (const OpInfo &row : allOps()) {
    if (row.is(Leaf)) continue;
    for (const Sample &s : samplesOf(row)) {
      INFO(row.mnemonic << " " << s.what);
      DiagnosticEngine diags;
      Graph g("vjp");
      SampleBuilder b{g, diags};
      Node *y = s.build(b);
      REQUIRE(y);
      GradBuilder gb(g, diags);
      Node *dy = g.add(OpKind::Input, {}, {}, y->type, "dy");
      std::vector<Node *> grads = vjpRule(row.kind)(gb, y, dy);
      INFO(renderDiagnostics(diags));
      REQUIRE(grads.size() == y->operands.size());
      bool any = false;
      for (size_t i = 0; i < grads.size(); ++i) {
        any |= grads[i] != nullptr;
        if (grads[i]) CHECK(grads[i]->type == y->operands[i]->type); // dL/dx has x's type
      }
      CHECK(any == !row.is(NoGrad));
    }
  }
}

TEST_CASE("each row's sample graph prints and parses back to the same text", "[ops][ir]") {
  for (const OpInfo &row : allOps())
    for (const Sample &s : samplesOf(row)) {
      INFO(row.mnemonic << " " << s.what);
      DiagnosticEngine diags;
      auto g = sampleGraph(row, s, diags);
      REQUIRE(g);
      std::string text = printGraph(*g);
      auto back = parseIRText(text, diags);
      INFO(text << renderDiagnostics(diags));
      REQUIRE(back);
      CHECK(printGraph(*back) == text);
    }
}

TEST_CASE("simplify folds every elementwise row on constants to the interpreter's value", "[ops][simplify]") {
  for (const OpInfo &row : allOps()) {
    if (!row.is(Elementwise)) continue;
    for (const Attrs &a : elementwiseAttrs(row.kind)) {
      INFO(row.mnemonic << " " << formatAttrs(a));
      // op(1.5, 0.5) and op(-0.75, -0.75) (a tie) on [2] constants.
      for (auto [x, z] : {std::pair{1.5, 0.5}, std::pair{-0.75, -0.75}}) {
        DiagnosticEngine diags;
        auto g = std::make_unique<Graph>("fold");
        std::vector<Node *> ops{g->add(OpKind::Const, {}, attrs({{"value", x}}), {DType::F32, dims({2})})};
        if (row.arity == 2) ops.push_back(g->add(OpKind::Const, {}, attrs({{"value", z}}), {DType::F32, dims({2})}));
        Node *y = IRBuilder(*g, diags).op(row.kind, ops, {}, a);
        REQUIRE(y);
        g->addResult(Role::Output, y);
        Interpreter unfolded(*g); // before simplify: the interpreter's elementwise rule
        std::string err;
        REQUIRE(unfolded.run(err));
        double want = unfolded.value(y)[1];
        PassContext ctx(diags);
        REQUIRE(runPipeline(g, {"simplify"}, ctx));
        Node *folded = g->result(Role::Output);
        if (!std::isfinite(want)) { // left alone: log(-0.75), pow(-0.75, 0.5)
          CHECK(folded->kind == row.kind);
          continue;
        }
        REQUIRE(folded->kind == OpKind::Const);
        CHECK(folded->attrs.getFloat("value") == want);
      }
    }
  }
}
