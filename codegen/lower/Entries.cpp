//===- codegen/lower/Entries.cpp - A model's entry points -----------------===//
//
// lowerModel (codegen/Lowering.h): forward from the outputs' kernels,
// loss_and_grad from the loss's, gradients' and state updates' (then the
// stores of the new state), and train_step as a call of
// loss_and_grad followed by the optimizer update of every param (one copy of
// the gradient kernels keeps compile time down).
//
//===----------------------------------------------------------------------===//
#include "codegen/Lowering.h"

#include <unordered_set>

#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include "codegen/lower/KernelEmitter.h"
#include "ir/PhaseTimer.h"
#include "ir/Printer.h"

namespace dlc {

std::unique_ptr<llvm::Module> lowerModel(const Graph &g, const ModelLayout &layout, const std::string &prefix,
                                         llvm::LLVMContext &ctx, DiagnosticEngine &diags) {
  PhaseTimer timer("lowering to LLVM IR");
  auto m = std::make_unique<llvm::Module>(g.name, ctx);
  std::vector<std::string> printed = printedNames(g);
  std::unordered_map<const Node *, std::string> nameOf;
  for (size_t i = 0; i < g.size(); ++i) nameOf[g.nodes()[i].get()] = printed[i].substr(1);
  auto namesOf = [&](const std::vector<const Node *> &nodes) {
    std::vector<std::string> out;
    for (const Node *n : nodes) out.push_back(nameOf.at(n));
    return out;
  };
  auto [outputs, training] = entryRoots(g);
  auto emitEntry = [&](const std::string &suffix, const std::vector<const Node *> &roots, bool training) {
    KernelEmitter e(*m, layout, diags);
    e.setTraining(training);
    e.begin(prefix + suffix, false);
    std::vector<const Node *> nodes = entryNodes(g, roots);
    KernelPlan plan = planKernels(nodes, std::unordered_set<const Node *>(roots.begin(), roots.end()));
    if (!e.emit(nodes, namesOf(nodes), plan)) return false;
    // After the loss and the gradients, which may read the old state: each
    // state takes the value of its update (batch norm's running statistics).
    for (const auto &r : g.results)
      if (training && r.role == Role::Update) e.storeState(r.of, r.node);
    e.finish();
    return true;
  };
  if (!emitEntry("_forward", outputs, false)) return nullptr; // infers: dropout is the identity
  if (g.result(Role::Loss)) {
    if (!emitEntry("_loss_and_grad", training, true)) return nullptr; // trains: dropout masks are drawn
    // update: the optimizer step of every param from the gradients in the
    // arena (a data-parallel host averages them first); train_step =
    // loss_and_grad, then update (one copy of the gradient kernels keeps
    // compile time down).
    KernelEmitter u(*m, layout, diags);
    u.begin(prefix + "_update", true);
    for (const auto &r : g.results)
      if (r.role == Role::Grad && r.of->kind == OpKind::Param) u.update(r.of, r.node);
    u.finish();
    KernelEmitter e(*m, layout, diags);
    e.begin(prefix + "_train_step", true);
    e.callEntry(m->getFunction(prefix + "_loss_and_grad"));
    e.callEntry(m->getFunction(prefix + "_update"));
    e.finish();
  }
  std::string err;
  llvm::raw_string_ostream os(err);
  if (llvm::verifyModule(*m, &os)) {
    diags.bug({}, "codegen produced invalid LLVM IR: {}", os.str());
    return nullptr;
  }
  return m;
}

} // namespace dlc
