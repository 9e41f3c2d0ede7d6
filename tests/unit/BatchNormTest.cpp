//===- tests/unit/BatchNormTest.cpp - batch_norm, modes and model state ---===//
//
// batch_norm's two modes against a hand computation (the interpreter, which
// takes the mode as a flag), its gradients in training against central
// differences in double, the modes pass's resolution per entry point, the
// running statistics of several JIT-compiled steps against a hand
// computation, forward with them, and the diagnostics of bad uses. PyTorch's
// BatchNorm is the reference of examples/bn_cnn.net in ReferenceGradTest;
// checkpoints, the .so and data-parallel training with state are in
// ModelStateTest.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "TestUtil.h"
#include "codegen/Fusion.h"
#include "dlc/dlc.hpp"
#include "ir/Interpreter.h"
#include "passes/Pass.h"

using namespace dlc;
using namespace dlc::test;

namespace {

/// Per-channel statistics of x [n, C, S] (S = H W, 1 for vectors) in double:
/// the mean, the biased variance (normalization) and the unbiased one (the
/// running variance's update), as PyTorch computes them.
struct Statistics {
  std::vector<double> mean, var, unbiased;
};
Statistics statistics(const std::vector<double> &x, int64_t n, int64_t C, int64_t S) {
  Statistics s{std::vector<double>(size_t(C)), std::vector<double>(size_t(C)), std::vector<double>(size_t(C))};
  double count = double(n * S);
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < S; ++k) sum += x[size_t((i * C + c) * S + k)];
    double mean = sum / count;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < S; ++k) sq += std::pow(x[size_t((i * C + c) * S + k)] - mean, 2);
    s.mean[size_t(c)] = mean, s.var[size_t(c)] = sq / count, s.unbiased[size_t(c)] = sq / std::max(count - 1, 1.0);
  }
  return s;
}

std::vector<double> sample(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> u(0.5, 2.0);
  std::vector<double> x(count);
  for (double &v : x) v = double(float(u(rng)));
  return x;
}

void checkNear(double got, double want, const std::string &what, double tol = 1e-9) {
  INFO(what << ": got " << got << ", want " << want);
  CHECK(std::fabs(got - want) <= tol * std::max(1.0, std::fabs(want)));
}

std::unique_ptr<Graph> batched(const std::string &body, const std::vector<std::string> &passes = {"batch"}) {
  auto g = compileBody(body);
  DiagnosticEngine diags;
  PassContext ctx(diags);
  INFO(renderDiagnostics(diags));
  REQUIRE(runPipeline(g, passes, ctx));
  return g;
}

} // namespace

TEST_CASE("batch_norm normalizes by the batch's statistics in training and by the running ones in forward",
          "[batchnorm][interpreter]") {
  const int64_t n = 4;
  struct Case { const char *input; int64_t C, S; };
  for (Case cs : {Case{"[3]", 3, 1}, Case{"[2, 3, 2]", 2, 6}}) {
    INFO("x : " << cs.input);
    auto g = batched(fmt::format("input x : {}\noutput y = batch_norm(x, eps = 0.01)", cs.input));
    REQUIRE(g->nodesOfKind(OpKind::SelectMode).size() == 1); // batch keeps the select: both modes in one graph
    std::vector<double> x = sample(size_t(n * cs.C * cs.S), 3), rm = sample(size_t(cs.C), 4), rv(size_t(cs.C));
    for (size_t c = 0; c < rv.size(); ++c) rv[c] = 0.5 + double(c);
    Statistics batch = statistics(x, n, cs.C, cs.S);
    for (auto mode : {Interpreter::Mode::Infer, Interpreter::Mode::Train}) {
      bool train = mode == Interpreter::Mode::Train;
      Interpreter it(*g);
      it.bindSymbol("N", n);
      it.setMode(mode);
      Tensor xt(it.resolve(g->findByName("x")->shape()));
      xt.data = x;
      it.set("x", xt);
      Tensor mean({cs.C}), var({cs.C});
      mean.data = rm, var.data = rv;
      REQUIRE(it.set("bn1.running_mean", mean));
      REQUIRE(it.set("bn1.running_var", var));
      std::string err;
      REQUIRE(it.run(err));
      const Tensor &y = it.value(g->result(Role::Output));
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < cs.C; ++c)
          for (int64_t k = 0; k < cs.S; ++k) {
            size_t at = size_t((i * cs.C + c) * cs.S + k);
            double m = train ? batch.mean[size_t(c)] : rm[size_t(c)], v = train ? batch.var[size_t(c)] : rv[size_t(c)];
            checkNear(y[at], (x[at] - m) / std::sqrt(v + 0.01), fmt::format("{} y[{}]", train ? "train" : "infer", at));
          }
    }
  }
}

TEST_CASE("batch_norm's gradients in training match float64 central differences", "[batchnorm][grad]") {
  // A layer before (so dL/dx flows through the statistics) and a scale and
  // shift after; a vector model and an image model.
  const char *models[] = {
      "input x : [3]\nlabel y : class(2)\nparam A : [4, 3] ~ he\nparam g : [4] ~ ones\nparam c : [4] ~ zeros\n"
      "param B : [2, 4] ~ glorot\nw = B @ tanh(batch_norm(A @ x, eps = 0.001) * g + c)\nloss cross_entropy(w, y)",
      "input x : [1, 4, 3]\ninput W : [2, 4, 3]\nparam K : [2, 1, 3, 3] ~ he\nparam g : [2, 1, 1] ~ ones\n"
      "loss sum(tanh(batch_norm(conv2d(x, K, pad = 1)) * g) * W)",
  };
  for (const char *body : models) {
    INFO(body);
    const int64_t n = 5;
    // Analytic: the compiled pipeline's graph (its loss is the training one).
    auto g = batched(body, defaultPipeline());
    REQUIRE(g->nodesOfKind(OpKind::SelectMode).empty());
    // Numeric: the batched forward graph in training mode, before autodiff and the modes pass.
    auto forward = batched(body);
    std::map<std::string, Tensor> values;
    uint32_t seed = 11;
    for (const auto &node : forward->nodes()) {
      if (node->kind != OpKind::Input && node->kind != OpKind::Param && node->kind != OpKind::Label) continue;
      Interpreter shapes(*forward);
      shapes.bindSymbol("N", n);
      Tensor t(shapes.resolve(node->shape()));
      std::vector<double> v = sample(t.size(), seed++);
      for (size_t i = 0; i < t.size(); ++i) t[i] = node->kind == OpKind::Label ? double(i % 2) : 0.5 * v[i];
      values[node->name] = t;
    }
    auto evaluate = [&](const Graph &graph, const std::map<std::string, Tensor> &vals) {
      auto it = std::make_unique<Interpreter>(graph);
      it->bindSymbol("N", n);
      it->setMode(Interpreter::Mode::Train);
      for (auto &[name, t] : vals) REQUIRE(it->set(name, t));
      std::string err;
      REQUIRE(it->run(err));
      return it;
    };
    auto analytic = evaluate(*g, values);
    checkNear(analytic->value(g->result(Role::Loss))[0], evaluate(*forward, values)->value(forward->result(Role::Loss))[0],
              "the loss");
    int checked = 0;
    for (const auto &r : g->results) {
      if (r.role != Role::Grad) continue;
      const Tensor &grad = analytic->value(r.node);
      for (size_t i = 0; i < grad.size(); i += 1 + grad.size() / 12) {
        const double h = 1e-6;
        auto plus = values, minus = values;
        plus[r.of->name][i] += h, minus[r.of->name][i] -= h;
        double numeric = (evaluate(*forward, plus)->value(forward->result(Role::Loss))[0] -
                          evaluate(*forward, minus)->value(forward->result(Role::Loss))[0]) /
                         (2 * h);
        INFO("dL/d" << r.of->name << "[" << i << "]: autodiff " << grad[i] << ", central difference " << numeric);
        CHECK(std::fabs(grad[i] - numeric) <= 1e-6 * std::max(1.0, std::fabs(numeric)));
        ++checked;
      }
    }
    CHECK(checked > 10);
  }
}

TEST_CASE("the modes pass gives forward the running statistics and the training entries the batch's",
          "[batchnorm][passes]") {
  auto g = batched("input x : [3]\nlabel y : class(3)\nparam A : [3, 3] ~ he\n"
                   "h = batch_norm(A @ x)\nw = A @ relu(h)\noutput p = softmax(w)\nloss cross_entropy(w, y)",
                   defaultPipeline());
  CHECK(g->nodesOfKind(OpKind::SelectMode).empty());
  CHECK(g->findByName("h")); // forward's copy keeps the source name
  CHECK(g->findByName("h.train"));
  auto reads = [&](const std::vector<const Node *> &roots, OpKind kind) {
    for (const Node *n : entryNodes(*g, roots))
      if (n->kind == kind) return true;
    return false;
  };
  auto [outputs, training] = entryRoots(*g);
  std::vector<const Node *> lossAndGrads;
  for (const auto &r : g->results)
    if (r.role == Role::Loss || r.role == Role::Grad) lossAndGrads.push_back(r.node);
  CHECK(reads(outputs, OpKind::State));            // forward normalizes by the running statistics
  CHECK_FALSE(reads(outputs, OpKind::DimSize));    // and computes no batch statistics
  CHECK_FALSE(reads(lossAndGrads, OpKind::State)); // the loss and its gradient use the batch's
  CHECK(g->resultsWith(Role::Update).size() == 2); // which the updates blend into the state
  std::string text = printGraph(*g);
  DiagnosticEngine diags;
  auto back = parseIRText(text, diags);
  INFO(renderDiagnostics(diags));
  REQUIRE(back);
  CHECK(printGraph(*back) == text); // update results print and parse back
}

TEST_CASE("k training steps move the running statistics as a hand computation does, and forward reads them",
          "[batchnorm][codegen]") {
  const double momentum = 0.3, eps = 1e-3;
  struct Case { const char *input; int64_t C, S; };
  for (Case cs : {Case{"[3]", 3, 1}, Case{"[2, 2, 3]", 2, 6}}) {
    INFO("x : " << cs.input);
    CompileOptions o;
    o.maxBatch = 8;
    CompileResult r = compileString(fmt::format("model rs {{\n  input x : {}\n  param s : [1] ~ ones\n"
                                                "  output y = batch_norm(x, momentum = {}, eps = {})\n"
                                                "  loss sum(batch_norm(x, momentum = {}, eps = {}) * s)\n}}\n",
                                                cs.input, momentum, eps, momentum, eps),
                                    o);
    INFO(r.rendered);
    REQUIRE(r);
    Model &m = *r.model;
    // Two batch norms of x (forward's output, the loss): bn1 and bn2, each with its own state.
    std::vector<double> mean(size_t(cs.C), 0.0), var(size_t(cs.C), 1.0);
    std::vector<float> x;
    int step = 0;
    for (int64_t n : {4, 2, 7}) { // the batch size changes: the statistics' count is a run-time N
      std::vector<double> xd = sample(size_t(n * cs.C * cs.S), uint32_t(20 + step));
      x.assign(xd.begin(), xd.end());
      const float *in[] = {x.data()};
      REQUIRE((step++ % 2 ? m.trainStep(n, in, {}) : m.lossAndGrad(n, in, {})) == DLC_OK);
      Statistics s = statistics(xd, n, cs.C, cs.S);
      for (size_t c = 0; c < size_t(cs.C); ++c) {
        mean[c] = (1 - momentum) * mean[c] + momentum * s.mean[c];
        var[c] = (1 - momentum) * var[c] + momentum * s.unbiased[c];
      }
    }
    std::vector<float> gotMean(size_t(cs.C)), gotVar(size_t(cs.C));
    for (const char *bn : {"bn1", "bn2"}) {
      REQUIRE(m.getState(std::string(bn) + ".running_mean", gotMean) == DLC_OK);
      REQUIRE(m.getState(std::string(bn) + ".running_var", gotVar) == DLC_OK);
      for (size_t c = 0; c < size_t(cs.C); ++c) {
        checkNear(gotMean[c], mean[c], fmt::format("{}.running_mean[{}]", bn, c), 1e-5);
        checkNear(gotVar[c], var[c], fmt::format("{}.running_var[{}]", bn, c), 1e-5);
      }
    }
    // forward: the running statistics, any batch (one sample too), and the state stays.
    for (int64_t n : {1, 3}) {
      std::vector<float> y(size_t(n * cs.C * cs.S));
      const float *in[] = {x.data()};
      float *out[] = {y.data()};
      REQUIRE(m.forward(n, in, out) == DLC_OK);
      for (int64_t i = 0; i < n * cs.C * cs.S; ++i) {
        size_t c = size_t((i / cs.S) % cs.C);
        checkNear(y[size_t(i)], (x[size_t(i)] - mean[c]) / std::sqrt(var[c] + eps), fmt::format("forward y[{}]", i),
                  1e-4);
      }
    }
    std::vector<float> after(size_t(cs.C));
    REQUIRE(m.getState("bn1.running_mean", after) == DLC_OK);
    CHECK(after == gotMean); // forward leaves the state alone
  }
}

TEST_CASE("bad uses of batch_norm are errors at their place", "[batchnorm][frontend][diag]") {
  const std::string x = "input x : [4]\ninput m : [2, 3]\ninput s : []\nparam A : [4] ~ ones\n";
  CHECK(errorOf(x + "output y = batch_norm(m)") ==
        "5:23: batch_norm normalizes a vector [F] (per feature) or an image [C, H, W] (per channel), got [2, 3]");
  CHECK(errorOf(x + "output y = batch_norm(s)") ==
        "5:23: batch_norm normalizes a vector [F] (per feature) or an image [C, H, W] (per channel), got []");
  CHECK(errorOf(x + "output y = batch_norm(x, momentum = 1.5)") ==
        "5:37: batch_norm's 'momentum' must be a constant in [0, 1] (the weight of each batch in the running "
        "statistics)");
  CHECK(errorOf(x + "output y = batch_norm(x, eps = 0)") == "5:32: batch_norm's 'eps' must be a positive constant");
  CHECK(errorOf(x + "output y = batch_norm(x, eps = sum(A))") ==
        "5:32: batch_norm's 'eps' must be a positive constant");
  CHECK(errorOf(x + "output y = batch_norm(x, 0.1)").find("batch_norm") != std::string::npos);
  CHECK(errorOf(x + "output y = batch_norm(x, mom = 0.1)").find("mom") != std::string::npos);
}

TEST_CASE("IR text: update results name a state, once, of its type", "[batchnorm][ir][diag]") {
  auto errorIn = [](const std::string &results) {
    DiagnosticEngine diags;
    auto g = parseIRText("graph g {\n  %p = param() : f32[2]\n  %s = state() {init = ones} : f32[2]\n"
                         "  %t = state() : f32[3]\n  %v = add(%s, %p) : f32[2]\n" +
                             results + "}\n",
                         diags);
    CHECK_FALSE(g);
    return firstError(diags);
  };
  CHECK(errorIn("  update %p = %v\n") == "6:3: update %v replaces a param, not a state");
  CHECK(errorIn("  update %s = %v\n  update %s = %p\n") == "7:3: state s is updated twice");
  CHECK(errorIn("  update %t = %v\n") == "6:3: update %v does not match the type of the state it replaces");
  CHECK(errorIn("  update %v\n") == "6:3: update %v needs the state it replaces: update %state = %v");
  CHECK(errorIn("  output %s = %v\n") == "6:3: output result %v names a value it is for; only grad and update do");
  DiagnosticEngine diags;
  CHECK_FALSE(parseIRText("graph g {\n  %a = param() : f32[2]\n  %b = param() : f32[3]\n"
                          "  %c = select_mode(%a, %b) : f32[2]\n}\n",
                          diags));
  CHECK(firstError(diags) == "4:8: %c: 'select_mode' needs operands of one type, got f32[2] and f32[3]");
}
