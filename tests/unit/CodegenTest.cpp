//===- tests/unit/CodegenTest.cpp - JIT-compiled graphs match the interpreter -===//
#include <catch2/catch.hpp>

#include <cmath>

#include "TestUtil.h"
#include "codegen/JIT.h"
#include "codegen/Lowering.h"
#include "ir/Interpreter.h"
#include "passes/Pass.h"

using namespace dlc;
using namespace dlc::test;

TEST_CASE("JIT-compiled forward and gradients match the reference interpreter", "[codegen]") {
  const int64_t batch = 3;
  for (const char *name : kExamples) {
    INFO(name);
    DiagnosticEngine diags;
    auto g = compile(readExample(name), diags);
    REQUIRE(g);
    PassContext ctx(diags);
    REQUIRE(runPipeline(g, defaultPipeline(), ctx));

    auto llctx = std::make_unique<llvm::LLVMContext>();
    LoweringOptions opts;
    opts.batch = batch;
    auto module = lowerGraph(*g, opts, *llctx, diags);
    INFO(renderDiagnostics(diags));
    REQUIRE(module);
    std::string err;
    auto jit = JIT::create(err);
    INFO(err);
    REQUIRE(jit);
    REQUIRE(jit->add(std::move(module), std::move(llctx), 2, err));
    auto fn = reinterpret_cast<void (*)(float **)>(jit->lookup(opts.functionName, err));
    REQUIRE(fn);

    // The same leaf values for both: float buffers for the JIT, doubles for the oracle.
    Interpreter ref(*g);
    ref.bindSymbol("N", batch);
    std::vector<std::vector<float>> buffers;
    std::vector<float *> slots;
    size_t k = 0;
    for (const auto &n : g->nodes()) {
      std::vector<int64_t> shape = ref.resolve(n->shape());
      Tensor t(shape);
      bool leaf = n->kind == OpKind::Input || n->kind == OpKind::Label || n->kind == OpKind::Param;
      for (size_t i = 0; leaf && i < t.size(); ++i) {
        if (n->attrs.has("classes")) t[i] = double(int64_t(i * 5 + 2) % n->attrs.getInt("classes"));
        else t[i] = double(float(0.5 * std::sin(0.61 * double(i) + 0.9 * double(k))));
      }
      if (leaf) {
        ++k;
        ref.set(n.get(), t);
      }
      buffers.emplace_back(t.data.begin(), t.data.end());
      if (buffers.back().empty()) buffers.back().push_back(0); // keep a valid pointer
    }
    for (auto &b : buffers) slots.push_back(b.data());
    REQUIRE(ref.run(err));
    fn(slots.data());

    size_t checked = 0;
    for (const auto &r : g->results) {
      size_t i = 0;
      while (g->nodes()[i].get() != r.node) ++i;
      const Tensor &want = ref.value(r.node);
      double scale = 1e-6;
      for (double v : want.data) scale = std::max(scale, std::fabs(v));
      for (size_t e = 0; e < want.size(); ++e) {
        INFO(roleName(r.role) << " " << (r.of ? r.of->name : r.node->name) << "[" << e << "]");
        CHECK(std::fabs(buffers[i][e] - want[e]) <= 1e-4 * std::fabs(want[e]) + 1e-5 * scale);
        ++checked;
      }
    }
    CHECK(checked > 0);
  }
}
