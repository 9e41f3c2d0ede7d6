//===- examples/science/quadratic_paths.cpp - Zig-zag against the heavy ball ===//
//
// f(x, y) = x^2 + b y^2 (examples/quadratic.net, b = 0.01) from (b, 1), every
// gradient from the dlc-compiled loss_and_grad / train_step:
//  - steepest descent with exact line search (s = g.g / g.Hg; Hg from two
//    gradients, exact for a quadratic) zig-zags, f falling by
//    ((1 - b) / (1 + b))^2 = 0.96 per step;
//  - the heavy ball with the optimal s = 2 / (1 + sqrt b)^2 and
//    beta = ((1 - sqrt b) / (1 + sqrt b))^2 runs down the valley, f falling
//    by about beta = 0.67 per step.
// Prints two blocks of "step x y f" (gnuplot's index 0 and 1).
//
//===----------------------------------------------------------------------===//
#include <cmath>
#include <cstdio>
#include <span>

#include "dlc/dlc.hpp"

namespace {

struct Quadratic {
  dlc::Model &m;
  void set(double x, double y) {
    float fx = float(x), fy = float(y);
    m.setParam("x", std::span<const float>(&fx, 1));
    m.setParam("y", std::span<const float>(&fy, 1));
  }
  double at(double x, double y, double &gx, double &gy) {
    set(x, y);
    float loss = 0, fx = 0, fy = 0;
    m.lossAndGrad(1, {}, {}, &loss);
    m.getGrad("x", std::span<float>(&fx, 1));
    m.getGrad("y", std::span<float>(&fy, 1));
    gx = fx, gy = fy;
    return loss;
  }
};

} // namespace

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : DLC_EXAMPLES_DIR "/quadratic.net";
  const int steps = argc > 2 ? std::atoi(argv[2]) : 40;
  const double b = 0.01;
  dlc::CompileResult r = dlc::compileFile(path), hb = dlc::compileFile(path);
  if (!r || !hb) {
    std::fprintf(stderr, "%s", r.rendered.c_str());
    return 1;
  }
  Quadratic q{*r.model};
  double x = b, y = 1, gx, gy, hx, hy;
  std::printf("# steepest descent, exact line search\n# step x y f\n");
  for (int k = 0; k <= steps; ++k) {
    double f = q.at(x, y, gx, gy);
    std::printf("%d %.9g %.9g %.9g\n", k, x, y, f);
    q.at(x - gx, y - gy, hx, hy);
    double Hgx = gx - hx, Hgy = gy - hy, s = (gx * gx + gy * gy) / (gx * Hgx + gy * Hgy);
    x -= s * gx, y -= s * gy;
  }
  double s = 2 / std::pow(1 + std::sqrt(b), 2), beta = std::pow((1 - std::sqrt(b)) / (1 + std::sqrt(b)), 2);
  dlc::Model &m = *hb.model;
  m.setHyper("lr", s);
  m.setHyper("momentum", beta);
  std::printf("\n\n# heavy ball, s = %.4f, beta = %.4f (dlc train_step)\n# step x y f\n", s, beta);
  for (int k = 0; k <= steps; ++k) {
    float px, py, loss = 0;
    m.getParam("x", std::span<float>(&px, 1));
    m.getParam("y", std::span<float>(&py, 1));
    m.lossAndGrad(1, {}, {}, &loss);
    std::printf("%d %.9g %.9g %.9g\n", k, double(px), double(py), double(loss));
    m.trainStep(1, {}, {});
  }
  return 0;
}
