//===- analysis/RegionsCommand.cpp ----------------------------------------===//
#include "analysis/RegionsCommand.h"

#include <cmath>

#include <fmt/format.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/Support/MemoryBuffer.h>

#include "analysis/RegionPlot.h"
#include "frontend/IRGen.h"

namespace dlc {

namespace {

/// "1,2.5,-3" or "e2" (the unit vector along coordinate 2) as `size` numbers.
bool parseVector(const std::string &text, int64_t size, const char *what, std::vector<double> &out, std::string &error) {
  llvm::StringRef s = llvm::StringRef(text).trim();
  out.clear();
  unsigned k = 0;
  if (s.starts_with("e") && !s.drop_front().getAsInteger(10, k)) {
    if (k < 1 || int64_t(k) > size) {
      error = fmt::format("{} '{}': the input has coordinates e1 .. e{}", what, text, size);
      return false;
    }
    out.assign(size_t(size), 0.0);
    out[k - 1] = 1;
    return true;
  }
  llvm::SmallVector<llvm::StringRef> parts;
  s.split(parts, ',');
  for (llvm::StringRef p : parts) {
    double v;
    if (p.trim().getAsDouble(v)) {
      error = fmt::format("{} '{}': '{}' is not a number", what, text, p.trim().str());
      return false;
    }
    out.push_back(v);
  }
  if (int64_t(out.size()) != size && what != std::string("--box")) {
    error = fmt::format("{} '{}' has {} numbers, but the input has {} coordinates", what, text, out.size(), size);
    return false;
  }
  return true;
}

/// The plane (or line) and, when the request fixes it, the box.
bool planeOf(const RegionsRequest &r, int64_t size, Plane &plane, std::vector<double> &box, std::string &error) {
  std::vector<double> v;
  llvm::SmallVector<llvm::StringRef> points;
  llvm::StringRef(r.plane.empty() ? r.line : r.plane).split(points, ';');
  if (!r.plane.empty() || !r.line.empty()) {
    const char *flag = r.plane.empty() ? "--line" : "--plane";
    if (!r.plane.empty() && r.lineGiven) {
      error = "--plane and --line do not combine";
      return false;
    }
    if (points.size() != (r.plane.empty() ? 2u : 3u)) {
      error = fmt::format("{} takes {} points separated by ';', got {}", flag, r.plane.empty() ? 2 : 3, points.size());
      return false;
    }
    if (!r.directions.empty() || !r.origin.empty()) {
      error = fmt::format("{} through points does not combine with --origin or --dir", flag);
      return false;
    }
    for (size_t i = 0; i < points.size(); ++i) {
      if (!parseVector(points[i].str(), size, flag, v, error)) return false;
      if (i == 0) plane.origin = v;
      else {
        for (size_t j = 0; j < v.size(); ++j) v[j] -= plane.origin[j];
        plane.directions.push_back(v);
      }
    }
    box = plane.dims() == 1 ? std::vector<double>{0, 1} : std::vector<double>{0, 1, 0, 1};
  } else if (!r.directions.empty()) {
    if (r.directions.size() > 2) {
      error = "--dir is given once (a line) or twice (a plane)";
      return false;
    }
    plane.origin.assign(size_t(size), 0.0);
    if (!r.origin.empty() && !parseVector(r.origin, size, "--origin", plane.origin, error)) return false;
    for (const std::string &d : r.directions) {
      if (!parseVector(d, size, "--dir", v, error)) return false;
      plane.directions.push_back(v);
    }
  } else {
    plane.origin.assign(size_t(size), 0.0);
    if (!r.origin.empty() && !parseVector(r.origin, size, "--origin", plane.origin, error)) return false;
    for (int k = 0; k < (r.lineGiven || size == 1 ? 1 : 2); ++k) {
      parseVector("e" + std::to_string(k + 1), size, "--dir", v, error);
      plane.directions.push_back(v);
    }
  }
  for (const auto &d : plane.directions) {
    double norm = 0;
    for (double x : d) norm += x * x;
    if (norm == 0) {
      error = "the points or directions do not span a line or plane (a direction is zero)";
      return false;
    }
  }
  if (!r.box.empty() && !parseVector(r.box, 0, "--box", box, error)) return false;
  return true;
}

std::string planeName(const RegionsRequest &r, const Plane &p) {
  if (!r.plane.empty() || !r.line.empty())
    return fmt::format("the {} through {}", p.dims() == 1 ? "line" : "plane", r.plane.empty() ? r.line : r.plane);
  if (!r.directions.empty()) return fmt::format("the {} along {}", p.dims() == 1 ? "line" : "plane",
                                                fmt::join(r.directions, " and "));
  return p.dims() == 1 ? "the line of input coordinate 1" : "the plane of input coordinates 1 and 2";
}

} // namespace

std::string describeCount(const RegionCount &c, const std::string &where) {
  std::string box = c.dims == 1 ? fmt::format("[{:.4g}, {:.4g}]", c.box[0], c.box[1])
                                : fmt::format("[{:.4g}, {:.4g}] x [{:.4g}, {:.4g}]", c.box[0], c.box[1], c.box[2], c.box[3]);
  std::string out = fmt::format("{}, box {}: {} hidden layer{}, {} ReLU units\n", where, box, c.hiddenLayers,
                                c.hiddenLayers == 1 ? "" : "s", c.neurons);
  out += fmt::format("activation regions: {}\n", c.regions.size());
  out += fmt::format("maximal affine pieces: {} (neighbouring regions with one affine map merged)\n", c.pieces);
  if (c.hiddenLayers == 0) return out;
  const FoldReport &f = c.firstLayer;
  out += fmt::format("first layer: {} folds, {} cross the box", f.neurons, f.crossingBox);
  if (c.dims == 2) out += fmt::format(", {} crossings inside it", f.crossingsInside);
  if (c.dims == 2 && f.crossingPoints < f.crossingsInside)
    out += fmt::format(" (at {} points; k folds through one point count k - 1)", f.crossingPoints);
  out += "\n";
  if (c.hiddenLayers == 1) {
    out += fmt::format("one hidden layer: 1 + L + I = 1 + {} + {} = {}; ", f.crossingBox, f.crossingsInside,
                       1 + f.crossingBox + f.crossingsInside);
    out += c.dims == 2 ? fmt::format("r(N, 2) = 1 + N + C(N, 2) = {} for N = {}\n", maxRegionsOneLayer(f.neurons, 2), f.neurons)
                       : fmt::format("r(N, 1) = 1 + N = {} for N = {}\n", maxRegionsOneLayer(f.neurons, 1), f.neurons);
  }
  return out;
}

bool runRegions(const RegionsRequest &r, RegionsResult &result, std::string &error) {
  auto buffer = llvm::MemoryBuffer::getFile(r.modelPath);
  if (!buffer) {
    error = r.modelPath + ": cannot read file: " + buffer.getError().message();
    return false;
  }
  auto file = std::make_shared<SourceFile>();
  file->name = r.modelPath;
  file->text = (*buffer)->getBuffer().str();
  DiagnosticEngine diags;
  result.graph = compileNet(file, diags);
  if (!result.graph) {
    error = renderDiagnostics(diags);
    return false;
  }
  ParamValues params = initialParams(*result.graph, r.seed);
  if (!r.checkpoint.empty() && !readCheckpointParams(*result.graph, r.checkpoint, params, error)) return false;
  result.net = AffineNet::fromGraph(*result.graph, params, r.outputName, error);
  if (!result.net) return false;
  std::vector<double> box;
  if (!planeOf(r, result.net->inputSize(), result.plane, box, error)) return false;
  if (box.empty()) box = defaultBox(*result.net, result.plane);
  auto count = countRegions(*result.net, result.plane, box, error);
  if (!count) return false;
  result.count = std::move(*count);
  std::string params_ = r.checkpoint.empty() ? fmt::format("initial params (seed {})", r.seed) : "params of " + r.checkpoint;
  std::string where = fmt::format("{} of {} with {}, on {}", result.net->output()->name.empty() ? "output" : "'" + result.net->output()->name + "'",
                                  r.modelPath, params_, planeName(r, result.plane));
  result.report = (result.net->outputNote().empty() ? "" : result.net->outputNote() + "\n") + describeCount(result.count, where);
  if (!r.plot.empty()) {
    std::string title = fmt::format("{}: {} regions, {} pieces", llvm::StringRef(r.modelPath).rsplit('/').second.empty()
                                                                     ? r.modelPath : llvm::StringRef(r.modelPath).rsplit('/').second.str(),
                                    result.count.regions.size(), result.count.pieces);
    if (!plotRegions(result.count, title, r.plot, error)) return false;
    result.report += "regions drawn to " + r.plot + "\n";
  }
  return true;
}

} // namespace dlc
