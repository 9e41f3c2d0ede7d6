//===- analysis/Regions.cpp -----------------------------------------------===//
#include "analysis/Regions.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace dlc {

namespace {

using Point = std::array<double, 2>;
using Polygon = std::vector<Point>;

/// A region while the steps run: its polygon, pattern so far, and the
/// affine value of every step done.
struct Work {
  Polygon polygon;
  std::vector<bool> pattern;
  std::vector<AffineTensor> values;
};

double zAt(const AffineTensor &z, int64_t e, const Point &p) { return z.at(e, p.data()); }

/// Splits a convex polygon (m = 2) or interval (m = 1) by the sign of unit
/// e of z. Vertices within a relative 1e-10 of the fold count as on it.
/// Returns +1 (all on the positive side), -1 (all negative) or 0 (split
/// into `pos` and `neg`).
int split(const Polygon &poly, const AffineTensor &z, int64_t e, int m, Polygon &pos, Polygon &neg) {
  std::vector<double> v(poly.size());
  double scale = 0;
  for (size_t i = 0; i < poly.size(); ++i) {
    v[i] = zAt(z, e, poly[i]);
    scale = std::max(scale, std::fabs(v[i]));
  }
  const double tol = 1e-10 * scale;
  std::vector<int> s(v.size());
  bool anyPos = false, anyNeg = false;
  for (size_t i = 0; i < v.size(); ++i) {
    s[i] = v[i] > tol ? 1 : v[i] < -tol ? -1 : 0;
    anyPos |= s[i] > 0;
    anyNeg |= s[i] < 0;
  }
  if (!anyNeg) return anyPos ? 1 : -1; // a unit that is 0 on the whole region is off
  if (!anyPos) return -1;
  pos.clear();
  neg.clear();
  auto cut = [&](size_t i, size_t j) {
    double a = v[i] / (v[i] - v[j]);
    return Point{poly[i][0] + a * (poly[j][0] - poly[i][0]), poly[i][1] + a * (poly[j][1] - poly[i][1])};
  };
  if (m == 1) { // an interval [poly[0], poly[1]]
    Point c = cut(0, 1);
    Polygon left{poly[0], c}, right{c, poly[1]};
    pos = s[0] > 0 ? left : right;
    neg = s[0] > 0 ? right : left;
    return 0;
  }
  for (size_t i = 0; i < poly.size(); ++i) {
    size_t j = (i + 1) % poly.size();
    if (s[i] >= 0) pos.push_back(poly[i]);
    if (s[i] <= 0) neg.push_back(poly[i]);
    if (s[i] * s[j] < 0) {
      Point c = cut(i, j);
      pos.push_back(c);
      neg.push_back(c);
    }
  }
  return 0;
}

/// Splits every region along each fold of ReLU step `step`, then sets the
/// step's value (the operand with the off units' rows zeroed).
std::vector<Work> splitAtRelu(std::vector<Work> regions, size_t step, int operand, int m) {
  for (Work &w : regions) w.values.push_back(w.values[size_t(operand)]);
  const int64_t units = regions.empty() ? 0 : regions[0].values.back().size();
  for (int64_t e = 0; e < units; ++e) {
    std::vector<Work> next;
    next.reserve(regions.size());
    for (Work &w : regions) {
      Polygon pos, neg;
      int side = split(w.polygon, w.values[size_t(operand)], e, m, pos, neg);
      auto finish = [&](Work r, bool on) {
        r.pattern.push_back(on);
        if (!on)
          for (int k = 0; k <= m; ++k) r.values[step].rows[size_t(e * (m + 1) + k)] = 0;
        next.push_back(std::move(r));
      };
      if (side != 0) {
        finish(std::move(w), side > 0);
        continue;
      }
      Work other = w;
      other.polygon = std::move(neg);
      w.polygon = std::move(pos);
      finish(std::move(w), true);
      finish(std::move(other), false);
    }
    regions = std::move(next);
  }
  return regions;
}

Polygon boxPolygon(const std::vector<double> &box, int m) {
  if (m == 1) return {{box[0], 0}, {box[1], 0}};
  return {{box[0], box[2]}, {box[1], box[2]}, {box[1], box[3]}, {box[0], box[3]}};
}

/// The folds of the first ReLU step against the box. Crossings inside it
/// are counted as Euler's formula for line arrangements needs them: k folds
/// through one point count k - 1 (1 for each point in general position).
FoldReport reportFolds(const AffineTensor &z, const std::vector<double> &box, int m) {
  FoldReport r;
  r.neurons = z.size();
  Polygon poly = boxPolygon(box, m), pos, neg;
  for (int64_t e = 0; e < z.size(); ++e) r.crossingBox += split(poly, z, e, m, pos, neg) == 0;
  if (m != 2) return r;
  struct Crossing { double x, y; int64_t i, j; };
  std::vector<Crossing> inside;
  for (int64_t i = 0; i < z.size(); ++i)
    for (int64_t j = i + 1; j < z.size(); ++j) {
      double a = z.slope(i, 0), b = z.slope(i, 1), c = z.slope(j, 0), d = z.slope(j, 1);
      double det = a * d - b * c;
      if (std::fabs(det) < 1e-14 * (std::fabs(a * d) + std::fabs(b * c))) continue;
      double x = (-z.offset(i) * d + b * z.offset(j)) / det, y = (-a * z.offset(j) + c * z.offset(i)) / det;
      if (x > box[0] && x < box[1] && y > box[2] && y < box[3]) inside.push_back({x, y, i, j});
    }
  std::sort(inside.begin(), inside.end(), [](const Crossing &p, const Crossing &q) { return p.x < q.x; });
  const double tol = 1e-9 * (box[1] - box[0] + box[3] - box[2]);
  std::vector<bool> grouped(inside.size(), false);
  for (size_t p = 0; p < inside.size(); ++p) {
    if (grouped[p]) continue;
    std::vector<int64_t> lines{inside[p].i, inside[p].j};
    for (size_t q = p + 1; q < inside.size() && inside[q].x - inside[p].x <= tol; ++q)
      if (!grouped[q] && std::fabs(inside[q].y - inside[p].y) <= tol) {
        grouped[q] = true;
        lines.push_back(inside[q].i);
        lines.push_back(inside[q].j);
      }
    std::sort(lines.begin(), lines.end());
    r.crossingsInside += int64_t(std::unique(lines.begin(), lines.end()) - lines.begin()) - 1;
    ++r.crossingPoints;
  }
  return r;
}

bool sameMap(const AffineTensor &a, const AffineTensor &b) {
  double scale = 0;
  for (size_t i = 0; i < a.rows.size(); ++i) scale = std::max({scale, std::fabs(a.rows[i]), std::fabs(b.rows[i])});
  for (size_t i = 0; i < a.rows.size(); ++i)
    if (std::fabs(a.rows[i] - b.rows[i]) > 1e-9 * (1 + scale)) return false;
  return true;
}

/// True when two convex polygons share a piece of boundary of positive length.
bool shareEdge(const Polygon &p, const Polygon &q, double tol) {
  for (size_t i = 0; i < p.size(); ++i) {
    const Point &a = p[i], &b = p[(i + 1) % p.size()];
    double dx = b[0] - a[0], dy = b[1] - a[1], len = std::hypot(dx, dy);
    if (len <= tol) continue;
    for (size_t j = 0; j < q.size(); ++j) {
      const Point &c = q[j], &d = q[(j + 1) % q.size()];
      auto offLine = [&](const Point &r) { return std::fabs(dx * (r[1] - a[1]) - dy * (r[0] - a[0])) / len; };
      if (offLine(c) > tol || offLine(d) > tol) continue;
      double tc = (dx * (c[0] - a[0]) + dy * (c[1] - a[1])) / len, td = (dx * (d[0] - a[0]) + dy * (d[1] - a[1])) / len;
      if (std::min(len, std::max(tc, td)) - std::max(0.0, std::min(tc, td)) > tol) return true;
    }
  }
  return false;
}

int64_t findRoot(std::vector<int64_t> &parent, int64_t i) {
  while (parent[size_t(i)] != i) i = parent[size_t(i)] = parent[size_t(parent[size_t(i)])];
  return i;
}

/// Unites neighbouring regions with the same output map; numbers the pieces.
int64_t mergePieces(std::vector<Region> &regions, const std::vector<double> &box, int m) {
  std::vector<int64_t> parent(regions.size());
  std::iota(parent.begin(), parent.end(), 0);
  double tol = 1e-9 * (box[1] - box[0] + (m == 2 ? box[3] - box[2] : 0));
  struct Bounds { double x0, x1, y0, y1; };
  std::vector<Bounds> bounds;
  for (const Region &r : regions) {
    Bounds b{INFINITY, -INFINITY, INFINITY, -INFINITY};
    for (const Point &p : r.vertices)
      b = {std::min(b.x0, p[0]), std::max(b.x1, p[0]), std::min(b.y0, p[1]), std::max(b.y1, p[1])};
    bounds.push_back(b);
  }
  std::vector<size_t> order(regions.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return bounds[a].x0 < bounds[b].x0; });
  for (size_t oi = 0; oi < order.size(); ++oi)
    for (size_t oj = oi + 1; oj < order.size() && bounds[order[oj]].x0 <= bounds[order[oi]].x1 + tol; ++oj) {
      size_t i = order[oi], j = order[oj];
      if (bounds[j].y0 > bounds[i].y1 + tol || bounds[i].y0 > bounds[j].y1 + tol) continue;
      if (findRoot(parent, int64_t(i)) == findRoot(parent, int64_t(j))) continue;
      if (!sameMap(regions[i].output, regions[j].output)) continue;
      bool touch = m == 1 ? std::fabs(bounds[i].x1 - bounds[j].x0) <= tol || std::fabs(bounds[j].x1 - bounds[i].x0) <= tol
                          : shareEdge(regions[i].vertices, regions[j].vertices, tol);
      if (touch) parent[size_t(findRoot(parent, int64_t(i)))] = findRoot(parent, int64_t(j));
    }
  std::vector<int64_t> id(regions.size(), -1);
  int64_t pieces = 0;
  for (size_t i = 0; i < regions.size(); ++i) {
    int64_t root = findRoot(parent, int64_t(i));
    if (id[size_t(root)] < 0) id[size_t(root)] = pieces++;
    regions[i].piece = id[size_t(root)];
  }
  return pieces;
}

/// The first ReLU step's operand on the plane (no region split before it).
std::optional<AffineTensor> firstPreActivation(const AffineNet &net, const Plane &plane) {
  std::vector<AffineTensor> values;
  for (size_t s = 0; s < net.steps().size(); ++s) {
    const AffineNet::Step &step = net.steps()[s];
    if (step.isRelu()) return values[size_t(step.operands[0])];
    values.push_back(step.node->kind == OpKind::Input ? net.inputValue(plane) : net.apply(s, values));
  }
  return std::nullopt;
}

} // namespace

double Region::measure() const {
  if (vertices.size() == 2 && vertices[0][1] == 0 && vertices[1][1] == 0) return std::fabs(vertices[1][0] - vertices[0][0]);
  double a = 0;
  for (size_t i = 0; i < vertices.size(); ++i) {
    const Point &p = vertices[i], &q = vertices[(i + 1) % vertices.size()];
    a += p[0] * q[1] - q[0] * p[1];
  }
  return std::fabs(a) / 2;
}

std::array<double, 2> Region::interiorPoint() const {
  Point c{0, 0};
  for (const Point &p : vertices) c = {c[0] + p[0] / double(vertices.size()), c[1] + p[1] / double(vertices.size())};
  return c;
}

int64_t maxRegionsOneLayer(int64_t neurons, int m) {
  int64_t total = 0, binom = 1;
  for (int i = 0; i <= m && i <= neurons; ++i) {
    total += binom;
    binom = binom * (neurons - i) / (i + 1);
  }
  return total;
}

std::vector<double> defaultBox(const AffineNet &net, const Plane &plane) {
  const int m = plane.dims();
  std::optional<AffineTensor> z = firstPreActivation(net, plane);
  std::vector<Point> points{{0, 0}};
  for (int64_t i = 0; z && i < z->size(); ++i) {
    double a = z->slope(i, 0), b = m == 2 ? z->slope(i, 1) : 0, norm2 = a * a + b * b;
    if (norm2 == 0) continue;
    points.push_back({-z->offset(i) * a / norm2, -z->offset(i) * b / norm2}); // the fold's point nearest 0
    for (int64_t j = i + 1; m == 2 && j < z->size(); ++j) {
      double c = z->slope(j, 0), d = z->slope(j, 1), det = a * d - b * c;
      if (std::fabs(det) < 1e-12 * (std::fabs(a * d) + std::fabs(b * c))) continue;
      points.push_back({(-z->offset(i) * d + b * z->offset(j)) / det, (-a * z->offset(j) + c * z->offset(i)) / det});
    }
  }
  if (points.size() == 1) return m == 1 ? std::vector<double>{-1, 1} : std::vector<double>{-1, 1, -1, 1};
  std::vector<double> box;
  for (int k = 0; k < m; ++k) {
    double lo = INFINITY, hi = -INFINITY;
    for (const Point &p : points) lo = std::min(lo, p[size_t(k)]), hi = std::max(hi, p[size_t(k)]);
    double margin = std::max(0.1 * (hi - lo), 1e-3);
    box.push_back(lo - margin);
    box.push_back(hi + margin);
  }
  return box;
}

std::optional<RegionCount> countRegions(const AffineNet &net, const Plane &plane, const std::vector<double> &box,
                                        std::string &error) {
  const int m = plane.dims();
  if (m != 1 && m != 2) {
    error = "regions needs a line (one direction) or a plane (two)";
    return std::nullopt;
  }
  bool sized = int64_t(plane.origin.size()) == net.inputSize();
  for (const auto &d : plane.directions) sized = sized && int64_t(d.size()) == net.inputSize();
  if (!sized) {
    error = "the points and directions need " + std::to_string(net.inputSize()) + " coordinates (the input's size)";
    return std::nullopt;
  }
  if (int(box.size()) != 2 * m || box[0] >= box[1] || (m == 2 && box[2] >= box[3])) {
    error = m == 1 ? "the box of a line is lo,hi with lo < hi" : "the box of a plane is x0,x1,y0,y1 with x0 < x1 and y0 < y1";
    return std::nullopt;
  }
  RegionCount out;
  out.dims = m;
  out.box = box;
  std::vector<Work> regions(1);
  regions[0].polygon = boxPolygon(box, m);
  for (size_t s = 0; s < net.steps().size(); ++s) {
    const AffineNet::Step &step = net.steps()[s];
    if (step.isRelu()) {
      if (out.hiddenLayers++ == 0) out.firstLayer = reportFolds(regions[0].values[size_t(step.operands[0])], box, m);
      regions = splitAtRelu(std::move(regions), s, step.operands[0], m);
      out.neurons += regions[0].values.back().size();
      continue;
    }
    for (Work &w : regions)
      w.values.push_back(step.node->kind == OpKind::Input ? net.inputValue(plane) : net.apply(s, w.values));
  }
  for (Work &w : regions) {
    Region r;
    r.vertices = std::move(w.polygon);
    r.pattern = std::move(w.pattern);
    r.output = std::move(w.values.back());
    out.regions.push_back(std::move(r));
  }
  out.pieces = mergePieces(out.regions, box, m);
  return out;
}

} // namespace dlc
