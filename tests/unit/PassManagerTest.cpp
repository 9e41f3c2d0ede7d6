//===- tests/unit/PassManagerTest.cpp - Pass results, statistics, fix(...) -===//
#include <catch2/catch.hpp>

#include <sstream>

#include "TestUtil.h"
#include "passes/Pass.h"

using namespace dlc;
using namespace dlc::test;

namespace {

std::unique_ptr<Graph> parsed(const std::string &ir, DiagnosticEngine &diags) {
  auto g = parseIRText(ir, diags);
  INFO(renderDiagnostics(diags));
  REQUIRE(g);
  return g;
}

/// A scalar const; without a value it does not verify.
Node *addConst(Graph &g, const char *name, std::optional<double> value) {
  Attrs a;
  if (value) a.set("value", *value);
  return g.add(OpKind::Const, {}, a, TensorType{DType::F32, {}}, name, {});
}

} // namespace

TEST_CASE("a transpose into a matmul and a broadcast scalar are counted", "[passes][simplify]") {
  DiagnosticEngine diags;
  auto g = parsed(R"(graph g {
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
)", diags);
  PassContext ctx(diags);
  REQUIRE(runPipeline(g, {"simplify"}, ctx));
  INFO(formatStats(ctx));
  // By hand: both transposes of %2 become flags (one rewrite of one matmul);
  // %3, a broadcast of a constant, folds to a uniform [3, 5] constant, so %4
  // sees that (not a broadcast) and narrows it back to the scalar, which is
  // %s again (CSE). The two transposes and the [3, 5] constant are left dead.
  CHECK(ctx.stat("simplify", "transpose-into-matmul") == 1);
  CHECK(ctx.stat("simplify", "fold-layout") == 1);
  CHECK(ctx.stat("simplify", "scalar-uniform-constant") == 1);
  CHECK(ctx.stat("simplify", "implicit-scalar-broadcast") == 0);
  CHECK(ctx.stat("simplify", "cse") == 1);
  CHECK(ctx.stat("simplify", "dead") == 3);
  CHECK(formatStats(ctx).find("simplify.transpose-into-matmul: 1\n") != std::string::npos);
}

TEST_CASE("a pass reports whether it changed the graph", "[passes]") {
  DiagnosticEngine diags;
  auto g = compile(readExample("hinge.net"), diags);
  REQUIRE(g);
  PassContext ctx(diags);
  CHECK(runBatching(g, ctx) == PassResult::Changed);
  CHECK(runBatching(g, ctx) == PassResult::Unchanged); // already batched
  CHECK(runDeadCode(g, ctx) == PassResult::Unchanged);
  addConst(*g, "unused", 1.0);
  size_t before = g->size();
  CHECK(runDeadCode(g, ctx) == PassResult::Changed);
  CHECK(g->size() == before - 1);
  CHECK(ctx.stat("dce", "removed") == 1);
  CHECK(runSimplify(g, ctx) == PassResult::Unchanged); // the batched forward graph is already simple
  CHECK(runAutodiff(g, ctx) == PassResult::Changed);
  CHECK(runSimplify(g, ctx) == PassResult::Changed); // the raw backward sweep is not
  CHECK(runSimplify(g, ctx) == PassResult::Unchanged);
  CHECK_FALSE(diags.hasErrors());
}

TEST_CASE("a failed pass stops the pipeline with its diagnostic", "[passes]") {
  DiagnosticEngine diags;
  auto g = parsed(R"(graph g {
  %x = param() {init = zeros} : f32[3]
  %y = exp(%x) : f32[3]
  output %y
}
)", diags);
  PassContext ctx(diags);
  std::ostringstream after;
  ctx.printAfterEach = &after;
  // Without a loss the graph is forward-only (autodiff leaves it alone), but
  // the gradient of an input cannot be had.
  CHECK(runAutodiff(g, ctx) == PassResult::Unchanged);
  ctx.gradInputs = {"x"};
  CHECK(runAutodiff(g, ctx) == PassResult::Failed);
  CHECK_FALSE(runPipeline(g, {"dce", "autodiff", "simplify"}, ctx));
  REQUIRE_FALSE(diags.diagnostics().empty());
  CHECK(diags.diagnostics().back().message == "autodiff: model 'g' has no loss to differentiate");
  CHECK(after.str().find("# IR after dce") != std::string::npos);
  CHECK(after.str().find("# IR after simplify") == std::string::npos); // never ran
}

TEST_CASE("only a pass that changed the graph has its output verified", "[passes]") {
  DiagnosticEngine diags;
  auto g = std::make_unique<Graph>("g");
  g->addResult(Role::Output, addConst(*g, "broken", std::nullopt)); // a const without a value
  PassContext ctx(diags);
  ctx.verifyEach = true;
  CHECK(runPipeline(g, {"dce"}, ctx)); // nothing removed, nothing to check
  CHECK_FALSE(diags.hasErrors());
  addConst(*g, "unused", 1.0);
  CHECK_FALSE(runPipeline(g, {"dce"}, ctx)); // changed: verified, and the old fault is found
  CHECK(diags.diagnostics().back().message == "the IR after pass 'dce' does not verify (a compiler bug)");
  CHECK(diags.diagnostics().back().compilerBug);
}

TEST_CASE("fix(...) runs a group of passes until a round changes nothing", "[passes]") {
  CHECK(splitPipeline("batch, fix(simplify,chain) ,dce") ==
        std::vector<std::string>{"batch", "fix(simplify,chain)", "dce"});
  DiagnosticEngine diags;
  auto g = compile(readExample("mnist_mlp.net"), diags);
  REQUIRE(g);
  auto reference = cloneGraph(*g);
  PassContext ctx(diags), refCtx(diags);
  REQUIRE(runPipeline(g, {"batch", "autodiff", "fix(simplify,chain)"}, ctx));
  REQUIRE(runPipeline(reference, {"batch", "autodiff", "simplify", "chain", "simplify", "chain", "simplify"}, refCtx));
  // simplify already runs to its own fixed point, so the group converges in
  // a few rounds to what repeating the passes by hand gives.
  CHECK(printGraph(*g) == printGraph(*reference));
  CHECK_FALSE(runPipeline(g, {"fix(simplify,fuse)"}, ctx));
  CHECK(diags.diagnostics().back().message.starts_with("unknown pass 'fuse'"));
}
