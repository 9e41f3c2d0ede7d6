//===- analysis/ParamValues.h - A model's params, without compiling it ----===//
//
// The analyses read a network from its IR and need numbers for its params:
// either the values a compiled model starts from (the initializers drawn from
// the runtime's seeded random stream, so `--seed 3` here is the network
// `dlc train --seed 3` starts with), or the values a checkpoint holds.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "ir/Graph.h"
#include "ir/Interpreter.h"

namespace dlc {

using ParamValues = std::map<std::string, Tensor>;

/// Every param of `g` from its initializer (runtime/Initializers.def), drawn
/// in graph order from the splitmix64 stream that model_runtime.c uses,
/// rounded to float as a compiled model stores them.
ParamValues initialParams(const Graph &g, uint64_t seed);

/// Replaces the params of `g` in `values` with those of a safetensors
/// checkpoint written by a compiled model (save / --checkpoint). False, with
/// the reason, for an unreadable file, a bad header, or a param that is
/// missing or has another dtype or shape.
bool readCheckpointParams(const Graph &g, const std::string &path, ParamValues &values, std::string &error);

} // namespace dlc
