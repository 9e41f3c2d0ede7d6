//===- passes/Pass.h - The pass contract and the pass manager -------------===//
//
// A pass takes a graph and may replace it: batching and autodiff build new
// graphs; simplify, chain and dce rebuild or edit it. It returns a
// PassResult: Changed, Unchanged (the graph means what it meant before; it
// may have been rebuilt, but into an identical graph) or Failed (with an
// error in the context's diagnostics). Passes are listed once, in
// Passes.def, which feeds both the manager and the driver's --passes flag.
//
// The manager runs a pipeline in order and stops at the first failure. It
// verifies a pass's output only when the pass changed the graph (with
// --verify-each, and always in debug builds), since an unchanged graph is
// one that was already checked. A pipeline step may be a group run to a
// fixed point: `fix(simplify,chain)` repeats its passes until a whole round
// changes nothing (at most kMaxFixedPointRounds rounds).
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "ir/Diagnostics.h"
#include "ir/Graph.h"

namespace dlc {

enum class PassResult { Unchanged, Changed, Failed };

/// A named counter a pass bumps (`simplify.mul-one`), shown by `dlc --pass-stats`.
struct PassStatistic {
  std::string pass, name;
  uint64_t count = 0;
};

struct PassContext {
  explicit PassContext(DiagnosticEngine &d) : diags(d) {}
  DiagnosticEngine &diags;
  /// The batch size assumed by cost models while `N` is symbolic (--batch);
  /// 0 means the train block's batch, or 64 without one.
  int64_t nominalBatch = 0;
  /// Also differentiate with respect to these inputs (by name).
  std::vector<std::string> gradInputs;
  /// How jacobian(y, x) multiplies its chain: "auto" (the cheapest),
  /// "forward", "reverse" or "mixed" (--jacobian-mode).
  std::string jacobianMode = "auto";
  /// Decisions that explain themselves: chain orders and their costs.
  std::vector<std::string> remarks;
  /// Counters summed over the whole pipeline, in the order first bumped.
  std::vector<PassStatistic> stats;
  /// Verify after each pass that changed the graph (always in debug builds).
  bool verifyEach = false;
  /// Print the IR after each pass to this stream, if set.
  std::ostream *printAfterEach = nullptr;

  /// Adds `n` to the counter `pass`.`name` (creating it at zero).
  void addStat(std::string_view pass, std::string_view name, uint64_t n = 1);
  /// The counter's value, 0 if it was never bumped.
  uint64_t stat(std::string_view pass, std::string_view name) const;
};

using PassFn = PassResult (*)(std::unique_ptr<Graph> &g, PassContext &ctx);

struct PassInfo {
  const char *name;
  PassFn run;
  const char *description;
};

const std::vector<PassInfo> &allPasses();
const PassInfo *findPass(std::string_view name);

/// The default pipeline: stabilize, derive, batch, chain, autodiff, modes, simplify, chain.
std::vector<std::string> defaultPipeline();
/// The pipeline of --emit=grad: stabilize, derive, batch, autodiff, modes, simplify.
std::vector<std::string> gradPipeline();

/// The most rounds a `fix(...)` group runs before it is an error.
constexpr int kMaxFixedPointRounds = 32;

/// Runs the named passes in order (a step may be `fix(p1,p2,...)`, see
/// above); returns false, with a diagnostic, on an unknown pass, a failed
/// pass, a verifier failure or a group that does not converge.
bool runPipeline(std::unique_ptr<Graph> &g, const std::vector<std::string> &passes, PassContext &ctx);

/// Splits a --passes list at the commas outside parentheses:
/// "batch,fix(simplify,chain)" -> {"batch", "fix(simplify,chain)"}.
std::vector<std::string> splitPipeline(std::string_view list);

/// The statistics as text, one `pass.name: count` line each ("" if none).
std::string formatStats(const PassContext &ctx);

#define PASS(Name, Fn, Description) PassResult Fn(std::unique_ptr<Graph> &g, PassContext &ctx);
#include "passes/Passes.def"

} // namespace dlc
