//===- tests/unit/LayersTest.cpp - Tensor literals, concat, slices, layer_norm -===//
//
// The .net spellings of the layers of issue 11: what each lowers to, the
// diagnostics of bad uses (at the offending place), and examples/layers.net
// compiled through the C++ API against the interpreter (forward, loss and
// every gradient). The ops' VJPs and JVPs are checked against central
// differences by GradCheckTest and JVPCheckTest (their OpCases), their
// lowering by OpTableTest.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <random>

#include "TestUtil.h"
#include "dlc/dlc.hpp"
#include "ir/Interpreter.h"
#include "passes/Pass.h"
#include "runtime/model_runtime.h"

using namespace dlc;
using namespace dlc::test;

namespace {

/// The values of the graph's output `name` evaluated with no leaves to set.
std::vector<double> constantOutput(const std::string &body) {
  auto g = compileBody(body);
  Interpreter it(*g);
  std::string err;
  REQUIRE(it.run(err));
  return it.value(g->result(Role::Output)).data;
}

} // namespace

TEST_CASE("tensor literals and shaped constants lower to literal ops", "[frontend][layers]") {
  auto g = compileBody("const W = [[1, 2, 3], [-4, 5.5, 6]]\nparam v : [3] ~ ones\nloss sum(W @ v)");
  Node *w = g->findByName("W");
  REQUIRE(w);
  CHECK(w->kind == OpKind::Literal);
  CHECK(w->type.str() == "f32[2, 3]");
  CHECK(w->attrs.getFloats("values") == std::vector<double>{1, 2, 3, -4, 5.5, 6});
  // A flat list takes the declared shape in row-major order; a number fills it.
  CHECK(constantOutput("const M : [2, 2] = [1, 2, 3, 4]\noutput y = M @ [1, 10]") == std::vector<double>{21, 43});
  CHECK(constantOutput("const Z : [2, 3] = 0.5\noutput y = sum(Z, axis = 1)") == std::vector<double>{1.5, 1.5});
  CHECK(constantOutput("const Z : [2] = -2 * 3\noutput y = Z + 0") == std::vector<double>{-6, -6});
  // A literal in an expression, broadcast like any operand.
  CHECK(constantOutput("output y = [[1], [2]] * [10, 20, 30]") == std::vector<double>{10, 20, 30, 20, 40, 60});
}

TEST_CASE("indexing and slicing select along the leading per-sample axes", "[frontend][layers]") {
  const char *m = "const X = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]\n";
  CHECK(constantOutput(std::string(m) + "output y = X[1]") == std::vector<double>{4, 5, 6, 7});
  CHECK(constantOutput(std::string(m) + "output y = X[-1, 1:3]") == std::vector<double>{9, 10});
  CHECK(constantOutput(std::string(m) + "output y = X[:2, 3]") == std::vector<double>{3, 7});
  CHECK(constantOutput(std::string(m) + "output y = X[1:, -2:]") == std::vector<double>{6, 7, 10, 11});
  CHECK(constantOutput(std::string(m) + "output y = X[2, 0] + 0") == std::vector<double>{8});
  // x[i] drops the axis: a slice, then a reshape.
  auto g = compileBody("input x : [5, 2]\nparam a : [2] ~ ones\nloss sum(x[3] * a)");
  CHECK(g->nodesOfKind(OpKind::Slice).size() == 1);
  CHECK(g->nodesOfKind(OpKind::Slice)[0]->attrs.getInt("start") == 3);
  CHECK(g->nodesOfKind(OpKind::Reshape).size() == 1);
}

TEST_CASE("concat joins any number of operands along an axis", "[frontend][layers]") {
  CHECK(constantOutput("output y = concat([1, 2], [3], [4, 5])") == std::vector<double>{1, 2, 3, 4, 5});
  CHECK(constantOutput("output y = concat([[1], [2]], [[3, 4], [5, 6]], axis = -1)") ==
        std::vector<double>{1, 3, 4, 2, 5, 6});
  auto g = compileBody("input x : [3]\nparam a : [5] ~ ones\nloss sum(concat(x, x[:2]) * a)");
  CHECK(g->nodesOfKind(OpKind::Concat).size() == 1);
}

TEST_CASE("layer_norm gives each sample mean 0 and variance 1", "[frontend][layers]") {
  auto y = constantOutput("output y = layer_norm([[1, 2], [3, 7]], eps = 1e-12)");
  double mean = 0, var = 0;
  for (double v : y) mean += v / 4;
  for (double v : y) var += (v - mean) * (v - mean) / 4;
  CHECK(mean == Approx(0).margin(1e-12));
  CHECK(var == Approx(1));
  CHECK(y[3] == Approx((7 - 3.25) / std::sqrt(((1 - 3.25) * (1 - 3.25) + 1.5625 + 0.0625 + 14.0625) / 4)));
}

TEST_CASE("bad literals, indices, slices, concats and layer norms are errors at their place", "[frontend][diag][layers]") {
  CHECK(errorOf("const W = [[1, 2], [3]]") == "1:20: this row has 1 elements, the first row at this depth has 2");
  CHECK(errorOf("const W = [[1, 2], 3]") == "1:20: a number where the literal has a list (rows must have the same shape)");
  CHECK(errorOf("const W = []") == "1:11: a tensor literal cannot be empty");
  CHECK(errorOf("const W = [1, x]") == "1:15: expected a number or a list in the list, found 'x'");
  CHECK(errorOf("input x : [2]\nconst W : [2] = x") ==
        "2:17: a const with a shape needs a constant number or a list of numbers");
  CHECK(errorOf("const W : [2, 2] = [1, 2, 3]") ==
        "1:20: the literal is [3] with 3 elements; the const is declared [2, 2] (4 elements)");
  CHECK(errorOf("input x : [4]\nparam a : [] ~ ones\nloss a * x[4]") ==
        "3:12: index 4 is out of range for axis 0 of [4] (0..3)");
  CHECK(errorOf("input x : [4]\nparam a : [] ~ ones\nloss a * sum(x[1:9])") ==
        "3:16: slice 1:9 is out of range for axis 0 of [4] (extent 4)");
  CHECK(errorOf("input x : [4]\nparam a : [] ~ ones\nloss a * sum(x[3:1])") ==
        "3:16: slice 3:1 is empty for axis 0 of [4] (extent 4)");
  CHECK(errorOf("input x : [4]\nparam a : [] ~ ones\nloss a * x[0, 1]") == "3:15: too many indices: [4] has 1 axes");
  CHECK(errorOf("input x : [4]\nparam a : [] ~ ones\nloss a * x[0.5]") ==
        "3:12: an index or slice bound must be an integer, got 0.5");
  CHECK(errorOf("input x : [4]\nparam a : [] ~ ones\nloss a * x[a]") ==
        "3:12: expected an integer index or slice bound, found 'a'");
  CHECK(errorOf("label y : class(3)\nparam a : [] ~ ones\nloss a * y[0]").rfind("3:10: class label 'y' is an index", 0) == 0);
  CHECK(errorOf("input x : [2, 3]\nparam a : [4, 3] ~ ones\nloss sum(concat(x, a, axis = 1))") ==
        "3:20: cannot concatenate [2, 3] and [4, 3] along axis 1: dim 0 differs (2 vs 4)");
  CHECK(errorOf("input x : [3]\nparam a : [2, 3] ~ ones\nloss sum(concat(x, a))") ==
        "3:20: cannot concatenate [3] and [2, 3]: ranks differ");
  CHECK(errorOf("input x : [3]\nparam a : [3] ~ ones\nloss sum(concat(x, a, axis = 1))") ==
        "3:30: axis 1 is out of range for [3]");
  CHECK(errorOf("input x : [3]\nparam a : [3] ~ ones\nloss sum(concat(x))") == "3:10: 'concat' takes 2 to 64 arguments, got 1");
  CHECK(errorOf("param a : [] ~ ones\nloss layer_norm(a)") ==
        "2:17: layer_norm needs a vector or a tensor of 2 or more elements, got []");
  CHECK(errorOf("param a : [3] ~ ones\nloss sum(layer_norm(a, eps = 0))") == "2:30: 'eps' must be a positive constant");
}

TEST_CASE("a batched model of literals, slices, concat and layer_norm: autodiff matches central differences",
          "[grad][layers]") {
  DiagnosticEngine diags;
  auto g = compile(R"(model small {
  input x : [4]
  label y : class(3)
  param A : [3, 4] ~ he
  param g : [3] ~ ones
  param B : [3, 5] ~ glorot
  h = layer_norm(A @ x) * g
  f = concat(h[1:], [0.5, -1], x[0:1])
  loss cross_entropy(B @ f + x[1:] * [1, -2, 0.5], y) + 0.1 * h[0]^2
})",
                   diags);
  INFO(renderDiagnostics(diags));
  REQUIRE(g);
  PassContext ctx(diags);
  REQUIRE(runPipeline(g, {"batch"}, ctx));
  auto grads = cloneGraph(*g);
  REQUIRE(runPipeline(grads, {"autodiff", "simplify"}, ctx));
  const int64_t n = 3;
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(-1, 1);
  std::map<std::string, Tensor> values;
  Interpreter shapes(*g);
  shapes.bindSymbol("N", n);
  for (const auto &node : g->nodes()) {
    if (node->kind != OpKind::Param && node->kind != OpKind::Input && node->kind != OpKind::Label) continue;
    Tensor t(shapes.resolve(node->shape()));
    for (size_t i = 0; i < t.size(); ++i) t[i] = node->kind == OpKind::Label ? double(i % 3) : u(rng);
    values[node->name] = t;
  }
  auto loss = [&](const Graph &graph, const std::map<std::string, Tensor> &vals) {
    auto it = std::make_unique<Interpreter>(graph);
    it->bindSymbol("N", n);
    for (auto &[name, t] : vals) REQUIRE(it->set(name, t));
    std::string err;
    REQUIRE(it->run(err));
    return it;
  };
  auto analytic = loss(*grads, values);
  int checked = 0;
  for (const auto &r : grads->results) {
    if (r.role != Role::Grad) continue;
    const Tensor &d = analytic->value(r.node);
    for (size_t i = 0; i < d.size(); ++i) {
      auto plus = values, minus = values;
      plus[r.of->name][i] += 1e-6;
      minus[r.of->name][i] -= 1e-6;
      double numeric = (loss(*g, plus)->value(g->result(Role::Loss))[0] -
                        loss(*g, minus)->value(g->result(Role::Loss))[0]) / 2e-6;
      INFO("dL/d" << r.of->name << "[" << i << "]: autodiff " << d[i] << ", finite difference " << numeric);
      CHECK(std::fabs(d[i] - numeric) <= 1e-5 * std::max(1.0, std::fabs(numeric)));
      ++checked;
    }
  }
  CHECK(checked == 12 + 3 + 15);
}

TEST_CASE("examples/layers.net compiled through the API matches the interpreter forward and backward",
          "[api][layers]") {
  const std::string source = readExample("layers.net");
  CompileResult r = compileString(source);
  INFO(r.rendered);
  REQUIRE(r);

  // The reference: the same model batched and differentiated, in double precision.
  DiagnosticEngine diags;
  auto g = compile(source, diags, "layers.net");
  REQUIRE(g);
  PassContext ctx(diags);
  REQUIRE(runPipeline(g, {"batch", "autodiff"}, ctx));
  const int64_t n = 5;
  Interpreter ref(*g);
  ref.bindSymbol("N", n);
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(-1, 1);
  auto floats = [&](size_t count) {
    std::vector<float> v(count);
    for (float &e : v) e = float(u(rng));
    return v;
  };
  std::vector<float> x = floats(size_t(n) * 6);
  std::vector<int32_t> y = {0, 2, 1, 1, 0};
  Tensor xt({n, 6}), yt({n});
  for (size_t i = 0; i < x.size(); ++i) xt[i] = x[i];
  for (size_t i = 0; i < y.size(); ++i) yt[i] = y[i];
  REQUIRE(ref.set("x", xt));
  REQUIRE(ref.set("y", yt));
  for (Node *p : g->nodesOfKind(OpKind::Param)) {
    std::vector<float> v = floats(size_t(*numElements(p->shape())));
    REQUIRE(r.model->setParam(p->name, v) == DLC_OK);
    Tensor t(ref.resolve(p->shape()));
    for (size_t i = 0; i < v.size(); ++i) t[i] = v[i];
    ref.set(p, t);
  }
  std::string err;
  REQUIRE(ref.run(err));

  std::vector<float> p(size_t(n) * 3);
  const float *in[] = {x.data()};
  float *out[] = {p.data()};
  REQUIRE(r.model->forward(n, in, out) == DLC_OK);
  const Tensor &want = ref.value("p");
  for (size_t i = 0; i < p.size(); ++i) CHECK(p[i] == Approx(want[i]).margin(1e-5));

  const void *labels[] = {y.data()};
  float loss = 0;
  REQUIRE(r.model->lossAndGrad(n, in, labels, &loss) == DLC_OK);
  CHECK(loss == Approx(ref.value(g->result(Role::Loss))[0]).epsilon(1e-5));
  int grads = 0;
  for (const auto &res : g->results) {
    if (res.role != Role::Grad) continue;
    const Tensor &dw = ref.value(res.node);
    std::vector<float> got(dw.size());
    REQUIRE(r.model->getGrad(res.of->name, got) == DLC_OK);
    for (size_t i = 0; i < got.size(); ++i) {
      INFO("dL/d" << res.of->name << "[" << i << "]");
      CHECK(got[i] == Approx(dw[i]).margin(1e-5));
    }
    ++grads;
  }
  CHECK(grads == 5);
}

namespace {

const char *kDropout = R"(model drop {
  input  x : [16]
  label  t : [4]
  param  A : [32, 16] ~ he
  param  B : [4, 32]  ~ glorot
  h = dropout(relu(A @ x), 0.25)
  output w = B @ h
  loss square_loss(dropout(w, 0.5), t)
}
train drop {
  optimizer sgd(lr = 0.01)
  batch 8
}
)";

/// The model's params, inputs and targets, set alike in the API model and the interpreter.
struct DropoutRun {
  std::vector<float> x, t;
  std::vector<const float *> in;
  std::vector<const void *> labels;
};

} // namespace

TEST_CASE("dropout: forward is the identity, training draws the interpreter's masks from the seed and step",
          "[api][layers][dropout]") {
  CompileOptions options;
  options.seed = 7;
  CompileResult r = compileString(kDropout, options);
  INFO(r.rendered);
  REQUIRE(r);
  DiagnosticEngine diags;
  auto g = compile(kDropout, diags, "drop.net");
  REQUIRE(g);
  CHECK(g->nodesOfKind(OpKind::DropoutMask).size() == 2);
  PassContext ctx(diags);
  REQUIRE(runPipeline(g, {"batch", "autodiff"}, ctx));

  const int64_t n = 8;
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(-1, 1);
  DropoutRun run;
  run.x.resize(size_t(n) * 16);
  run.t.resize(size_t(n) * 4);
  for (float &v : run.x) v = float(u(rng));
  for (float &v : run.t) v = float(u(rng));
  run.in = {run.x.data()};
  run.labels = {run.t.data()};
  auto reference = [&](std::optional<uint32_t> key) {
    auto it = std::make_unique<Interpreter>(*g);
    it->bindSymbol("N", n);
    if (key) it->setTrainingKey(*key);
    Tensor xt({n, 16}), tt({n, 4});
    for (size_t i = 0; i < run.x.size(); ++i) xt[i] = run.x[i];
    for (size_t i = 0; i < run.t.size(); ++i) tt[i] = run.t[i];
    REQUIRE(it->set("x", xt));
    REQUIRE(it->set("t", tt));
    for (Node *p : g->nodesOfKind(OpKind::Param)) {
      std::vector<float> v(size_t(*numElements(p->shape())));
      REQUIRE(r.model->getParam(p->name, v) == DLC_OK);
      Tensor pt(it->resolve(p->shape()));
      for (size_t i = 0; i < v.size(); ++i) pt[i] = v[i];
      it->set(p, pt);
    }
    std::string err;
    REQUIRE(it->run(err));
    return it;
  };

  // forward: no dropout, the interpreter's inference values.
  std::vector<float> w(size_t(n) * 4);
  float *out[] = {w.data()};
  REQUIRE(r.model->forward(n, run.in, out) == DLC_OK);
  auto infer = reference(std::nullopt);
  for (size_t i = 0; i < w.size(); ++i) CHECK(w[i] == Approx(infer->value("w")[i]).margin(1e-5));

  // loss_and_grad before step 1: the masks of key(seed 7, step 1), loss and gradients alike.
  float loss = 0, again = 0;
  REQUIRE(r.model->lossAndGrad(n, run.in, run.labels, &loss) == DLC_OK);
  auto train = reference(dlc_rt_dropout_key(7, 1));
  CHECK(loss == Approx(train->value(g->result(Role::Loss))[0]).epsilon(1e-5));
  CHECK(std::fabs(loss - infer->value(g->result(Role::Loss))[0]) > 1e-3); // dropout changed it
  for (const auto &res : g->results) {
    if (res.role != Role::Grad) continue;
    const Tensor &want = train->value(res.node);
    std::vector<float> got(want.size());
    REQUIRE(r.model->getGrad(res.of->name, got) == DLC_OK);
    for (size_t i = 0; i < got.size(); ++i) {
      INFO("dL/d" << res.of->name << "[" << i << "]");
      CHECK(got[i] == Approx(want[i]).margin(1e-5));
    }
  }
  // Deterministic in the step: the same step draws the same masks, another step others.
  REQUIRE(r.model->lossAndGrad(n, run.in, run.labels, &again) == DLC_OK);
  CHECK(again == loss);
  REQUIRE(r.model->setStep(41) == DLC_OK);
  REQUIRE(r.model->lossAndGrad(n, run.in, run.labels, &again) == DLC_OK);
  CHECK(again != loss);
  CHECK(again == Approx(reference(dlc_rt_dropout_key(7, 42))->value(g->result(Role::Loss))[0]).epsilon(1e-5));

  // The masks are inverted: about a quarter of the first one is 0, the rest 4/3, mean near 1.
  const Tensor &mask = train->value(g->nodesOfKind(OpKind::DropoutMask)[0]);
  double zeros = 0, sum = 0;
  for (double v : mask.data) {
    CHECK((v == 0 || v == Approx(4.0 / 3)));
    zeros += v == 0;
    sum += v;
  }
  CHECK(zeros / double(mask.size()) == Approx(0.25).margin(0.06));
  CHECK(sum / double(mask.size()) == Approx(1).margin(0.08));
}

TEST_CASE("dropout's p must be a constant with 0 <= p < 1, and p = 0 is no dropout", "[frontend][diag][dropout]") {
  CHECK(errorOf("input x : [3]\nparam a : [3] ~ ones\nloss sum(dropout(a * x, 1))") ==
        "3:25: dropout's p must be a constant in [0, 1) (the probability of dropping)");
  CHECK(errorOf("input x : [3]\nparam a : [3] ~ ones\nloss sum(dropout(a * x, -0.1))") ==
        "3:25: dropout's p must be a constant in [0, 1) (the probability of dropping)");
  CHECK(errorOf("input x : [3]\nparam a : [3] ~ ones\nloss sum(dropout(a * x, a[0]))") ==
        "3:26: dropout's p must be a constant in [0, 1) (the probability of dropping)");
  auto g = compileBody("input x : [3]\nparam a : [3] ~ ones\nloss sum(dropout(a * x, 0))");
  CHECK(g->nodesOfKind(OpKind::DropoutMask).empty());
}
