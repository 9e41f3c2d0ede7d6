//===- analysis/RegionsCommand.h - `dlc regions` as a library call --------===//
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "analysis/Regions.h"

namespace dlc {

/// What `dlc regions` was asked. Vectors are written as comma-separated
/// numbers, or eK for the K-th unit vector (1-based).
struct RegionsRequest {
  std::string modelPath;
  std::string checkpoint;          ///< params from here; empty: the initializers with `seed`
  uint64_t seed = 0;
  std::string outputName;          ///< the value to count the pieces of; empty: the first output
  std::string plane;               ///< "a;b;c": the plane through three points (box [0,1]^2)
  std::string line;                ///< "a;b": the line through two points (box [0,1])
  bool lineGiven = false;          ///< --line alone: the line of input coordinate 1
  std::string origin;              ///< with `directions`: the origin (default 0)
  std::vector<std::string> directions; ///< one (a line) or two (a plane)
  std::string box;                 ///< lo,hi (line) or x0,x1,y0,y1 (plane); empty: the default
  std::string plot;                ///< a PNG to draw the regions to
};

struct RegionsResult {
  std::unique_ptr<Graph> graph;
  std::optional<AffineNet> net;
  Plane plane;
  RegionCount count;
  std::string report; ///< what `dlc regions` prints
};

/// Reads the model and its params, counts, writes the plot if asked. False,
/// with the reason (the rendered diagnostics for a bad .net), on any error.
bool runRegions(const RegionsRequest &request, RegionsResult &result, std::string &error);

/// The report of a count: regions, pieces, the first layer's folds and, for
/// one hidden layer, 1 + L + I and r(N, m).
std::string describeCount(const RegionCount &count, const std::string &where);

} // namespace dlc
