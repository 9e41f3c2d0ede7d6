//===- support/Gnuplot.h - Drawing a PNG with gnuplot ----------------------===//
//
// The one place that runs gnuplot: the caller writes a data file and a
// script (which names the data file and the PNG); they are written next to
// the PNG as temporary files, gnuplot runs, and both are removed.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <functional>
#include <ostream>
#include <string>

namespace dlc {

/// Writes `png` with gnuplot. `write(data, script, dataPath)` fills the two
/// streams; false with the reason (a file that cannot be written, gnuplot
/// missing or failing).
bool plotWithGnuplot(const std::string &png,
                     const std::function<void(std::ostream &data, std::ostream &script, const std::string &dataPath)> &write,
                     std::string &error);

} // namespace dlc
