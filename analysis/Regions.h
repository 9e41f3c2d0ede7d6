//===- analysis/Regions.h - The linear pieces of a ReLU network, exactly --===//
//
// On a line or plane through input space a ReLU network is continuous and
// piecewise linear. countRegions finds its pieces exactly, in float64: it
// starts from the box, and at each ReLU step splits every region along each
// unit's fold (where that unit's pre-activation, affine on the region,
// changes sign), layer by layer. It counts two things:
//
//  - activation regions: the sets of inputs with one activation pattern
//    (which units are on); each is a convex polygon (an interval on a line);
//  - maximal affine pieces: connected unions of neighbouring regions on
//    which the output is one affine map (neighbours whose maps agree, e.g.
//    where a unit switches off that the output ignores, merge).
//
// Pieces never outnumber regions. For one hidden layer of N units in m = 2
// dimensions the regions are those of an arrangement of N lines: 1 + L + I
// inside a box crossed by L folds with I crossings inside, at most
// r(N, 2) = 1 + N + C(N, 2).
//
//===----------------------------------------------------------------------===//
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "analysis/AffineNet.h"

namespace dlc {

struct Region {
  /// A convex polygon, counter-clockwise (on a line: the interval's two ends, y = 0).
  std::vector<std::array<double, 2>> vertices;
  /// Each ReLU unit's state (true: on), in step order.
  std::vector<bool> pattern;
  /// The network's output on this region.
  AffineTensor output;
  /// The maximal affine piece the region belongs to (0 .. pieces - 1).
  int64_t piece = 0;
  /// Area (length on a line).
  double measure() const;
  /// A point inside (the vertices' mean).
  std::array<double, 2> interiorPoint() const;
};

/// The first hidden layer's folds against the box.
struct FoldReport {
  int64_t neurons = 0;         ///< units of the first ReLU step
  int64_t crossingBox = 0;     ///< folds that cross the box's interior
  /// Crossings inside the box (planes only), k folds through one point
  /// counting k - 1: in general position, the pairs of folds crossing inside.
  int64_t crossingsInside = 0;
  int64_t crossingPoints = 0; ///< distinct points where folds cross inside the box
};

struct RegionCount {
  int dims = 2;                  ///< 1: a line, 2: a plane
  std::vector<double> box;       ///< lo0, hi0 (, lo1, hi1) in plane coordinates
  std::vector<Region> regions;   ///< the activation regions
  int64_t pieces = 0;            ///< maximal affine pieces
  int64_t hiddenLayers = 0;      ///< ReLU steps
  int64_t neurons = 0;           ///< ReLU units in all
  FoldReport firstLayer;
};

/// r(N, m) = C(N, 0) + ... + C(N, m): the most regions N folds (hyperplanes)
/// cut m-dimensional space into.
int64_t maxRegionsOneLayer(int64_t neurons, int m);

/// The default box: every crossing of the first ReLU step's folds (on a
/// line: every fold), the origin and each fold's point nearest to it, with a
/// margin of a tenth of the extent. [-1, 1]^m when there is no ReLU.
std::vector<double> defaultBox(const AffineNet &net, const Plane &plane);

/// Counts the regions and pieces of `net` on `plane` inside `box`; false
/// (with the reason) for a malformed plane or box.
std::optional<RegionCount> countRegions(const AffineNet &net, const Plane &plane, const std::vector<double> &box,
                                        std::string &error);

} // namespace dlc
