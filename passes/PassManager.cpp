//===- passes/PassManager.cpp ---------------------------------------------===//
#include "passes/Pass.h"

#include "ir/Printer.h"
#include "ir/Verifier.h"

namespace dlc {

const std::vector<PassInfo> &allPasses() {
  static const std::vector<PassInfo> passes = {
#define PASS(Name, Fn, Description) {#Name, &Fn, Description},
#include "passes/Passes.def"
  };
  return passes;
}

const PassInfo *findPass(std::string_view name) {
  for (const PassInfo &p : allPasses())
    if (name == p.name) return &p;
  return nullptr;
}

std::vector<std::string> defaultPipeline() { return {"batch", "chain", "autodiff", "simplify", "chain"}; }
std::vector<std::string> gradPipeline() { return {"batch", "autodiff", "simplify"}; }

bool runPipeline(std::unique_ptr<Graph> &g, const std::vector<std::string> &passes, PassContext &ctx) {
  for (const std::string &name : passes) {
    const PassInfo *p = findPass(name);
    if (!p) {
      std::string known;
      for (const PassInfo &i : allPasses()) known += (known.empty() ? "" : ", ") + std::string(i.name);
      ctx.diags.error({}, "unknown pass '{}'; passes are {}", name, known);
      return false;
    }
    unsigned errors = ctx.diags.errorCount();
    p->run(g, ctx);
    if (ctx.diags.errorCount() > errors) return false;
#ifndef NDEBUG
    bool verifyNow = true;
#else
    bool verifyNow = ctx.verifyEach;
#endif
    if (verifyNow && !verify(*g, ctx.diags)) {
      ctx.diags.error({}, "the IR after pass '{}' does not verify (a compiler bug)", name);
      return false;
    }
    if (ctx.printAfterEach) *ctx.printAfterEach << "# IR after " << name << "\n" << printGraph(*g);
  }
  return true;
}

} // namespace dlc
