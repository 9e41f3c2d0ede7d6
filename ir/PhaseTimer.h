//===- ir/PhaseTimer.h - dlc's compile phases under -time-passes ----------===//
//
// `dlc -time-passes` prints LLVM's pass timings and, in a group of its own,
// the time of each of dlc's phases (front end, pass pipeline, lowering,
// optimization, code generation, the compile cache). A PhaseTimer times the
// scope it lives in; it costs nothing when -time-passes is off.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <llvm/Pass.h>
#include <llvm/Support/Timer.h>

namespace dlc {

class PhaseTimer {
public:
  /// Times the enclosing scope as `phase` (a short name) in the group "dlc".
  explicit PhaseTimer(llvm::StringRef phase)
      : timer_(phase, phase, "dlc", "dlc's compile phases", llvm::TimePassesIsEnabled) {}

private:
  llvm::NamedRegionTimer timer_;
};

} // namespace dlc
