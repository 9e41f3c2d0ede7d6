//===- tests/unit/SimplifyTest.cpp - Gradient graphs as small as by hand --===//
#include <catch2/catch.hpp>

#include "TestUtil.h"
#include "passes/Pass.h"

using namespace dlc;
using namespace dlc::test;

namespace {
std::unique_ptr<Graph> simplified(const std::string &ir) {
  DiagnosticEngine diags;
  auto g = parseIRText(ir, diags);
  INFO(renderDiagnostics(diags));
  REQUIRE(g);
  PassContext ctx(diags);
  REQUIRE(runPipeline(g, {"simplify"}, ctx));
  return g;
}
} // namespace

TEST_CASE("the mnist_mlp gradient graph has the hand-derived number of ops", "[simplify]") {
  DiagnosticEngine diags;
  auto g = compile(readExample("mnist_mlp.net"), diags);
  REQUIRE(g);
  PassContext ctx(diags);
  REQUIRE(runPipeline(g, gradPipeline(), ctx));
  size_t lossAt = 0;
  while (g->nodes()[lossAt].get() != g->result(Role::Loss)) ++lossAt;
  size_t backward = g->size() - lossAt - 1;
  // By hand, with s = 1/N:   s = 1 / N                              2 (const 1, div)
  //   dL/dw = (exp(log_softmax(w)) - onehot(y)) s                  3 (exp, sub, mul)
  //   dL/db2 = sum_n dL/dw;  dL/dv1 = dL/dw A2;  dL/dA2 = dL/dw^T v1 + 2e-5 A2   6 (incl. const, mul, add)
  //   mask = (A1 v0 + b1 > 0);  d1 = dL/dv1 * mask                 3 (const 0, gt, mul)
  //   dL/db1 = sum_n d1;  dL/dA1 = d1^T v0 + 2e-5 A1               4 (reduce, matmul, mul, add)
  CHECK(backward == 18);
  CHECK(g->nodesOfKind(OpKind::Transpose).empty()); // folded into matmul flags
  CHECK(g->nodesOfKind(OpKind::Broadcast).empty());
}

TEST_CASE("algebraic identities, folding and CSE, each pattern counted", "[simplify][passes]") {
  DiagnosticEngine diags;
  auto g = parseIRText(R"(graph g {
  %x = param() {init = zeros} : f32[3, 4]
  %one = const() {value = 1.0} : f32[]
  %zero = const() {value = 0.0} : f32[]
  %0 = mul(%x, %one) : f32[3, 4]
  %1 = add(%zero, %0) : f32[3, 4]
  %2 = transpose(%1) {perm = [1, 0]} : f32[4, 3]
  %3 = transpose(%2) {perm = [1, 0]} : f32[3, 4]
  %4 = neg(%3) : f32[3, 4]
  %5 = neg(%4) : f32[3, 4]
  %6 = exp(%5) : f32[3, 4]
  %7 = exp(%x) : f32[3, 4]
  %8 = sub(%6, %7) : f32[3, 4]
  %c = const() {value = 2.0} : f32[]
  %d = const() {value = 3.0} : f32[]
  %e = mul(%c, %d) : f32[]
  %9 = mul(%8, %e) : f32[3, 4]
  %L = reduce_sum(%9) {axes = [0, 1]} : f32[]
  loss %L
}
)", diags);
  INFO(renderDiagnostics(diags));
  REQUIRE(g);
  PassContext ctx(diags);
  REQUIRE(runPipeline(g, {"simplify"}, ctx));
  // x*1, 0+x, transpose(transpose), neg(neg) vanish; the two exps are one (CSE);
  // exp(x) - exp(x) is zero, so L folds to the constant 0.
  INFO(printGraph(*g));
  CHECK(g->result(Role::Loss)->kind == OpKind::Const);
  CHECK(g->result(Role::Loss)->attrs.getFloat("value") == 0.0);
  CHECK(g->size() == 2); // the param and the constant loss
  INFO(formatStats(ctx));
  // By hand, in program order: %0 = x*1 -> x; %1 = 0+x -> x; %3 = the
  // transposes compose to the identity -> x; %5 = -(-x) -> x; %7 is %6 (CSE);
  // %8 = e - e -> 0; %e = 2*3 -> 6 and %9 = 0*6 -> 0 (folded, and that zero
  // already exists: CSE); %L = sum of zeros -> the scalar %zero (CSE again).
  CHECK(ctx.stat("simplify", "mul-one") == 1);
  CHECK(ctx.stat("simplify", "add-zero") == 1);
  CHECK(ctx.stat("simplify", "transpose-compose") == 1);
  CHECK(ctx.stat("simplify", "neg-neg") == 1);
  CHECK(ctx.stat("simplify", "sub-self") == 1);
  CHECK(ctx.stat("simplify", "fold-elementwise") == 2);
  CHECK(ctx.stat("simplify", "fold-sum") == 1);
  CHECK(ctx.stat("simplify", "cse") == 3);
  // Left dead: %one, one transpose, one neg, exp, the [3, 4] zero, %c, %d, 6.
  CHECK(ctx.stat("simplify", "dead") == 8);
  CHECK(ctx.stat("simplify", "mul-zero") == 0);
}

TEST_CASE("transposes fold into matmul flags and scalars stay scalar", "[simplify]") {
  auto g = simplified(R"(graph g {
  %a = param() {init = zeros} : f32[4, 3]
  %b = param() {init = zeros} : f32[5, 4]
  %0 = transpose(%a) {perm = [1, 0]} : f32[3, 4]
  %1 = transpose(%b) {perm = [1, 0]} : f32[4, 5]
  %2 = matmul(%0, %1) : f32[3, 5]
  %s = const() {value = 0.5} : f32[]
  %3 = broadcast(%s) {dims = [], shape = [3, 5]} : f32[3, 5]
  %4 = mul(%2, %3) : f32[3, 5]
  %L = reduce_sum(%4) {axes = [0, 1]} : f32[]
  loss %L
}
)");
  INFO(printGraph(*g));
  auto mm = g->nodesOfKind(OpKind::MatMul);
  REQUIRE(mm.size() == 1);
  CHECK(mm[0]->attrs.getBool("transpose_a"));
  CHECK(mm[0]->attrs.getBool("transpose_b"));
  CHECK(mm[0]->operands[0]->name == "a");
  CHECK(g->nodesOfKind(OpKind::Transpose).empty());
  CHECK(g->nodesOfKind(OpKind::Broadcast).empty());
}

TEST_CASE("the default pipeline verifies and keeps every example's gradients", "[simplify][passes]") {
  for (const char *name : kExamples) {
    INFO(name);
    DiagnosticEngine diags;
    auto g = compile(readExample(name), diags);
    REQUIRE(g);
    size_t params = g->nodesOfKind(OpKind::Param).size();
    PassContext ctx(diags);
    ctx.verifyEach = true;
    REQUIRE(runPipeline(g, defaultPipeline(), ctx));
    INFO(renderDiagnostics(diags));
    CHECK(g->resultsWith(Role::Grad).size() == params);
    // The text form of the optimized graph parses back.
    auto back = parseIRText(printGraph(*g), diags);
    REQUIRE(back);
    CHECK(printGraph(*back) == printGraph(*g));
  }
}

TEST_CASE("an unknown pass is an error naming the known ones", "[passes]") {
  DiagnosticEngine diags;
  auto g = compile(readExample("hinge.net"), diags);
  REQUIRE(g);
  PassContext ctx(diags);
  CHECK_FALSE(runPipeline(g, {"batch", "fuse"}, ctx));
  CHECK(diags.diagnostics().back().message == "unknown pass 'fuse'; passes are batch, autodiff, simplify, chain, dce, stabilize, derive, remat, modes");
}
