//===- tests/unit/JVPCheckTest.cpp - Every JVP rule against finite differences -===//
//
// For each op, y = op(p0, p1) at random points with random tangents t_i: the
// rule's dy, evaluated by the reference interpreter in double precision, must
// equal the central difference (y(p + h t) - y(p - h t)) / 2h, with all
// tangents set and with each operand's tangent alone (the others zero).
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include <set>

#include "OpCases.h"
#include "TestUtil.h"
#include "passes/JVPRules.h"

using namespace dlc;
using namespace dlc::test;

namespace {

std::string opIR(const OpCase &c) {
  std::string ir = "graph check {\n", args;
  for (size_t i = 0; i < c.operands.size(); ++i) {
    ir += fmt::format("  %p{} = param() {{init = zeros}} : f32{}\n", i, c.operands[i].shape);
    args += (i ? ", " : "") + fmt::format("%p{}", i);
  }
  ir += fmt::format("  %y = {}({}) {} : f32{}\n  output %y\n}}\n", c.op, args, c.attrs, c.resultShape);
  return ir;
}

Tensor evaluateAt(const Graph &g, const Node *y, const std::map<std::string, Tensor> &values) {
  Interpreter it(g);
  for (auto &[name, t] : values) REQUIRE(it.set(name, t));
  std::string err;
  REQUIRE(it.run(err));
  return it.value(y);
}

/// Checks dy from the rule with the tangents of the operands in `active`.
void checkTangent(const OpCase &c, const std::map<std::string, Tensor> &point, const std::vector<Tensor> &tangents,
                  const std::vector<bool> &active) {
  DiagnosticEngine diags;
  auto g = parseIRText(opIR(c), diags);
  REQUIRE(g);
  Node *y = g->findByName("y");
  GradBuilder gb(*g, diags);
  std::vector<Node *> t;
  std::map<std::string, Tensor> values = point;
  for (size_t i = 0; i < c.operands.size(); ++i) {
    Node *p = g->findByName("p" + std::to_string(i));
    t.push_back(active[i] ? g->add(OpKind::Input, {}, {}, p->type, "t" + std::to_string(i)) : nullptr);
    if (active[i]) values["t" + std::to_string(i)] = tangents[i];
  }
  Node *dy = jvpRule(y->kind)(gb, y, t);
  INFO(renderDiagnostics(diags) << printGraph(*g));
  REQUIRE(dy);
  REQUIRE(dy->type == y->type);
  Tensor analytic = evaluateAt(*g, dy, values);

  const double h = 1e-5;
  auto plus = values, minus = values;
  for (size_t i = 0; i < c.operands.size(); ++i)
    if (active[i])
      for (size_t k = 0; k < tangents[i].size(); ++k) {
        plus["p" + std::to_string(i)][k] += h * tangents[i][k];
        minus["p" + std::to_string(i)][k] -= h * tangents[i][k];
      }
  Tensor yp = evaluateAt(*g, y, plus), ym = evaluateAt(*g, y, minus);
  for (size_t k = 0; k < analytic.size(); ++k) {
    double numeric = (yp[k] - ym[k]) / (2 * h);
    double err = std::fabs(analytic[k] - numeric) / std::max({std::fabs(numeric), std::fabs(analytic[k]), 1e-2});
    INFO("dy[" << k << "]: jvp " << analytic[k] << ", finite difference " << numeric);
    CHECK(err < 1e-6);
  }
}

} // namespace

TEST_CASE("every differentiable op's JVP matches central differences", "[jvp]") {
  std::mt19937 rng(5);
  std::set<std::string> covered;
  for (const OpCase &c : opCases()) {
    INFO(opIR(c));
    std::map<std::string, Tensor> point;
    std::vector<Tensor> tangents;
    for (size_t i = 0; i < c.operands.size(); ++i) {
      auto dims = parseDims(c.operands[i].shape);
      point["p" + std::to_string(i)] = randomTensor(dims, rng, c.operands[i].lo, c.operands[i].hi);
      tangents.push_back(randomTensor(dims, rng, -1, 1));
    }
    if (c.op == "reduce_max") // distinct values: no ties
      for (size_t i = 0; i < point["p0"].size(); ++i) point["p0"][i] = std::sin(1.7 * double(i) + 0.3) * (1 + 0.01 * double(i));
    checkTangent(c, point, tangents, std::vector<bool>(c.operands.size(), true));
    if (c.operands.size() == 2) {
      checkTangent(c, point, tangents, {true, false});
      checkTangent(c, point, tangents, {false, true});
    }
    covered.insert(c.op);
  }
  for (const OpInfo &info : allOps()) {
    if (info.is(Leaf) || info.is(NoGrad) || info.is(Derivative)) continue;
    INFO("op without a JVP check: " << info.mnemonic);
    CHECK(covered.count(info.mnemonic));
  }
}

TEST_CASE("leaves and NoGrad ops have a zero tangent", "[jvp]") {
  DiagnosticEngine diags;
  auto g = parseIRText(R"(graph g {
  %x = param() {init = zeros} : f32[3]
  %c = const() {value = 0.0} : f32[]
  %s = sign(%x) : f32[3]
  %m = gt(%x, %c) : f32[3]
  output %s
  output %m
}
)", diags);
  REQUIRE(g);
  GradBuilder gb(*g, diags);
  Node *x = g->findByName("x");
  CHECK(jvpRule(OpKind::Sign)(gb, g->findByName("s"), {x}) == nullptr);
  CHECK(jvpRule(OpKind::Gt)(gb, g->findByName("m"), {x, nullptr}) == nullptr);
  CHECK(jvpRule(OpKind::Param)(gb, x, {}) == nullptr);
}
