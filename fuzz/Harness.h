//===- fuzz/Harness.h - What each fuzz target checks on one input ---------===//
//
// The four fuzz targets (libFuzzer, fuzz/FuzzMain.cpp) and the regression
// replay of the unit tests (tests/unit/FuzzRegressionTest.cpp) run the same
// checks: each takes one input, runs a stage of dlc on it, and returns what
// broke (an empty string when every invariant held). A crash, a sanitizer
// report or a hang is a finding too; the fuzz driver catches those.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dlc::fuzz {

/// Inputs longer than this are accepted as-is by the checks but skipped:
/// the targets look for wrong behaviour, not for slow large inputs.
inline constexpr size_t kMaxInput = 64 * 1024;

/// .net text through parsing, name and shape checks and IR generation: a
/// graph xor errors; an accepted graph verifies and its IR text parses back
/// to the same text; diagnostics are printable text (no raw control bytes).
std::string checkNetFrontEnd(std::string_view input);

/// IR text through the IR reader: a graph xor errors; an accepted graph
/// verifies and prints back to text that reads back to the same text.
std::string checkIRReader(std::string_view input);

/// .net text (or IR text, when it starts with `graph`) through the whole
/// pipeline: front end, the default passes with the verifier after each,
/// arena layout and lowering to LLVM IR, which must pass LLVM's verifier.
/// No stage may call its own failure a compiler bug.
std::string checkPipeline(std::string_view input);

/// Bytes as a checkpoint file given to `load` of a small fixed model: a
/// failed load changes nothing (the model saves the same bytes as before);
/// an accepted one saves a checkpoint that reloads identically.
std::string checkCheckpointLoad(std::string_view input);

struct Target {
  const char *name; ///< the folder name under fuzz/corpus and fuzz/regressions
  std::string (*check)(std::string_view);
};
/// The four targets, in a fixed order.
const std::vector<Target> &targets();

} // namespace dlc::fuzz
