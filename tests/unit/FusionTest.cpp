//===- tests/unit/FusionTest.cpp - Kernel plans, counted ------------------===//
#include <catch2/catch.hpp>

#include "TestUtil.h"
#include "codegen/Fusion.h"
#include "codegen/Layout.h"

#include <algorithm>
#include "codegen/Lowering.h"
#include "passes/Pass.h"

using namespace dlc;
using namespace dlc::test;

namespace {
KernelPlan planFor(const Graph &g, bool training) {
  std::vector<const Node *> roots;
  for (const auto &r : g.results)
    if ((r.role == Role::Output) != training) roots.push_back(r.node);
  return planKernels(entryNodes(g, roots), {roots.begin(), roots.end()});
}
const Kernel *kernelOf(const KernelPlan &plan, const std::string &output) {
  for (const Kernel &k : plan.kernels)
    if (k.output()->name == output) return &k;
  return nullptr;
}
} // namespace

TEST_CASE("mnist_mlp: bias and relu ride on the matmuls, the relu mask on the backward product", "[fusion]") {
  DiagnosticEngine diags;
  auto g = compile(readExample("mnist_mlp.net"), diags);
  REQUIRE(g);
  PassContext ctx(diags);
  REQUIRE(runPipeline(g, defaultPipeline(), ctx));

  KernelPlan forward = planFor(*g, false);
  CHECK(forward.kernels.size() == 3); // two matmuls with epilogues, one softmax
  const Kernel *hidden = kernelOf(forward, "v1");
  REQUIRE(hidden);
  CHECK(hidden->anchor->kind == OpKind::MatMul);
  REQUIRE(hidden->epilogue.size() == 2);
  CHECK(hidden->epilogue[0]->kind == OpKind::Add);
  CHECK(hidden->epilogue[1]->kind == OpKind::Relu);

  KernelPlan train = planFor(*g, true);
  // The backward product dL/dv1 = dL/dw A2 applies the relu mask in its epilogue.
  const Kernel *masked = nullptr;
  for (const Kernel &k : train.kernels)
    if (k.anchor->name == "dL/dv1") masked = &k;
  REQUIRE(masked);
  REQUIRE(masked->epilogue.size() == 1);
  CHECK(masked->epilogue[0]->kind == OpKind::Mul);
  REQUIRE(masked->inlined.size() == 1);
  CHECK(masked->inlined[0]->kind == OpKind::Gt);
  // Weight decay joins the weight gradients' matmuls; the CE gradient is one loop.
  CHECK(kernelOf(train, "dL/dA1")->anchor->kind == OpKind::MatMul);
  CHECK(kernelOf(train, "dL/dA2")->anchor->kind == OpKind::MatMul);
  CHECK(kernelOf(train, "dL/dw")->inlined.size() == 2); // exp and sub inside the scale
  // relu's mask reads v1, so the pre-activation needs no buffer in training either.
  const Kernel *trainHidden = kernelOf(train, "v1");
  REQUIRE(trainHidden);
  CHECK(trainHidden->epilogue.size() == 2);
  CHECK(train.kernels.size() == 20);
  size_t unfused = 0;
  for (const Node *n : entryNodes(*g, [&] {
         std::vector<const Node *> r;
         for (const auto &res : g->results)
           if (res.role != Role::Output) r.push_back(res.node);
         return r;
       }()))
    unfused += !n->isLeaf();
  CHECK(unfused == 34); // one loop nest per op without fusion: 34 become 21
}

TEST_CASE("values that are results or have several users keep their own buffer", "[fusion]") {
  DiagnosticEngine diags;
  auto g = parseIRText(R"(graph g {
  %x = input() : f32[N, 4]
  %A = param() {init = he} : f32[3, 4]
  %0 = matmul(%x, %A) {transpose_b = true} : f32[N, 3]
  %1 = exp(%0) : f32[N, 3]
  %2 = neg(%1) : f32[N, 3]
  %3 = tanh(%1) : f32[N, 3]
  %4 = add(%2, %3) : f32[N, 3]
  output %4
  output %2
}
)", diags);
  INFO(renderDiagnostics(diags));
  REQUIRE(g);
  std::vector<const Node *> roots = {g->nodes()[6].get(), g->nodes()[4].get()}; // %4 and %2
  KernelPlan plan = planKernels(entryNodes(*g, roots), {roots.begin(), roots.end()});
  // exp has two users: the matmul stores it (epilogue); neg is an output (kept);
  // tanh is inlined into the final add.
  REQUIRE(plan.kernels.size() == 3);
  CHECK(plan.kernels[0].epilogue.size() == 1);
  CHECK(plan.kernels[0].epilogue[0]->kind == OpKind::Exp);
  CHECK(plan.kernels[1].anchor->kind == OpKind::Neg);
  CHECK(plan.kernels[2].anchor->kind == OpKind::Add);
  REQUIRE(plan.kernels[2].inlined.size() == 1);
  CHECK(plan.kernels[2].inlined[0]->kind == OpKind::Tanh);
}

TEST_CASE("the arena shares memory between temporaries whose live ranges do not overlap", "[fusion][memory]") {
  DiagnosticEngine diags;
  auto g = compile(readExample("fashion_cnn.net"), diags);
  REQUIRE(g);
  PassContext ctx(diags);
  REQUIRE(runPipeline(g, defaultPipeline(), ctx));
  ModelLayout l = planLayout(*g, 64, Optimizer::Adam);
  int64_t temporary = l.arenaSize - l.persistentSize - l.workspaceSize;
  INFO("temporary " << temporary << ", without sharing " << l.unsharedTemporarySize);
  CHECK(temporary < l.unsharedTemporarySize * 3 / 5); // 2408448 of 4435296 floats
  // Persistent values never share: params, state and results are all disjoint.
  std::vector<std::pair<int64_t, int64_t>> ranges;
  for (const auto &n : g->nodes())
    if (n->isLeaf() && l.slots.count(n.get())) ranges.push_back({l.slots[n.get()].first, l.slots[n.get()].first + l.slots[n.get()].second});
  for (const auto &r : g->results) ranges.push_back({l.slots[r.node].first, l.slots[r.node].first + l.slots[r.node].second});
  for (auto &[p, s] : l.state)
    for (int64_t off : s) ranges.push_back({off, off + l.slots[p].second});
  std::sort(ranges.begin(), ranges.end());
  ranges.erase(std::unique(ranges.begin(), ranges.end()), ranges.end()); // a result may be listed twice
  for (size_t i = 1; i < ranges.size(); ++i) CHECK(ranges[i - 1].second <= ranges[i].first);
  for (const auto &range : ranges) CHECK(range.second <= l.persistentSize);
}
