//===- passes/PassManager.cpp ---------------------------------------------===//
#include "passes/Pass.h"

#include <stdexcept>

#include <fmt/format.h>

#include "ir/PhaseTimer.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"

namespace dlc {

void PassContext::addStat(std::string_view pass, std::string_view name, uint64_t n) {
  for (PassStatistic &s : stats)
    if (s.pass == pass && s.name == name) {
      s.count += n;
      return;
    }
  stats.push_back({std::string(pass), std::string(name), n});
}

uint64_t PassContext::stat(std::string_view pass, std::string_view name) const {
  for (const PassStatistic &s : stats)
    if (s.pass == pass && s.name == name) return s.count;
  return 0;
}

std::string formatStats(const PassContext &ctx) {
  std::string out;
  for (const PassStatistic &s : ctx.stats) out += fmt::format("{}.{}: {}\n", s.pass, s.name, s.count);
  return out;
}

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

std::vector<std::string> defaultPipeline() {
  return {"stabilize", "derive", "batch", "chain", "autodiff", "modes", "simplify", "chain"};
}
std::vector<std::string> gradPipeline() { return {"stabilize", "derive", "batch", "autodiff", "modes", "simplify"}; }

std::vector<std::string> splitPipeline(std::string_view list) {
  std::vector<std::string> steps;
  std::string step;
  int depth = 0;
  auto flush = [&] {
    size_t b = step.find_first_not_of(" \t"), e = step.find_last_not_of(" \t");
    if (b != std::string::npos) steps.push_back(step.substr(b, e - b + 1));
    step.clear();
  };
  for (char c : list) {
    if (c == ',' && depth == 0) {
      flush();
      continue;
    }
    depth += c == '(' ? 1 : c == ')' ? -1 : 0;
    step += c;
  }
  flush();
  return steps;
}

namespace {

/// Runs one pass, then verifies and prints its output as asked.
PassResult runPass(const PassInfo &p, std::unique_ptr<Graph> &g, PassContext &ctx) {
  unsigned errors = ctx.diags.errorCount();
  PassResult result;
  try {
    result = p.run(g, ctx);
  } catch (const std::exception &e) { // a compiler bug: a diagnostic, never an abort of the host
    ctx.diags.bug({}, "internal: pass '{}' failed: {}", p.name, e.what());
    return PassResult::Failed;
  }
  bool reported = ctx.diags.errorCount() > errors;
  if (result == PassResult::Failed || reported) {
    if (!reported) ctx.diags.bug({}, "pass '{}' failed without saying why", p.name);
    return PassResult::Failed;
  }
#ifndef NDEBUG
  bool verifyNow = result == PassResult::Changed;
#else
  bool verifyNow = ctx.verifyEach && result == PassResult::Changed;
#endif
  if (verifyNow && !verify(*g, ctx.diags)) {
    ctx.diags.bug({}, "the IR after pass '{}' does not verify", p.name);
    return PassResult::Failed;
  }
  if (ctx.printAfterEach) *ctx.printAfterEach << "# IR after " << p.name << "\n" << printGraph(*g);
  return result;
}

PassResult runSteps(std::unique_ptr<Graph> &g, const std::vector<std::string> &steps, PassContext &ctx);

/// `fix(p1,p2,...)`: the group again until a whole round changes nothing.
PassResult runFixedPoint(std::unique_ptr<Graph> &g, const std::string &step, PassContext &ctx) {
  std::vector<std::string> group = splitPipeline(std::string_view(step).substr(4, step.size() - 5));
  bool changed = false;
  for (int round = 0; round < kMaxFixedPointRounds; ++round) {
    PassResult r = runSteps(g, group, ctx);
    if (r == PassResult::Failed) return r;
    if (r == PassResult::Unchanged) return changed ? PassResult::Changed : PassResult::Unchanged;
    changed = true;
  }
  ctx.diags.error({}, "'{}' still changes the graph after {} rounds", step, kMaxFixedPointRounds);
  return PassResult::Failed;
}

PassResult runSteps(std::unique_ptr<Graph> &g, const std::vector<std::string> &steps, PassContext &ctx) {
  bool changed = false;
  for (const std::string &name : steps) {
    PassResult r;
    if (name.starts_with("fix(") && name.ends_with(")")) {
      r = runFixedPoint(g, name, ctx);
    } else if (const PassInfo *p = findPass(name)) {
      r = runPass(*p, g, ctx);
    } else {
      std::string known;
      for (const PassInfo &i : allPasses()) known += (known.empty() ? "" : ", ") + std::string(i.name);
      ctx.diags.error({}, "unknown pass '{}'; passes are {}", name, known);
      return PassResult::Failed;
    }
    if (r == PassResult::Failed) return r;
    changed = changed || r == PassResult::Changed;
  }
  return changed ? PassResult::Changed : PassResult::Unchanged;
}

} // namespace

bool runPipeline(std::unique_ptr<Graph> &g, const std::vector<std::string> &passes, PassContext &ctx) {
  PhaseTimer timer("pass pipeline");
  return runSteps(g, passes, ctx) != PassResult::Failed;
}

} // namespace dlc
