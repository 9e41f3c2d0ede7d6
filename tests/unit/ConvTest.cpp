//===- tests/unit/ConvTest.cpp - conv2d and its filter gradient, end to end ===//
//
// The code generator computes a convolution in one of two ways: few filters
// (at most 16, stride 1 along rows) directly in vectors (codegen/lower/
// ConvRows.cpp), the others through im2col and the packed GEMM
// (Convolutions.cpp). Each geometry below, L = sum(conv2d(x, K) * R) and
// the same with conv2d in a layer (a bias and relu as its epilogue, the
// gradient of a tanh before it as conv2d_bwd_data's) at a batch whose chunks
// are uneven, is compiled for this host's CPU and for
// x86-64-v3 (8- and 16-float vectors, other filter groups), and its output
// and gradients are compared with the double-precision interpreter; two threads
// must give the bits of one. (OpCases.h adds stride 2 down the columns and
// 1 along the rows, a direct path only the IR can ask for.) The geometries reach the edges of the direct
// loops: rows shorter than a vector and one lane past a multiple of it, tap
// rows and columns wholly in the padding, filters wider than the image,
// filter groups, several input channels, and the GEMM path just past the
// direct one's limit.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <optional>
#include <random>

#include "TestUtil.h"
#include "codegen/Fusion.h"
#include "dlc/dlc.hpp"
#include "ir/Interpreter.h"
#include "passes/Pass.h"

using namespace dlc;
using namespace dlc::test;

namespace {

struct Geometry {
  int64_t C, H, W, O, KH, KW, stride, pad, batch;
  int64_t outH() const { return (H + 2 * pad - KH) / stride + 1; }
  int64_t outW() const { return (W + 2 * pad - KW) / stride + 1; }
  std::string name() const {
    return fmt::format("x [{}, {}, {}], K [{}, {}, {}, {}], stride {}, pad {}, batch {}", C, H, W, O, C, KH, KW, stride,
                       pad, batch);
  }
  /// L = sum(conv2d(x, K) * R); as a layer, y = relu(conv2d(tanh(x * s), K) + c):
  /// the bias and relu are conv2d's epilogue, tanh's gradient conv2d_bwd_data's.
  std::string source(bool layer) const {
    std::string conv = fmt::format("conv2d({}, K, stride = {}, pad = {})", layer ? "tanh(x * s)" : "x", stride, pad);
    return fmt::format("model conv {{\n  input x : [{}, {}, {}]\n  param s : [{}, {}, {}] ~ zeros\n"
                       "  param K : [{}, {}, {}, {}] ~ zeros\n  param c : [{}, 1, 1] ~ zeros\n"
                       "  param R : [{}, {}, {}] ~ zeros\n  y = {}\n  output y\n  loss sum(y * R)\n}}\n",
                       C, H, W, C, H, W, O, C, KH, KW, O, O, outH(), outW(), layer ? "relu(" + conv + " + c)" : conv);
  }
};

/// The params a run compares the gradients of.
const char *const kParams[] = {"s", "K", "c"};

std::vector<float> randomValues(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(count);
  for (float &e : v) e = u(rng);
  return v;
}

struct Values {
  std::vector<float> x, s, K, c, R;
  explicit Values(const Geometry &g)
      : x(randomValues(size_t(g.batch * g.C * g.H * g.W), 1)), s(randomValues(size_t(g.C * g.H * g.W), 4)),
        K(randomValues(size_t(g.O * g.C * g.KH * g.KW), 2)), c(randomValues(size_t(g.O), 5)),
        R(randomValues(size_t(g.O * g.outH() * g.outW()), 3)) {}
  const std::vector<float> &param(const std::string &name) const {
    return name == "s" ? s : name == "K" ? K : name == "c" ? c : R;
  }
};

struct ConvRun {
  std::vector<float> y;
  std::map<std::string, std::vector<float>> grads;
};

/// The JIT's output and dL/dK, on `threads` threads; nothing when this host
/// cannot run code for `cpu`.
std::optional<ConvRun> runCompiled(const Geometry &g, bool layer, const Values &v, const std::string &cpu, int threads) {
  CompileOptions options;
  options.maxBatch = g.batch;
  options.cpu = cpu;
  options.cache = false;
  CompileResult r = compileString(g.source(layer), options);
  if (!r && cpu != "native") return std::nullopt;
  INFO(r.rendered);
  REQUIRE(r);
  REQUIRE(r.model->setHyper("threads", threads) == DLC_OK);
  for (const char *p : {"s", "K", "c", "R"}) REQUIRE(r.model->setParam(p, v.param(p)) == DLC_OK);
  ConvRun run{std::vector<float>(size_t(g.batch * g.O * g.outH() * g.outW())), {}};
  const float *inputs[] = {v.x.data()};
  float *outs[] = {run.y.data()};
  REQUIRE(r.model->forward(g.batch, inputs, outs) == DLC_OK);
  float loss = 0;
  REQUIRE(r.model->lossAndGrad(g.batch, inputs, {}, &loss) == DLC_OK);
  for (const char *p : kParams) {
    run.grads[p].resize(v.param(p).size());
    REQUIRE(r.model->getGrad(p, run.grads[p]) == DLC_OK);
  }
  return run;
}

/// `source` differentiated for the interpreter (batch, autodiff, simplify).
std::unique_ptr<Graph> interpreterGraph(const std::string &source) {
  DiagnosticEngine diags;
  auto graph = compile(source, diags);
  REQUIRE(graph);
  PassContext ctx(diags);
  REQUIRE(runPipeline(graph, {"batch", "autodiff", "simplify"}, ctx));
  return graph;
}

/// Gives the interpreter's leaf `name` these values.
void bindLeaf(Interpreter &it, const Graph &graph, const std::string &name, const std::vector<float> &values) {
  Tensor t(it.resolve(graph.findByName(name)->shape()));
  REQUIRE(t.data.size() == values.size());
  std::copy(values.begin(), values.end(), t.data.begin());
  REQUIRE(it.set(name, t));
}

/// The same through the interpreter, in double.
ConvRun runInterpreted(const Geometry &g, bool layer, const Values &v) {
  auto graph = interpreterGraph(g.source(layer));
  Interpreter it(*graph);
  it.bindSymbol("N", g.batch);
  auto tensor = [&](const char *name, const std::vector<float> &values) { bindLeaf(it, *graph, name, values); };
  tensor("x", v.x);
  for (const char *p : {"s", "K", "c", "R"}) tensor(p, v.param(p));
  std::string err;
  REQUIRE(it.run(err));
  ConvRun run;
  for (double e : it.value("y").data) run.y.push_back(float(e));
  for (const char *p : kParams) run.grads[p].assign(v.param(p).size(), 0.0f); // s and c: 0 unless used
  for (const auto &r : graph->results)
    if (r.role == Role::Grad && run.grads.count(r.of->name)) {
      auto &out = run.grads[r.of->name];
      out.clear();
      for (double e : it.value(r.node).data) out.push_back(float(e));
    }
  return run;
}

void checkClose(const std::vector<float> &got, const std::vector<float> &want, const char *what) {
  REQUIRE(got.size() == want.size());
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= 1e-4f * (1.0f + std::fabs(want[i])))) {
      if (bad++ < 3) UNSCOPED_INFO(what << "[" << i << "] = " << got[i] << ", the interpreter gives " << want[i]);
    }
  CHECK(bad == 0);
}

} // namespace

TEST_CASE("conv2d and its filter gradient match the interpreter on the direct and the GEMM paths", "[codegen][conv]") {
  const Geometry geometries[] = {
      {1, 28, 28, 8, 3, 3, 1, 1, 5},  // the cnn benchmark's layer: two chunks per row (16 + 12, or 3 x 8 + 4)
      {1, 14, 14, 16, 3, 3, 1, 1, 3}, // 16 filters: two groups of 8 with 8-float vectors
      {3, 6, 17, 5, 2, 5, 1, 2, 2},   // 3 channels, 17 + 4 - 5 + 1 = 17 columns: one lane past 16
      {2, 5, 3, 3, 3, 7, 1, 3, 2},    // a filter wider than the image: whole columns of taps in the padding
      {1, 2, 4, 2, 3, 3, 1, 3, 1},    // pad 3 > KH - 1: output rows with no tap row inside the image
      {2, 9, 33, 7, 1, 1, 1, 0, 4},   // 1 x 1 filters over 33 columns
      {1, 9, 10, 4, 3, 3, 2, 1, 3},   // stride 2 (along rows too): im2col and the GEMM
      {2, 8, 8, 17, 3, 3, 1, 1, 3},   // 17 filters, one past the direct path: the GEMM
  };
  for (const Geometry &g : geometries)
    for (bool layer : {false, true}) {
      INFO(g.name() << (layer ? ", as a layer (epilogues)" : ""));
      Values v(g);
      ConvRun want = runInterpreted(g, layer, v);
      for (const char *cpu : {"native", "x86-64-v3"}) {
        INFO("cpu " << cpu);
        auto one = runCompiled(g, layer, v, cpu, 1);
        if (!one) continue;
        checkClose(one->y, want.y, "y");
        for (const char *p : kParams) checkClose(one->grads[p], want.grads[p], p);
        auto two = runCompiled(g, layer, v, cpu, 2);
        REQUIRE(two);
        CHECK(two->y == one->y);
        CHECK(two->grads == one->grads);
      }
    }
}

TEST_CASE("a flatten's gradient rides on the backward product's epilogue, through the reshape", "[codegen][conv][fusion]") {
  // dL/dh = reshape(dL/dw A) then the relu mask: one kernel, the mask applied
  // at the product's flat index; the gradients match the interpreter's.
  const std::string source = "model cnn {\n  input x : [2, 7, 9]\n  label y : class(5)\n"
                             "  param K : [3, 2, 3, 3] ~ he\n  param c : [3, 1, 1] ~ normal(0, 1)\n"
                             "  param A : [5, 189] ~ glorot\n  param b : [5] ~ zeros\n"
                             "  h = relu(conv2d(x, K, pad = 1) + c)\n  w = A @ flatten(h) + b\n"
                             "  loss cross_entropy(w, y)\n}\n";
  DiagnosticEngine diags;
  auto graph = compile(source, diags);
  REQUIRE(graph);
  PassContext ctx(diags);
  REQUIRE(runPipeline(graph, defaultPipeline(), ctx));
  auto [outputs, training] = entryRoots(*graph);
  KernelPlan plan = planKernels(entryNodes(*graph, training), {training.begin(), training.end()});
  bool throughReshape = false;
  for (const Kernel &k : plan.kernels)
    if (k.anchor->kind == OpKind::MatMul && k.epilogue.size() == 2 && k.epilogue[0]->kind == OpKind::Reshape &&
        k.epilogue[1]->kind == OpKind::Mul)
      throughReshape = true;
  CHECK(throughReshape);

  const int64_t batch = 3;
  std::vector<float> x = randomValues(size_t(batch * 2 * 7 * 9), 7);
  std::vector<int32_t> y = {4, 0, 2};
  CompileOptions options;
  options.maxBatch = batch;
  options.cache = false;
  CompileResult r = compileString(source, options);
  INFO(r.rendered);
  REQUIRE(r);
  const float *inputs[] = {x.data()};
  const void *labels[] = {y.data()};
  float loss = 0;
  REQUIRE(r.model->lossAndGrad(batch, inputs, labels, &loss) == DLC_OK);

  auto ig = interpreterGraph(source);
  Interpreter it(*ig);
  it.bindSymbol("N", batch);
  auto bind = [&](const std::string &name, const std::vector<float> &values) { bindLeaf(it, *ig, name, values); };
  bind("x", x);
  Tensor labelTensor({batch});
  for (int64_t i = 0; i < batch; ++i) labelTensor.data[size_t(i)] = y[size_t(i)];
  REQUIRE(it.set("y", labelTensor));
  for (const char *p : {"K", "c", "A", "b"}) {
    std::vector<float> value(size_t(numElements(ig->findByName(p)->shape()).value_or(0)));
    REQUIRE(r.model->getParam(p, value) == DLC_OK);
    bind(p, value);
  }
  std::string err;
  REQUIRE(it.run(err));
  for (const auto &res : ig->results)
    if (res.role == Role::Grad) {
      INFO("dL/d" << res.of->name);
      std::vector<float> got(it.value(res.node).data.size()), want;
      REQUIRE(r.model->getGrad(res.of->name, got) == DLC_OK);
      for (double e : it.value(res.node).data) want.push_back(float(e));
      checkClose(got, want, res.of->name.c_str());
    }
}
