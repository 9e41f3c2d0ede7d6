//===- examples/science/kaczmarz.cpp - Semi-convergence of one-sample SGD --===//
//
// Least squares A x = b with an ill-conditioned A (singular values from 1
// down to 1e-3) and noise in b. One-sample SGD on (a_i . x - b_i)^2 / 2 with
// step 1 / |a_i|^2 is Kaczmarz's method: each step projects x onto one
// row's hyperplane. The error |x_k - x_true| first falls (the large singular
// directions are fitted) and then rises again as the small ones fit the
// noise: semi-convergence, the reason for stopping early. The steps are the
// dlc-compiled train_step of a one-sample model; prints "epoch error residual".
//
//===----------------------------------------------------------------------===//
#include <cmath>
#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "dlc/dlc.hpp"

namespace {

using Matrix = std::vector<std::vector<double>>;

/// A random orthogonal matrix (Gram-Schmidt on Gaussian columns).
Matrix orthogonal(int n, std::mt19937_64 &rng) {
  std::normal_distribution<double> g;
  Matrix q(static_cast<size_t>(n), std::vector<double>(static_cast<size_t>(n)));
  for (auto &row : q)
    for (double &v : row) v = g(rng);
  for (int j = 0; j < n; ++j) {
    for (int k = 0; k < j; ++k) {
      double d = 0;
      for (int i = 0; i < n; ++i) d += q[size_t(i)][size_t(j)] * q[size_t(i)][size_t(k)];
      for (int i = 0; i < n; ++i) q[size_t(i)][size_t(j)] -= d * q[size_t(i)][size_t(k)];
    }
    double norm = 0;
    for (int i = 0; i < n; ++i) norm += q[size_t(i)][size_t(j)] * q[size_t(i)][size_t(j)];
    for (int i = 0; i < n; ++i) q[size_t(i)][size_t(j)] /= std::sqrt(norm);
  }
  return q;
}

} // namespace

int main(int argc, char **argv) {
  const int n = 40, epochs = argc > 1 ? std::atoi(argv[1]) : 2000;
  const double noise = argc > 2 ? std::atof(argv[2]) : 0.05;
  std::mt19937_64 rng(1);
  Matrix U = orthogonal(n, rng), V = orthogonal(n, rng);
  Matrix A(static_cast<size_t>(n), std::vector<double>(static_cast<size_t>(n), 0.0));
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      for (int k = 0; k < n; ++k)
        A[size_t(i)][size_t(j)] += U[size_t(i)][size_t(k)] * std::pow(1e-3, double(k) / (n - 1)) * V[size_t(j)][size_t(k)];
  std::vector<double> xTrue(static_cast<size_t>(n), 0.0), b(static_cast<size_t>(n), 0.0);
  std::normal_distribution<double> g;
  // A smooth x_true (the discrete Picard condition of inverse problems): its
  // component along the k-th right singular vector falls like sigma_k.
  for (int k = 0; k < n; ++k)
    for (int j = 0; j < n; ++j) xTrue[size_t(j)] += std::pow(1e-3, double(k) / (n - 1)) * g(rng) * V[size_t(j)][size_t(k)];
  double bNorm = 0;
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) b[size_t(i)] += A[size_t(i)][size_t(j)] * xTrue[size_t(j)];
    bNorm += b[size_t(i)] * b[size_t(i)];
  }
  for (double &v : b) v += noise * std::sqrt(bNorm / n) * g(rng);
  const std::string model = "model kaczmarz {\n  input a : [" + std::to_string(n) + "]\n  label t : [1]\n  param X : [1, " +
                            std::to_string(n) + "] ~ zeros\n  output p = X @ a\n  loss 0.5 * square_loss(p, t)\n}\n"
                            "train kaczmarz { optimizer sgd(lr = 1, momentum = 0)\n  batch 1 }\n";
  dlc::CompileResult r = dlc::compileString(model);
  if (!r) {
    std::fprintf(stderr, "%s", r.rendered.c_str());
    return 1;
  }
  dlc::Model &m = *r.model;
  std::vector<float> row(static_cast<size_t>(n)), x(static_cast<size_t>(n));
  std::vector<int> order(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) order[size_t(i)] = i;
  std::printf("# Kaczmarz (one-sample SGD, step 1 / |a_i|^2) on a %dx%d system, cond 1e3, %.0f%% noise\n", n, n, 100 * noise);
  std::printf("# epoch relative_error relative_residual\n");
  for (int epoch = 0; epoch <= epochs; ++epoch) {
    m.getParam("X", x);
    double err = 0, ref = 0, res = 0;
    for (int j = 0; j < n; ++j) err += std::pow(x[size_t(j)] - xTrue[size_t(j)], 2), ref += xTrue[size_t(j)] * xTrue[size_t(j)];
    for (int i = 0; i < n; ++i) {
      double ax = 0;
      for (int j = 0; j < n; ++j) ax += A[size_t(i)][size_t(j)] * x[size_t(j)];
      res += std::pow(ax - b[size_t(i)], 2);
    }
    std::printf("%d %.6g %.6g\n", epoch, std::sqrt(err / ref), std::sqrt(res / bNorm));
    std::shuffle(order.begin(), order.end(), rng);
    for (int i : order) {
      double norm2 = 0;
      for (int j = 0; j < n; ++j) row[size_t(j)] = float(A[size_t(i)][size_t(j)]), norm2 += A[size_t(i)][size_t(j)] * A[size_t(i)][size_t(j)];
      m.setHyper("lr", 1 / norm2);
      float t = float(b[size_t(i)]);
      const float *in[] = {row.data()};
      const void *lab[] = {&t};
      if (m.trainStep(1, in, lab) != DLC_OK) {
        std::fprintf(stderr, "kaczmarz: %s\n", m.lastError());
        return 1;
      }
    }
  }
  return 0;
}
