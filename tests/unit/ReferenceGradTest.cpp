//===- tests/unit/ReferenceGradTest.cpp - Gradients against PyTorch autograd -===//
//
// tests/reference/make_reference.py writes each example's loss and param
// gradients as computed by PyTorch (float64) for deterministic leaf values,
// and the running statistics of its batch norms after the step (PyTorch's
// BatchNorm in training mode); here the same values go through dlc's whole
// default pipeline (batch, chain, autodiff, modes, simplify, chain) and the
// reference interpreter.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

#include "TestUtil.h"
#include "ir/Interpreter.h"
#include "passes/Pass.h"

using namespace dlc;
using namespace dlc::test;

namespace {

constexpr int64_t kBatch = 4;

/// Leaf k's value: 0.5 sin(0.37 i + 1.1 k + 0.2) (the same formula as the script).
Tensor leafValues(size_t k, std::vector<int64_t> shape) {
  Tensor t(std::move(shape));
  for (size_t i = 0; i < t.size(); ++i) t[i] = 0.5 * std::sin(0.37 * double(i) + 1.1 * double(k) + 0.2);
  return t;
}

/// A tensor as the script summarizes it: count, sum, sum of squares, 16 entries.
struct RefGrad {
  size_t count;
  double sum, sumsq;
  std::vector<double> picks;
};

void checkClose(double got, double want, const std::string &what) {
  INFO(what << ": dlc " << got << ", PyTorch " << want);
  CHECK(std::fabs(got - want) <= 1e-9 * std::max(1.0, std::fabs(want)));
}

void checkSummary(const Tensor &got, const RefGrad &want, const std::string &what) {
  REQUIRE(got.size() == want.count);
  double sum = 0, sumsq = 0;
  for (double v : got.data) sum += v, sumsq += v * v;
  checkClose(sum, want.sum, "sum of " + what);
  checkClose(sumsq, want.sumsq, "sum of squares of " + what);
  for (size_t j = 0; j < want.picks.size(); ++j)
    checkClose(got[(j * got.size()) / 16], want.picks[j], fmt::format("{}[{}]", what, (j * got.size()) / 16));
}

} // namespace

TEST_CASE("every example's loss and param gradients match PyTorch's autograd", "[grad][reference]") {
  for (std::string name : kExamples) {
    name = name.substr(0, name.size() - 4);
    INFO(name);
    std::ifstream ref(std::string(DLC_REFERENCE_DIR) + "/" + name + ".ref");
    REQUIRE(ref.good());
    double refLoss = 0;
    std::map<std::string, RefGrad> refGrads, refStates;
    for (std::string line; std::getline(ref, line);) {
      std::istringstream ss(line);
      std::string kind, pname;
      ss >> kind;
      if (kind == "loss") { ss >> refLoss; continue; }
      RefGrad r;
      ss >> pname >> r.count >> r.sum >> r.sumsq;
      for (double v; ss >> v;) r.picks.push_back(v);
      (kind == "state" ? refStates : refGrads)[pname] = r;
    }

    DiagnosticEngine diags;
    auto g = compile(readExample(name + ".net"), diags);
    REQUIRE(g);
    PassContext ctx(diags);
    REQUIRE(runPipeline(g, defaultPipeline(), ctx));
    Interpreter it(*g);
    it.bindSymbol("N", kBatch);
    size_t k = 0;
    for (const auto &n : g->nodes()) {
      bool classLabel = n->kind == OpKind::Label && n->attrs.has("classes");
      if (classLabel) {
        Tensor y({kBatch});
        for (int64_t i = 0; i < kBatch; ++i) y[size_t(i)] = double((3 * i + 1) % n->attrs.getInt("classes"));
        it.set(n.get(), y);
      } else if (n->kind == OpKind::Input || n->kind == OpKind::Label || n->kind == OpKind::Param) {
        it.set(n.get(), leafValues(k++, it.resolve(n->shape())));
      }
    }
    std::string err;
    REQUIRE(it.run(err));
    checkClose(it.value(g->result(Role::Loss))[0], refLoss, "loss");
    REQUIRE(g->resultsWith(Role::Grad).size() == refGrads.size());
    REQUIRE(g->resultsWith(Role::Update).size() == refStates.size());
    for (const auto &r : g->results) {
      if (r.role == Role::Grad) checkSummary(it.value(r.node), refGrads.at(r.of->name), "dL/d" + r.of->name);
      if (r.role == Role::Update) checkSummary(it.value(r.node), refStates.at(r.of->name), r.of->name + " after the step");
    }
  }
}
