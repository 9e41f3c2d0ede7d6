//===- analysis/RegionPlot.cpp --------------------------------------------===//
#include "analysis/RegionPlot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

#include "support/Gnuplot.h"

namespace dlc {

namespace {

/// A light colour per piece, well spread over the hues (golden-ratio steps).
unsigned pieceColour(int64_t piece) {
  double h = std::fmod(0.11 + 0.618033988749895 * double(piece), 1.0) * 6, s = 0.45, v = 0.95;
  int i = int(h);
  double f = h - i, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  double rgb[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
  auto byte = [](double x) { return unsigned(std::lround(255 * x)); };
  return byte(rgb[i][0]) << 16 | byte(rgb[i][1]) << 8 | byte(rgb[i][2]);
}

void writePlane(const RegionCount &c, std::ostream &d, std::ostream &g, const std::string &data) {
  for (const Region &r : c.regions) {
    for (const auto &p : r.vertices) d << fmt::format("{:.17g} {:.17g} {}\n", p[0], p[1], pieceColour(r.piece));
    d << fmt::format("{:.17g} {:.17g} {}\n\n", r.vertices[0][0], r.vertices[0][1], pieceColour(r.piece));
  }
  g << fmt::format("set xrange [{}:{}]\nset yrange [{}:{}]\nset size ratio -1\n", c.box[0], c.box[1], c.box[2], c.box[3]);
  g << "set xlabel 't1'\nset ylabel 't2'\n";
  g << "plot '" << data << "' using 1:2:3 with filledcurves closed fillcolor rgb variable notitle, \\\n"
    << "     '' using 1:2 with lines lc rgb '#303030' lw 1 notitle\n";
}

void writeLine(const RegionCount &c, std::ostream &d, std::ostream &g, const std::string &data) {
  std::vector<const Region *> sorted;
  for (const Region &r : c.regions) sorted.push_back(&r);
  std::sort(sorted.begin(), sorted.end(), [](const Region *a, const Region *b) {
    return std::min(a->vertices[0][0], a->vertices[1][0]) < std::min(b->vertices[0][0], b->vertices[1][0]);
  });
  for (const Region *r : sorted)
    for (const auto &p : r->vertices) d << fmt::format("{:.17g} {:.17g}\n", p[0], r->output.at(0, p.data()));
  g << fmt::format("set xrange [{}:{}]\nset xlabel 't'\nset ylabel 'output'\n", c.box[0], c.box[1]);
  g << "plot '" << data << "' using 1:2 with lines lw 2 lc rgb '#1f5fa0' notitle, '' using 1:2 with points pt 7 ps 0.5 lc rgb '#c03020' notitle\n";
}

} // namespace

bool plotRegions(const RegionCount &count, const std::string &title, const std::string &png, std::string &error) {
  return plotWithGnuplot(png, [&](std::ostream &d, std::ostream &g, const std::string &data) {
    g << "set terminal pngcairo size 560,520 font ',10'\nset output '" << png << "'\nset title '" << title << "' noenhanced\n";
    if (count.dims == 2) writePlane(count, d, g, data);
    else writeLine(count, d, g, data);
  }, error);
}

} // namespace dlc
