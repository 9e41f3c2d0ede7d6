//===- tests/unit/GradCheckTest.cpp - Every VJP rule against finite differences -===//
//
// For each op, a small graph L = sum(op(params...) * W) with random values is
// differentiated by the autodiff pass, evaluated by the reference interpreter
// in double precision, and each gradient entry compared with a central finite
// difference of L. Shapes exercise broadcasting, transposes, strides and pads.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <set>

#include "OpCases.h"
#include "TestUtil.h"
#include "ir/Interpreter.h"
#include "passes/Pass.h"

using namespace dlc;
using namespace dlc::test;

namespace {

/// Builds the IR text of L = sum(op(p0, p1) * W).
std::string caseIR(const OpCase &c) {
  std::string ir = "graph check {\n";
  std::string args;
  for (size_t i = 0; i < c.operands.size(); ++i) {
    ir += fmt::format("  %p{} = param() {{init = zeros}} : f32{}\n", i, c.operands[i].shape);
    args += (i ? ", " : "") + fmt::format("%p{}", i);
  }
  size_t rank = parseDims(c.resultShape).size();
  std::string axes;
  for (size_t i = 0; i < rank; ++i) axes += (i ? ", " : "") + std::to_string(i);
  ir += fmt::format("  %W = input() : f32{}\n", c.resultShape);
  ir += fmt::format("  %y = {}({}) {} : f32{}\n", c.op, args, c.attrs, c.resultShape);
  ir += fmt::format("  %yw = mul(%y, %W) : f32{}\n", c.resultShape);
  ir += rank ? fmt::format("  %L = reduce_sum(%yw) {{axes = [{}]}} : f32[]\n", axes) : "  %L = neg(%yw) : f32[]\n";
  ir += "  loss %L\n}\n";
  return ir;
}

/// Checks autodiff's gradients of `g` (which has a loss) against central differences.
// Every element of every param's gradient against central differences, or for
// a param of more than `maxPerParam` elements (when given) that many of them,
// evenly strided from the first to the last.
void checkGradients(Graph &forward, std::map<std::string, Tensor> values, double tolerance,
                    std::map<std::string, int64_t> symbols = {}, size_t maxPerParam = 0) {
  DiagnosticEngine diags;
  PassContext ctx(diags);
  std::unique_ptr<Graph> g = cloneGraph(forward);
  REQUIRE(runPipeline(g, {"autodiff", "simplify"}, ctx));
  INFO(renderDiagnostics(diags) << printGraph(*g));

  auto evaluate = [&](const Graph &graph, const std::map<std::string, Tensor> &vals, Interpreter &it) {
    for (auto &[k, v] : symbols) it.bindSymbol(k, v);
    for (auto &[name, t] : vals) REQUIRE(it.set(name, t));
    std::string err;
    REQUIRE(it.run(err));
  };
  Interpreter grads(*g);
  evaluate(*g, values, grads);
  Node *lossNode = forward.result(Role::Loss);
  for (const auto &r : g->results) {
    if (r.role != Role::Grad) continue;
    const std::string &name = r.of->name;
    const Tensor &analytic = grads.value(r.node);
    REQUIRE(analytic.shape == values.at(name).shape);
    size_t count = analytic.size(), checks = maxPerParam && count > maxPerParam ? maxPerParam : count;
    for (size_t k = 0; k < checks; ++k) {
      size_t i = checks == count || checks < 2 ? k : k * (count - 1) / (checks - 1);
      double h = 1e-6;
      auto plus = values, minus = values;
      plus[name][i] += h;
      minus[name][i] -= h;
      Interpreter ip(forward), im(forward);
      evaluate(forward, plus, ip);
      evaluate(forward, minus, im);
      double numeric = (ip.value(lossNode)[0] - im.value(lossNode)[0]) / (2 * h);
      double err = std::fabs(analytic[i] - numeric) / std::max({std::fabs(numeric), std::fabs(analytic[i]), 1e-2});
      INFO("dL/d" << name << "[" << i << "]: autodiff " << analytic[i] << ", finite difference " << numeric);
      CHECK(err < tolerance);
    }
  }
}

} // namespace

TEST_CASE("every differentiable op's VJP matches central differences", "[grad]") {
  std::mt19937 rng(7);
  std::set<std::string> covered;
  for (const OpCase &c : opCases()) {
    std::string text = caseIR(c);
    INFO(text);
    DiagnosticEngine diags;
    auto g = parseIRText(text, diags);
    INFO(renderDiagnostics(diags));
    REQUIRE(g);
    std::map<std::string, Tensor> values;
    for (size_t i = 0; i < c.operands.size(); ++i)
      values["p" + std::to_string(i)] = randomTensor(parseDims(c.operands[i].shape), rng, c.operands[i].lo, c.operands[i].hi);
    values["W"] = randomTensor(parseDims(c.resultShape), rng, -1, 1);
    if (c.op == "reduce_max") // distinct values: no ties
      for (size_t i = 0; i < values["p0"].size(); ++i) values["p0"][i] = std::sin(1.7 * double(i) + 0.3) * (1 + 0.01 * double(i));
    checkGradients(*g, values, c.tolerance);
    covered.insert(c.op);
  }
  // The table is covered: every op that has a gradient is checked above.
  for (const OpInfo &info : allOps()) {
    if (info.is(Leaf) || info.is(NoGrad) || info.is(Derivative)) continue;
    INFO("op without a gradient check: " << info.mnemonic);
    CHECK(covered.count(info.mnemonic));
  }
}

TEST_CASE("ops flagged NoGrad get no gradient, and leaves none", "[grad]") {
  const char *text = R"(graph g {
  %x = param() {init = zeros} : f32[3]
  %0 = sign(%x) : f32[3]
  %1 = const() {value = 0.0} : f32[]
  %2 = gt(%x, %1) : f32[3]
  %3 = eq(%x, %1) : f32[3]
  %4 = add(%0, %2) : f32[3]
  %5 = add(%4, %3) : f32[3]
  %6 = mul(%5, %x) : f32[3]
  %L = reduce_sum(%6) {axes = [0]} : f32[]
  loss %L
}
)";
  DiagnosticEngine diags;
  auto g = parseIRText(text, diags);
  REQUIRE(g);
  std::mt19937 rng(3);
  // d/dx sum((sign(x) + (x > 0) + (x == 0)) x) = sign(x) + (x > 0) + (x == 0) away from 0.
  checkGradients(*g, {{"x", randomTensor({3}, rng, -1, 1)}}, 1e-6);
}

namespace {
// One test per model (CTest runs them in parallel: under the sanitizers the
// five in one test took four minutes alone).
void checkBatchedModel(const char *name) {
  {
    INFO(name);
    DiagnosticEngine diags;
    auto src = readExample(name);
    // Shrink the CNN so the finite differences stay quick.
    if (std::string(name) == "mnist_cnn.net") {
      src = R"(model small_cnn {
  input x : [1, 6, 6]
  label y : class(3)
  param K : [2, 1, 3, 3] ~ he
  param c : [2, 1, 1] ~ zeros
  param A : [3, 18] ~ glorot
  h = maxpool2d(relu(conv2d(x, K, pad = 1) + c), 2)
  w = A @ flatten(h)
  loss cross_entropy(w, y)
  penalty 1e-2 * sum(A^2)
})";
    }
    auto g = compile(src, diags, name);
    INFO(renderDiagnostics(diags));
    REQUIRE(g);
    PassContext ctx(diags);
    REQUIRE(runPipeline(g, {"batch"}, ctx));
    const int64_t batch = 3;
    std::mt19937 rng(11);
    std::map<std::string, Tensor> values;
    Interpreter shapes(*g);
    shapes.bindSymbol("N", batch);
    for (const auto &n : g->nodes()) {
      if (n->kind == OpKind::Param || n->kind == OpKind::Input)
        values[n->name] = randomTensor(shapes.resolve(n->shape()), rng, -1, 1);
      if (n->kind == OpKind::Label) {
        Tensor t(shapes.resolve(n->shape()));
        int64_t classes = n->attrs.getInt("classes");
        for (size_t i = 0; i < t.size(); ++i) t[i] = classes ? double(int64_t(i * 7 + 1) % classes) : (i % 2 ? 1.0 : -1.0);
        values[n->name] = t;
      }
    }
    // linear_chain's three 64 x 64 matrices, 12,288 elements with two
    // interpreter runs each, took 40 s: 512 elements of each param.
    checkGradients(*g, values, 1e-3, {{"N", batch}}, 512);
  }
}
} // namespace

TEST_CASE("batched models: the gradient of the batch-mean loss of a small CNN matches finite differences", "[grad][batch]") {
  checkBatchedModel("mnist_cnn.net");
}
TEST_CASE("batched models: the gradient of the batch-mean loss of residual.net matches finite differences", "[grad][batch]") {
  checkBatchedModel("residual.net");
}
TEST_CASE("batched models: the gradient of the batch-mean loss of hinge.net matches finite differences", "[grad][batch]") {
  checkBatchedModel("hinge.net");
}
TEST_CASE("batched models: the gradient of the batch-mean loss of linear_chain.net matches finite differences", "[grad][batch]") {
  checkBatchedModel("linear_chain.net");
}
TEST_CASE("batched models: the gradient of the batch-mean loss of quadratic.net matches finite differences", "[grad][batch]") {
  checkBatchedModel("quadratic.net");
}

TEST_CASE("differentiating twice gives the exact Hessian-vector product of the quadratic", "[grad][hessian]") {
  DiagnosticEngine diags;
  auto g = compile(readExample("quadratic.net"), diags);
  REQUIRE(g);
  PassContext ctx(diags);
  REQUIRE(runPipeline(g, {"batch", "autodiff", "simplify"}, ctx));
  // s = <grad f, u>; its gradient is H u with H = diag(2, 2b) for f = x^2 + b y^2.
  Node *gx = nullptr, *gy = nullptr;
  for (const auto &r : g->results)
    if (r.role == Role::Grad) (r.of->name == "x" ? gx : gy) = r.node;
  REQUIRE(gx);
  REQUIRE(gy);
  IRBuilder b(*g, diags);
  Node *ux = g->add(OpKind::Input, {}, {}, TensorType{DType::F32, {}}, "ux");
  Node *uy = g->add(OpKind::Input, {}, {}, TensorType{DType::F32, {}}, "uy");
  Node *s = b.op(OpKind::Add, {b.op(OpKind::Mul, {gx, ux}, {}), b.op(OpKind::Mul, {gy, uy}, {})}, {});
  REQUIRE(s);
  s->name = "s";
  g->results.clear();
  g->addResult(Role::Loss, s);
  REQUIRE(runPipeline(g, {"autodiff", "simplify"}, ctx));
  INFO(printGraph(*g));
  Interpreter it(*g);
  it.set("x", Tensor({}, 0.37));
  it.set("y", Tensor({}, -1.25));
  it.set("ux", Tensor({}, 0.3));
  it.set("uy", Tensor({}, -0.7));
  std::string err;
  REQUIRE(it.run(err));
  std::map<std::string, double> hv;
  for (const auto &r : g->results)
    if (r.role == Role::Grad) hv[r.of->name] = it.value(r.node)[0];
  // Exact up to the rounding of b = 0.01 in double.
  CHECK(hv.at("x") == Approx(2 * 0.3).epsilon(1e-12));
  CHECK(hv.at("y") == Approx(2 * 0.01 * -0.7).epsilon(1e-12));
  CHECK(g->findByName("ds/dx"));
}
