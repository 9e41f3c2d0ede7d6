//===- tests/unit/JacobianTest.cpp - jacobian, jvp and hvp in the language -===//
//
// The chain plan's choices (forward, reverse, mixed) on the lecture's three
// networks, the dynamic program against brute force, every plan's Jacobian
// against float64 central differences from the interpreter, jvp against
// finite differences, hvp's symmetry, and the JIT returning all three.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <random>
#include <tuple>

#include "TestUtil.h"
#include "dlc/dlc.hpp"
#include "ir/Interpreter.h"
#include "passes/JacobianPlan.h"
#include "passes/Pass.h"

using namespace dlc;
using namespace dlc::test;

namespace {

/// The factors of a ReLU net's Jacobian, output side first: W_L D ... D W_1.
std::vector<JacobianFactor> netFactors(const std::vector<int64_t> &widths) {
  std::vector<JacobianFactor> f;
  for (size_t l = widths.size() - 1; l >= 1; --l) {
    f.push_back({widths[l], widths[l - 1], false});
    if (l > 1) f.push_back({widths[l - 1], widths[l - 1], true});
  }
  return f;
}

/// A .net model y = W_L act(... act(W_1 x + b_1)) + b_L with `extra` lines.
std::string netModel(const std::vector<int64_t> &widths, const std::string &act, const std::string &extra) {
  std::string m = fmt::format("model net {{\n  input x : [{}]\n", widths[0]);
  std::string v = "x";
  for (size_t l = 1; l < widths.size(); ++l) {
    m += fmt::format("  param W{} : [{}, {}] ~ normal(0, 0.5)\n  param b{} : [{}] ~ normal(0, 0.1)\n", l, widths[l],
                     widths[l - 1], l, widths[l]);
    std::string z = fmt::format("W{} @ {} + b{}", l, v, l);
    v = l + 1 < widths.size() ? fmt::format("h{}", l) : "y";
    m += l + 1 < widths.size() ? fmt::format("  {} = {}({})\n", v, act, z) : fmt::format("  {} = {}\n", v, z);
  }
  return m + extra + "}\n";
}

/// The per-sample graph after the derive pass, and its remarks.
std::unique_ptr<Graph> derive(const std::string &text, std::vector<std::string> &remarks, const std::string &mode = "auto") {
  DiagnosticEngine diags;
  auto g = compile(text, diags);
  INFO(text << renderDiagnostics(diags));
  REQUIRE(g);
  PassContext ctx(diags);
  ctx.jacobianMode = mode;
  REQUIRE(runPipeline(g, {"derive"}, ctx));
  remarks = ctx.remarks;
  return g;
}

std::string joined(const std::vector<std::string> &lines) {
  std::string out;
  for (const auto &l : lines) out += l + "\n";
  return out;
}

/// Random values for every input and param of `g`.
std::map<std::string, Tensor> randomLeaves(const Graph &g, std::mt19937 &rng) {
  std::map<std::string, Tensor> values;
  std::uniform_real_distribution<double> u(-1, 1);
  for (const auto &n : g.nodes())
    if (n->kind == OpKind::Input || n->kind == OpKind::Param) {
      Tensor t(Interpreter(g).resolve(n->shape()));
      for (double &e : t.data) e = u(rng);
      values[n->name] = t;
    }
  return values;
}

Tensor evaluate(const Graph &g, const std::map<std::string, Tensor> &values, const std::string &name) {
  Interpreter it(g);
  for (auto &[k, v] : values) REQUIRE(it.set(k, v));
  std::string err;
  bool ran = it.run(err);
  INFO(err);
  REQUIRE(ran);
  return it.value(name);
}

/// Brute force: the cheapest cost over every bracketing of factors i..j.
int64_t bruteForce(const std::vector<JacobianFactor> &f) {
  std::function<std::vector<std::pair<int64_t, bool>>(size_t, size_t)> all = [&](size_t i, size_t j) {
    std::vector<std::pair<int64_t, bool>> out; // (cost, diagonal)
    if (i == j) return std::vector<std::pair<int64_t, bool>>{{0, f[i].diagonal}};
    for (size_t s = i; s < j; ++s)
      for (auto [cl, dl] : all(i, s))
        for (auto [cr, dr] : all(s + 1, j))
          out.push_back({cl + cr + factorProductCost(f[i].rows, f[s].cols, f[j].cols, dl, dr), dl && dr});
    return out;
  };
  int64_t best = INT64_MAX;
  for (auto [c, d] : all(0, f.size() - 1)) best = std::min(best, c);
  return best;
}

} // namespace

TEST_CASE("the Jacobian plan picks reverse, forward or mixed mode by cost", "[jacobian]") {
  JacobianPlan classifier = planJacobian(netFactors({784, 256, 256, 10}));
  CHECK(classifier.mode == JacobianMode::Reverse);
  CHECK(classifier.order.cost == classifier.reverseCost);
  CHECK(classifier.reverseCost < classifier.forwardCost);

  JacobianPlan generator = planJacobian(netFactors({2, 256, 256, 784}));
  CHECK(generator.mode == JacobianMode::Forward);
  CHECK(generator.order.cost == generator.forwardCost);

  // The autoencoder: both halves collapse onto the 2-wide bottleneck first.
  JacobianPlan autoencoder = planJacobian(netFactors({784, 256, 2, 256, 784}));
  CHECK(autoencoder.mode == JacobianMode::Mixed);
  CHECK(autoencoder.order.bracketing({"W4", "D3", "W3", "D2", "W2", "D1", "W1"}) == "(W4 (D3 W3)) ((D2 (W2 D1)) W1)");
  CHECK(autoencoder.order.cost == 2033664);
  CHECK(autoencoder.forwardCost == 158557728);
  CHECK(autoencoder.reverseCost == 158557728);
  double ratio = double(std::min(autoencoder.forwardCost, autoencoder.reverseCost)) / double(autoencoder.order.cost);
  CHECK(ratio == Approx(78).margin(1));
}

TEST_CASE("the Jacobian plan's dynamic program matches brute force, diagonals included", "[jacobian]") {
  std::mt19937 rng(13);
  std::uniform_int_distribution<int64_t> width(1, 40);
  for (int trial = 0; trial < 200; ++trial) {
    size_t n = size_t(2 + trial % 6);
    std::vector<int64_t> dims(n + 1);
    for (auto &d : dims) d = width(rng);
    std::vector<JacobianFactor> f;
    for (size_t i = 0; i < n; ++i) {
      bool diag = rng() % 3 == 0;
      if (diag) dims[i + 1] = dims[i];
      f.push_back({dims[i], dims[i + 1], diag});
    }
    JacobianPlan p = planJacobian(f);
    INFO("trial " << trial);
    CHECK(p.order.cost == bruteForce(f));
    CHECK(bracketingCost(f, p.order) == p.order.cost);
    CHECK(p.order.cost <= std::min(p.forwardCost, p.reverseCost));
  }
}

TEST_CASE("jacobian(y, x) in a model reports its mode, bracketing and counts", "[jacobian]") {
  struct Case {
    std::vector<int64_t> widths;
    const char *mode;
  };
  for (const Case &c : {Case{{784, 256, 256, 10}, "reverse"}, Case{{2, 256, 256, 784}, "forward"},
                        Case{{784, 256, 2, 256, 784}, "mixed"}}) {
    std::vector<std::string> remarks;
    auto g = derive(netModel(c.widths, "relu", "  output J = jacobian(y, x)\n"), remarks);
    INFO(joined(remarks));
    REQUIRE(remarks.size() == 2);
    CHECK(remarks[0].find(fmt::format(": {} mode,", c.mode)) != std::string::npos);
    Node *j = g->findByName("J");
    REQUIRE(j);
    CHECK(j->shape() == Shape{Dim(c.widths.back()), Dim(c.widths.front())});
  }
  std::vector<std::string> remarks;
  derive(netModel({784, 256, 2, 256, 784}, "relu", "  output J = jacobian(y, x)\n"), remarks);
  CHECK(remarks[0] == "jacobian %J = dy/dx [784 x 784]: mixed mode, (W4 (D3 W3)) ((D2 (W2 D1)) W1) = 2033664 "
                      "multiplies (forward: 158557728, reverse: 158557728)");
  CHECK(remarks[1] == "jacobian %J: D1 = diag(relu'(%1)), D2 = diag(relu'(%3)), D3 = diag(relu'(%5))");
}

TEST_CASE("every Jacobian plan equals float64 central differences within 1e-6", "[jacobian]") {
  std::mt19937 rng(21);
  for (std::vector<int64_t> widths : {std::vector<int64_t>{6, 5, 5, 2}, {2, 5, 5, 6}, {6, 5, 1, 5, 6}, {4, 3}}) {
    for (const char *act : {"tanh", "sigmoid"}) {
      for (const char *mode : {"auto", "forward", "reverse", "mixed"}) {
        INFO(widths.front() << " -> " << widths.back() << " " << act << " " << mode);
        std::vector<std::string> remarks;
        auto g = derive(netModel(widths, act, "  output J = jacobian(y, x)\n  output y\n"), remarks, mode);
        INFO(joined(remarks) << printGraph(*g));
        auto values = randomLeaves(*g, rng);
        Tensor jac = evaluate(*g, values, "J");
        int64_t m = widths.back(), n = widths.front();
        REQUIRE(jac.shape == std::vector<int64_t>{m, n});
        const double h = 1e-5;
        for (int64_t col = 0; col < n; ++col) {
          auto plus = values, minus = values;
          plus["x"][size_t(col)] += h;
          minus["x"][size_t(col)] -= h;
          Tensor yp = evaluate(*g, plus, "y"), ym = evaluate(*g, minus, "y");
          for (int64_t row = 0; row < m; ++row) {
            double numeric = (yp[size_t(row)] - ym[size_t(row)]) / (2 * h);
            double got = jac[size_t(row * n + col)];
            INFO("J[" << row << ", " << col << "] = " << got << ", central difference " << numeric);
            CHECK(std::fabs(got - numeric) <= 1e-6 * std::max(1.0, std::fabs(numeric)));
          }
        }
      }
    }
  }
}

TEST_CASE("jvp(y, x, t) equals a central difference along t", "[jacobian][jvp]") {
  std::mt19937 rng(4);
  std::vector<std::string> remarks;
  auto g = derive(netModel({5, 4, 3}, "tanh",
                           "  input t : [5]\n  s = softmax(y) * sum(exp(y))\n  output d = jvp(s, x, t)\n  output s\n"),
                  remarks);
  auto values = randomLeaves(*g, rng);
  Tensor d = evaluate(*g, values, "d");
  const double h = 1e-5;
  auto plus = values, minus = values;
  for (size_t i = 0; i < 5; ++i) {
    plus["x"][i] += h * values["t"][i];
    minus["x"][i] -= h * values["t"][i];
  }
  Tensor sp = evaluate(*g, plus, "s"), sm = evaluate(*g, minus, "s");
  for (size_t i = 0; i < d.size(); ++i) CHECK(d[i] == Approx((sp[i] - sm[i]) / (2 * h)).epsilon(1e-6));
}

TEST_CASE("hvp(f, x, v) is symmetric and matches second differences", "[jacobian][hvp]") {
  std::mt19937 rng(8);
  std::vector<std::string> remarks;
  auto g = derive(netModel({5, 4, 3}, "tanh",
                           "  input v : [5]\n  input w : [5]\n  f = sum(log_softmax(y) * y) + sum(x^3)\n"
                           "  output hv = hvp(f, x, v)\n  output hw = hvp(f, x, w)\n  output f\n"),
                  remarks);
  INFO(printGraph(*g));
  auto values = randomLeaves(*g, rng);
  Tensor hv = evaluate(*g, values, "hv"), hw = evaluate(*g, values, "hw");
  double wHv = 0, vHw = 0;
  for (size_t i = 0; i < 5; ++i) {
    wHv += values["w"][i] * hv[i];
    vHw += values["v"][i] * hw[i];
  }
  CHECK(wHv == Approx(vHw).epsilon(1e-12));
  // w.Hv = (f(x + hv + hw) - f(x + hv - hw) - f(x - hv + hw) + f(x - hv - hw)) / 4h^2
  const double h = 1e-4;
  auto at = [&](double a, double b) {
    auto p = values;
    for (size_t i = 0; i < 5; ++i) p["x"][i] += a * h * values["v"][i] + b * h * values["w"][i];
    return evaluate(*g, p, "f")[0];
  };
  double second = (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / (4 * h * h);
  CHECK(wHv == Approx(second).epsilon(1e-5));
}

TEST_CASE("jacobian, jvp and hvp are outputs the JIT returns per sample", "[jacobian][codegen]") {
  std::string net = netModel({4, 3, 2, 3}, "tanh",
                             "  input t : [4]\n  f = sum(y * y)\n  output J = jacobian(y, x)\n"
                             "  output d = jvp(y, x, t)\n  output hv = hvp(f, x, t)\n");
  CompileOptions o;
  o.maxBatch = 4;
  CompileResult r = compileString(net, o);
  INFO(r.rendered);
  REQUIRE(r);
  Model &m = *r.model;
  const int64_t batch = 3;
  std::vector<float> x(size_t(batch * 4)), t(size_t(batch * 4));
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = float(std::sin(0.7 * double(i) + 0.2));
    t[i] = float(std::cos(1.3 * double(i)));
  }
  std::vector<float> jac(size_t(batch * 12)), d(size_t(batch * 3)), hv(size_t(batch * 4));
  const float *in[] = {x.data(), t.data()};
  float *out[] = {jac.data(), d.data(), hv.data()};
  REQUIRE(m.forward(batch, in, out) == DLC_OK);

  std::vector<std::string> remarks;
  auto g = derive(net, remarks);
  std::map<std::string, Tensor> values;
  for (const char *p : {"W1", "b1", "W2", "b2", "W3", "b3"}) {
    Node *param = g->findByName(p);
    Tensor v(Interpreter(*g).resolve(param->shape()));
    std::vector<float> f(v.size());
    REQUIRE(m.getParam(p, f) == DLC_OK);
    for (size_t i = 0; i < f.size(); ++i) v[i] = f[i];
    values[p] = v;
  }
  for (int64_t s = 0; s < batch; ++s) {
    values["x"] = Tensor({4});
    values["t"] = Tensor({4});
    for (size_t i = 0; i < 4; ++i) {
      values["x"][i] = x[size_t(s * 4) + i];
      values["t"][i] = t[size_t(s * 4) + i];
    }
    for (auto [name, got, size] : {std::tuple{"J", &jac, 12}, std::tuple{"d", &d, 3}, std::tuple{"hv", &hv, 4}}) {
      Tensor want = evaluate(*g, values, name);
      for (int64_t i = 0; i < size; ++i) {
        INFO("sample " << s << " " << name << "[" << i << "]");
        CHECK((*got)[size_t(s * size + i)] == Approx(want[size_t(i)]).margin(1e-5));
      }
    }
  }
}
