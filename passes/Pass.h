//===- passes/Pass.h - The pass contract and the pass manager -------------===//
//
// A pass takes a graph and may replace it (batching and autodiff build new
// graphs; the others rebuild with rewrites). It returns whether it changed
// anything and reports problems to the context's diagnostics. Passes are
// listed once, in Passes.def, which feeds both the manager and the driver's
// --passes flag.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "ir/Diagnostics.h"
#include "ir/Graph.h"

namespace dlc {

struct PassContext {
  explicit PassContext(DiagnosticEngine &d) : diags(d) {}
  DiagnosticEngine &diags;
  /// The batch size assumed by cost models while `N` is symbolic (--batch);
  /// 0 means the train block's batch, or 64 without one.
  int64_t nominalBatch = 0;
  /// Also differentiate with respect to these inputs (by name).
  std::vector<std::string> gradInputs;
  /// Decisions that explain themselves: chain orders and their costs.
  std::vector<std::string> remarks;
  /// Verify after each pass (always in debug builds).
  bool verifyEach = false;
  /// Print the IR after each pass to this stream, if set.
  std::ostream *printAfterEach = nullptr;
};

using PassFn = bool (*)(std::unique_ptr<Graph> &g, PassContext &ctx);

struct PassInfo {
  const char *name;
  PassFn run;
  const char *description;
};

const std::vector<PassInfo> &allPasses();
const PassInfo *findPass(std::string_view name);

/// The default pipeline: batch, chain, autodiff, simplify, chain.
std::vector<std::string> defaultPipeline();
/// The pipeline of --emit=grad: batch, autodiff, simplify.
std::vector<std::string> gradPipeline();

/// Runs the named passes in order; returns false (with diagnostics) on an
/// unknown pass, a pass error or a verifier failure.
bool runPipeline(std::unique_ptr<Graph> &g, const std::vector<std::string> &passes, PassContext &ctx);

#define PASS(Name, Fn, Description) bool Fn(std::unique_ptr<Graph> &g, PassContext &ctx);
#include "passes/Passes.def"

} // namespace dlc
