//===- analysis/RegionPlot.h - Pictures of a network's linear pieces ------===//
#pragma once

#include <string>

#include "analysis/Regions.h"

namespace dlc {

/// Draws the regions to a PNG with gnuplot (which must be installed): on a
/// plane each activation region filled in the colour of its affine piece,
/// the folds drawn; on a line the first output along it, with a mark at each
/// break. False, with the reason, if the files cannot be written or gnuplot fails.
bool plotRegions(const RegionCount &count, const std::string &title, const std::string &png, std::string &error);

} // namespace dlc
