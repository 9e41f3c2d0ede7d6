//===- codegen/lower/Entries.cpp - A model's entry points -----------------===//
//
// lowerModel (codegen/Lowering.h): forward from the outputs' kernels,
// loss_and_grad from the loss's, gradients' and state updates' (then the
// stores of the new state), and train_step as a call of
// loss_and_grad followed by the optimizer update of every param (one copy of
// the gradient kernels keeps compile time down).
//
// The kernels that forward and loss_and_grad share come out as the same
// code: the functions they are grouped into are emitted twice and kept
// once (mergeIdenticalFunctions).
//
//===----------------------------------------------------------------------===//
#include "codegen/Gemm.h"
#include "codegen/Lowering.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include <llvm/IR/InstIterator.h>
#include <llvm/IR/StructuralHash.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Transforms/Utils/FunctionComparator.h>

#include "codegen/lower/KernelEmitter.h"
#include "ir/PhaseTimer.h"
#include "ir/Printer.h"

namespace dlc {

namespace {

/// The metadata attached to a function's instructions, taken off while
/// functions are compared (LLVM's comparator tells apart the alias scopes
/// of two copies) and put back after.
class DetachedMetadata {
public:
  explicit DetachedMetadata(llvm::Function &f) {
    for (llvm::Instruction &i : llvm::instructions(f))
      if (i.hasMetadataOtherThanDebugLoc()) {
        saved_.emplace_back(&i, llvm::SmallVector<std::pair<unsigned, llvm::MDNode *>, 2>{});
        i.getAllMetadataOtherThanDebugLoc(saved_.back().second);
        for (auto &[kind, node] : saved_.back().second) i.setMetadata(kind, nullptr);
      }
  }
  ~DetachedMetadata() {
    for (auto &[i, attachments] : saved_)
      for (auto &[kind, node] : attachments) i->setMetadata(kind, node);
  }

private:
  std::vector<std::pair<llvm::Instruction *, llvm::SmallVector<std::pair<unsigned, llvm::MDNode *>, 2>>> saved_;
};

/// Keeps one of each set of identical internal functions: forward's kernel
/// groups and their row-range bodies come out again, word for word, in
/// loss_and_grad (mnist: 2 of its 5 kernel functions), and compile time is
/// the code's size. Candidates share a structural hash (opcodes, types and
/// constants); LLVM's FunctionComparator (MergeFunctions' exact test) then
/// decides, with the metadata off. The metadata kept is the first
/// function's: its alias scopes say which arena ranges its accesses touch
/// (assignAliasScopes), facts of the code, so they hold for the copy. Until
/// nothing changes: merging two callees makes their callers identical.
void mergeIdenticalFunctions(llvm::Module &m) {
  for (bool changed = true; changed;) {
    std::unordered_map<uint64_t, std::vector<llvm::Function *>> byHash;
    for (llvm::Function &f : m)
      if (!f.isDeclaration() && f.hasLocalLinkage() && !isGemmLibraryFunction(f)) // the library stays whole
        byHash[llvm::StructuralHash(f, /*DetailedHash=*/true)].push_back(&f);
    std::vector<llvm::Function *> copies;
    for (auto &[hash, candidates] : byHash) {
      if (candidates.size() < 2) continue;
      std::vector<std::unique_ptr<DetachedMetadata>> detached;
      for (llvm::Function *f : candidates) detached.push_back(std::make_unique<DetachedMetadata>(*f));
      llvm::GlobalNumberState numbers;
      std::vector<llvm::Function *> kept; // in module order: the first of each set stays
      for (llvm::Function *f : candidates) {
        auto same = std::find_if(kept.begin(), kept.end(), [&](llvm::Function *k) {
          return llvm::FunctionComparator(k, f, &numbers).compare() == 0;
        });
        if (same == kept.end()) {
          kept.push_back(f);
          continue;
        }
        f->replaceAllUsesWith(*same);
        copies.push_back(f);
      }
    } // the metadata goes back on here
    for (llvm::Function *f : copies) f->eraseFromParent();
    changed = !copies.empty();
  }
}

} // namespace

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
  mergeIdenticalFunctions(*m);
  std::string err;
  llvm::raw_string_ostream os(err);
  if (llvm::verifyModule(*m, &os)) {
    diags.bug({}, "codegen produced invalid LLVM IR: {}", os.str());
    return nullptr;
  }
  return m;
}

} // namespace dlc
