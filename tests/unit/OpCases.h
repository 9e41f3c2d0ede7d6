//===- tests/unit/OpCases.h - One small case per differentiable op -------===//
//
// The shapes and attributes each derivative check (VJP and JVP) runs every
// op with: broadcasting, transposes, strides and pads.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cctype>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "ir/Interpreter.h"

namespace dlc::test {

struct Operand {
  std::string shape; ///< "[3, 4]"
  double lo = -1, hi = 1;
};

struct OpCase {
  std::string op;
  std::vector<Operand> operands;
  std::string attrs; ///< "{axes = [1]}" or ""
  std::string resultShape;
  double tolerance = 1e-3;
};

inline std::vector<int64_t> parseDims(const std::string &s) {
  std::vector<int64_t> out;
  std::string num;
  for (char c : s) {
    if (std::isdigit((unsigned char)c)) num += c;
    else if (!num.empty()) { out.push_back(std::stoll(num)); num.clear(); }
  }
  return out;
}

/// Fills a tensor with values in [lo, hi] kept away from zero (kinks of relu, abs, max).
inline Tensor randomTensor(std::vector<int64_t> shape, std::mt19937 &rng, double lo, double hi) {
  Tensor t(std::move(shape));
  std::uniform_real_distribution<double> u(lo, hi);
  for (auto &v : t.data) {
    do v = u(rng);
    while (std::fabs(v) < 0.05);
  }
  return t;
}

inline std::vector<OpCase> opCases() {
  const Operand any{"[3, 4]"}, positive{"[3, 4]", 0.2, 2.0};
  return {
      {"neg", {any}, "", "[3, 4]"},
      {"exp", {any}, "", "[3, 4]"},
      {"log", {positive}, "", "[3, 4]"},
      {"sqrt", {positive}, "", "[3, 4]"},
      {"abs", {any}, "", "[3, 4]"},
      {"tanh", {any}, "", "[3, 4]"},
      {"sigmoid", {any}, "", "[3, 4]"},
      {"relu", {any}, "", "[3, 4]"},
      {"pow", {positive}, "{exponent = 2.5}", "[3, 4]"},
      {"pow", {any}, "{exponent = 3.0}", "[3, 4]"},
      {"add", {{"[2, 3, 4]"}, {"[4]"}}, "", "[2, 3, 4]"},
      {"sub", {{"[3, 1]"}, {"[1, 4]"}}, "", "[3, 4]"},
      {"mul", {{"[2, 3, 4]"}, {"[3, 1]"}}, "", "[2, 3, 4]"},
      {"div", {{"[3, 4]"}, {"[4]", 0.5, 2.0}}, "", "[3, 4]"},
      {"max", {{"[3, 4]"}, {"[]"}}, "", "[3, 4]"},
      {"matmul", {{"[3, 4]"}, {"[4, 5]"}}, "", "[3, 5]"},
      {"matmul", {{"[4, 3]"}, {"[4, 5]"}}, "{transpose_a = true}", "[3, 5]"},
      {"matmul", {{"[3, 4]"}, {"[5, 4]"}}, "{transpose_b = true}", "[3, 5]"},
      {"matmul", {{"[4, 3]"}, {"[5, 4]"}}, "{transpose_a = true, transpose_b = true}", "[3, 5]"},
      {"matmul", {{"[3, 4]"}, {"[4]"}}, "", "[3]"},
      {"matmul", {{"[4, 3]"}, {"[4]"}}, "{transpose_a = true}", "[3]"},
      {"matmul", {{"[4]"}, {"[4, 5]"}}, "", "[5]"},
      {"matmul", {{"[4]"}, {"[5, 4]"}}, "{transpose_b = true}", "[5]"},
      {"matmul", {{"[4]"}, {"[4]"}}, "", "[]"},
      {"transpose", {{"[2, 3, 4]"}}, "{perm = [2, 0, 1]}", "[4, 2, 3]"},
      {"reshape", {{"[2, 6]"}}, "{shape = [3, 4]}", "[3, 4]"},
      {"broadcast", {{"[3, 1]"}}, "{dims = [0, 2], shape = [3, 2, 4]}", "[3, 2, 4]"},
      {"slice", {{"[5, 3]"}}, "{axis = 0, end = 4, start = 1}", "[3, 3]"},
      {"slice", {{"[2, 6]"}}, "{axis = 1, end = 2, start = 0}", "[2, 2]"},
      {"concat", {{"[2, 3]"}, {"[4, 3]"}}, "{axis = 0}", "[6, 3]"},
      {"concat", {{"[2, 3]"}, {"[2, 1]"}}, "{axis = 1}", "[2, 4]"},
      {"reduce_sum", {{"[2, 3, 4]"}}, "{axes = [0, 2]}", "[3]"},
      {"reduce_max", {{"[2, 3, 4]"}}, "{axes = [1]}", "[2, 4]"},
      {"batch_mean", {{"[2, 3, 4]"}}, "{axes = [0, 2]}", "[3]"},
      {"batch_mean", {{"[3, 4]"}}, "{axes = [1], ddof = 1}", "[3]"},
      {"select_mode", {{"[3, 4]"}, {"[3, 4]"}}, "", "[3, 4]"},
      {"softmax", {{"[3, 4]"}}, "{axis = 1}", "[3, 4]"},
      {"softmax", {{"[3, 4]"}}, "{axis = 0}", "[3, 4]"},
      {"log_softmax", {{"[3, 4]"}}, "{axis = 1}", "[3, 4]"},
      {"conv2d", {{"[2, 5, 6]"}, {"[3, 2, 3, 3]"}}, "{pad = [1, 1], stride = [1, 1]}", "[3, 5, 6]"},
      {"conv2d", {{"[2, 2, 7, 6]"}, {"[3, 2, 3, 2]"}}, "{pad = [0, 1], stride = [2, 2]}", "[2, 3, 3, 4]"},
      {"conv2d", {{"[2, 2, 7, 9]"}, {"[3, 2, 3, 5]"}}, "{pad = [1, 2], stride = [2, 1]}", "[2, 3, 4, 9]"},
      {"conv2d_bwd_data", {{"[3, 5, 6]"}, {"[3, 2, 3, 3]"}}, "{pad = [1, 1], shape = [2, 5, 6], stride = [1, 1]}",
       "[2, 5, 6]"},
      {"conv2d_bwd_filter", {{"[2, 5, 6]"}, {"[3, 3, 3]"}}, "{pad = [0, 0], shape = [3, 2, 3, 4], stride = [1, 1]}",
       "[3, 2, 3, 4]"},
      {"conv2d_bwd_filter", {{"[2, 7, 9]"}, {"[3, 4, 9]"}}, "{pad = [1, 2], shape = [3, 2, 3, 5], stride = [2, 1]}",
       "[3, 2, 3, 5]"},
      {"maxpool2d", {{"[2, 4, 6]"}}, "{kernel = [2, 2], pad = [0, 0, 0, 0], stride = [2, 2]}", "[2, 2, 3]"},
      {"maxpool2d", {{"[2, 7, 7]"}}, "{kernel = [3, 3], pad = [1, 1, 1, 1], stride = [2, 2]}", "[2, 4, 4]"},
      {"maxpool2d", {{"[2, 1, 6, 5]"}}, "{kernel = [3, 2], pad = [2, 0, 1, 1], stride = [1, 2]}", "[2, 1, 7, 3]"},
      {"maxpool2d_gather", {{"[2, 5, 6]"}, {"[2, 5, 6]"}}, "{kernel = [3, 3], pad = [1, 1, 1, 1], stride = [2, 2]}",
       "[2, 3, 3]"},
      {"maxpool2d_bwd", {{"[2, 5, 6]"}, {"[2, 3, 3]"}}, "{kernel = [3, 3], pad = [1, 1, 1, 1], stride = [2, 2]}",
       "[2, 5, 6]"},
      {"maxpool2d_bwd", {{"[2, 4, 6]"}, {"[2, 2, 3]"}}, "{kernel = [2, 2], pad = [0, 0, 0, 0], stride = [2, 2]}",
       "[2, 4, 6]"},
      {"avgpool2d", {{"[2, 5, 6]"}}, "{kernel = [3, 3], pad = [1, 1, 1, 1], stride = [2, 2]}", "[2, 3, 3]"},
      {"avgpool2d", {{"[2, 2, 5, 6]"}}, "{count_include_pad = true, kernel = [3, 2], pad = [2, 1, 0, 0], stride = [1, 3]}",
       "[2, 2, 5, 2]"},
      {"avgpool2d_bwd", {{"[2, 3, 3]"}}, "{kernel = [3, 3], pad = [1, 1, 1, 1], shape = [2, 5, 6], stride = [2, 2]}",
       "[2, 5, 6]"},
  };
}

} // namespace dlc::test
