//===- tests/unit/VerifierTest.cpp ----------------------------------------===//
#include <catch2/catch.hpp>

#include "TestUtil.h"
#include "ir/Dataflow.h"
#include "ir/Verifier.h"

using namespace dlc;

namespace {
TensorType f32(Shape s) { return {DType::F32, std::move(s)}; }

/// x -> exp -> neg, all f32[4].
std::unique_ptr<Graph> smallGraph(Node *&x, Node *&e, Node *&n) {
  auto g = std::make_unique<Graph>("g");
  Attrs init;
  init.set("init", std::string("zeros"));
  x = g->add(OpKind::Param, {}, init, f32({4}), "x");
  e = g->add(OpKind::Exp, {x}, {}, f32({4}));
  n = g->add(OpKind::Neg, {e}, {}, f32({4}));
  return g;
}
} // namespace

TEST_CASE("a well-formed graph verifies", "[verifier]") {
  Node *x, *e, *n;
  auto g = smallGraph(x, e, n);
  DiagnosticEngine diags;
  CHECK(verify(*g, diags));
  CHECK(diags.diagnostics().empty());
}

TEST_CASE("the verifier finds wrong types, bad operands and duplicate names", "[verifier]") {
  Node *x, *e, *n;
  auto g = smallGraph(x, e, n);
  e->type = f32({5});
  DiagnosticEngine diags;
  CHECK_FALSE(verify(*g, diags));
  CHECK(diags.diagnostics()[0].message == "%0 is declared f32[5] but 'exp' gives f32[4]");

  g = smallGraph(x, e, n);
  e->operands.push_back(x);
  diags.clear();
  CHECK_FALSE(verify(*g, diags));
  CHECK(diags.diagnostics()[0].message == "%0 (exp) has 2 operand(s); 'exp' takes 1");

  g = smallGraph(x, e, n);
  n->name = "x";
  diags.clear();
  CHECK_FALSE(verify(*g, diags));
  CHECK(diags.diagnostics()[0].message == "value name %x is defined twice");

  g = smallGraph(x, e, n);
  g->addResult(Role::Loss, n);
  diags.clear();
  CHECK_FALSE(verify(*g, diags));
  CHECK(diags.diagnostics()[0].message == "loss must be an f32 scalar, %1 is f32[4]");
}

TEST_CASE("the verifier finds uses before definition and cycles", "[verifier]") {
  Node *x, *e, *n;
  auto g = smallGraph(x, e, n);
  e->operands[0] = n; // exp now uses a later value: a cycle exp -> neg -> exp
  DiagnosticEngine diags;
  CHECK_FALSE(verify(*g, diags));
  bool sawOrder = false, sawCycle = false;
  for (const auto &d : diags.diagnostics()) {
    sawOrder |= d.message == "%0 uses a value that is not defined before it";
    sawCycle |= d.message == "graph 'g' has a cycle";
  }
  CHECK(sawOrder);
  CHECK(sawCycle);
  CHECK_FALSE(topologicalOrder(*g));
}

TEST_CASE("topological order and reachability come from Boost.Graph", "[verifier]") {
  Node *x, *e, *n;
  auto g = smallGraph(x, e, n);
  auto order = topologicalOrder(*g);
  REQUIRE(order);
  CHECK(*order == std::vector<Node *>{x, e, n});
  std::vector<bool> r = reachesTo(*g, e);
  CHECK(r == std::vector<bool>{true, true, false});
}
