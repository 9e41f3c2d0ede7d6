//===- tests/unit/CodegenTest.cpp - JIT-compiled entry points -------------===//
#include <catch2/catch.hpp>

#include <cmath>

#include "TestUtil.h"
#include "codegen/JIT.h"
#include "codegen/Lowering.h"
#include "codegen/Target.h"
#include "ir/Interpreter.h"
#include "passes/Pass.h"

using namespace dlc;
using namespace dlc::test;

namespace {

using EntryFn = void (*)(float *, int64_t);
using StepFn = void (*)(float *, int64_t, const float *);

/// An example compiled through the default pipeline and JIT-compiled.
struct Compiled {
  std::unique_ptr<Graph> graph;
  ModelLayout layout;
  std::unique_ptr<JIT> jit;
  EntryFn forward = nullptr, lossAndGrad = nullptr;
  StepFn trainStep = nullptr;
  std::vector<float> arena;

  float *slot(const Node *n) { return arena.data() + layout.slots.at(n).first; }
};

Compiled compileExample(const std::string &name, int64_t capacity, Optimizer opt) {
  Compiled c;
  DiagnosticEngine diags;
  c.graph = compile(readExample(name), diags);
  REQUIRE(c.graph);
  PassContext ctx(diags);
  REQUIRE(runPipeline(c.graph, defaultPipeline(), ctx));
  std::string err;
  auto tm = hostTargetMachine(err); // the JIT's: on an AVX-512 host its kernel (GemmTest forces each)
  REQUIRE(tm);
  c.layout = planLayout(*c.graph, capacity, opt, gemmConfigFor(*tm, true));
  auto llctx = std::make_unique<llvm::LLVMContext>();
  auto module = lowerModel(*c.graph, c.layout, "m", *llctx, diags);
  INFO(renderDiagnostics(diags));
  REQUIRE(module);
  c.jit = JIT::create(err);
  INFO(err);
  REQUIRE(c.jit);
  REQUIRE(c.jit->add(std::move(module), std::move(llctx), *tm, 2, err));
  c.forward = reinterpret_cast<EntryFn>(c.jit->lookup("m_forward", err));
  c.lossAndGrad = reinterpret_cast<EntryFn>(c.jit->lookup("m_loss_and_grad", err));
  c.trainStep = reinterpret_cast<StepFn>(c.jit->lookup("m_train_step", err));
  REQUIRE(c.forward);
  // NaN everywhere a call must write before it reads; optimizer state starts at zero.
  c.arena.assign(size_t(c.layout.arenaSize), std::nanf(""));
  for (auto &[param, buffers] : c.layout.state)
    for (int64_t off : buffers) std::fill_n(c.arena.begin() + off, c.layout.slots.at(param).second, 0.0f);
  return c;
}

/// Fills every leaf of the compiled arena and the interpreter alike.
void fillLeaves(Compiled &c, Interpreter &ref, int64_t n) {
  ref.bindSymbol("N", n);
  size_t k = 0;
  for (const auto &node : c.graph->nodes()) {
    if (!node->isSupplied()) continue;
    Tensor t(ref.resolve(node->shape()));
    for (size_t i = 0; i < t.size(); ++i) {
      if (node->attrs.has("classes")) t[i] = double(int64_t(i * 5 + 2) % node->attrs.getInt("classes"));
      else t[i] = double(float(0.5 * std::sin(0.61 * double(i) + 0.9 * double(k))));
      if (node->kind == OpKind::State) t[i] = double(float(1 + t[i])); // running statistics: a positive variance
    }
    ++k;
    ref.set(node.get(), t);
    std::copy(t.data.begin(), t.data.end(), c.slot(node.get()));
  }
}

void checkClose(const float *got, const Tensor &want, const std::string &what) {
  double scale = 1e-6;
  for (double v : want.data) scale = std::max(scale, std::fabs(v));
  for (size_t e = 0; e < want.size(); ++e) {
    INFO(what << "[" << e << "]: compiled " << got[e] << ", interpreter " << want[e]);
    CHECK(std::fabs(got[e] - want[e]) <= 1e-4 * std::fabs(want[e]) + 1e-5 * scale);
  }
}

} // namespace

TEST_CASE("JIT forward, loss and gradients match the interpreter at a batch below capacity", "[codegen]") {
  for (const char *name : kExamples) {
    INFO(name);
    Compiled c = compileExample(name, 5, Optimizer::SGD);
    const int64_t n = 3; // fewer than the capacity: the rows past n must not matter
    Interpreter ref(*c.graph);
    fillLeaves(c, ref, n);
    std::string err;
    REQUIRE(ref.run(err));
    c.forward(c.arena.data(), n);
    for (Node *o : c.graph->resultsWith(Role::Output)) checkClose(c.slot(o), ref.value(o), "output " + o->name);
    if (!c.lossAndGrad) continue;
    c.lossAndGrad(c.arena.data(), n);
    checkClose(c.slot(c.graph->result(Role::Loss)), ref.value(c.graph->result(Role::Loss)), "loss");
    for (const auto &r : c.graph->results) {
      if (r.role == Role::Grad) checkClose(c.slot(r.node), ref.value(r.node), "dL/d" + r.of->name);
      if (r.role == Role::Update) checkClose(c.slot(r.of), ref.value(r.node), "state " + r.of->name + " after the step");
    }
  }
}

TEST_CASE("train_step applies SGD with momentum and Adam exactly as written", "[codegen][optimizer]") {
  for (Optimizer opt : {Optimizer::SGD, Optimizer::Adam}) {
    Compiled c = compileExample("mnist_mlp.net", 4, opt);
    Interpreter ref(*c.graph);
    fillLeaves(c, ref, 4);
    std::string err;
    REQUIRE(ref.run(err));
    // Non-zero optimizer state, so momentum and the moments matter.
    for (auto &[param, buffers] : c.layout.state)
      for (size_t b = 0; b < buffers.size(); ++b)
        for (int64_t i = 0; i < c.layout.slots.at(param).second; ++i)
          c.arena[size_t(buffers[b] + i)] = b == 0 ? 0.01f * float(i % 7) : 0.002f * float(1 + i % 5);
    std::vector<float> before = c.arena;
    float hyper[kHyperCount] = {};
    hyper[kLearningRate] = 0.1f;
    hyper[kMomentum] = 0.9f;
    hyper[kBeta1] = 0.9f, hyper[kBeta2] = 0.999f, hyper[kEpsilon] = 1e-8f;
    hyper[kCorrection1] = 1 / (1 - 0.9f * 0.9f), hyper[kCorrection2] = 1 / (1 - 0.999f * 0.999f);
    hyper[kWeightDecay] = 0.01f;
    c.trainStep(c.arena.data(), 4, hyper);
    for (const auto &r : c.graph->results) {
      if (r.role != Role::Grad) continue;
      const Tensor &g = ref.value(r.node);
      const Node *p = r.of;
      const auto &state = c.layout.state.at(p);
      int64_t off = c.layout.slots.at(p).first;
      for (size_t i = 0; i < g.size(); i += 97) { // a sample of every param
        double p0 = before[size_t(off) + i], want;
        if (opt == Optimizer::SGD) {
          double z = g[i] + 0.9 * before[size_t(state[0]) + i];
          want = p0 - 0.1 * z;
        } else {
          double m = 0.9 * before[size_t(state[0]) + i] + 0.1 * g[i];
          double v = 0.999 * before[size_t(state[1]) + i] + 0.001 * g[i] * g[i];
          want = p0 - 0.1 * (hyper[kCorrection1] * m / (std::sqrt(hyper[kCorrection2] * v) + 1e-8) + 0.01 * p0);
        }
        // Float rounding of the gradient shows up relative to the step, not to the param.
        INFO(p->name << "[" << i << "]: compiled " << c.arena[size_t(off) + i] << ", expected " << want);
        CHECK(std::fabs(c.arena[size_t(off) + i] - want) <= 1e-3 * std::fabs(want - p0) + 1e-6);
      }
    }
  }
}

TEST_CASE("repeated train steps drive the loss down", "[codegen][optimizer]") {
  Compiled c = compileExample("residual.net", 16, Optimizer::SGD);
  Interpreter ref(*c.graph);
  fillLeaves(c, ref, 16);
  float hyper[kHyperCount] = {};
  hyper[kLearningRate] = 0.1f;
  hyper[kMomentum] = 0.9f;
  float *loss = c.slot(c.graph->result(Role::Loss));
  c.trainStep(c.arena.data(), 16, hyper);
  float first = *loss;
  for (int step = 0; step < 50; ++step) c.trainStep(c.arena.data(), 16, hyper);
  CHECK(*loss < 0.2f * first);
}
