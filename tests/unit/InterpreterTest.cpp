//===- tests/unit/InterpreterTest.cpp - The oracle against hand computations -===//
#include <catch2/catch.hpp>

#include "TestUtil.h"
#include "ir/Interpreter.h"

using namespace dlc;
using namespace dlc::test;

namespace {
Interpreter run(const Graph &g, std::map<std::string, Tensor> values) {
  Interpreter it(g);
  for (auto &[k, v] : values) REQUIRE(it.set(k, v));
  std::string err;
  REQUIRE(it.run(err));
  return it;
}
} // namespace

TEST_CASE("the interpreter computes products, softmax and convolution by the book", "[interpreter]") {
  DiagnosticEngine diags;
  auto g = parseIRText(R"(graph g {
  %A = param() {init = zeros} : f32[2, 3]
  %v = input() : f32[3]
  %x = input() : f32[1, 3, 3]
  %K = param() {init = zeros} : f32[1, 1, 2, 2]
  %Av = matmul(%A, %v) : f32[2]
  %AtA = matmul(%A, %A) {transpose_a = true} : f32[3, 3]
  %p = softmax(%Av) {axis = 0} : f32[2]
  %c = conv2d(%x, %K) {pad = [0, 0], stride = [1, 1]} : f32[1, 2, 2]
  %m = reduce_max(%x) {axes = [1, 2]} : f32[1]
}
)", diags);
  INFO(renderDiagnostics(diags));
  REQUIRE(g);
  Tensor A({2, 3}), v({3}), x({1, 3, 3}), K({1, 1, 2, 2});
  A.data = {1, 2, 3, 4, 5, 6};
  v.data = {1, 0, -1};
  x.data = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  K.data = {1, 0, 0, -1};
  auto it = run(*g, {{"A", A}, {"v", v}, {"x", x}, {"K", K}});
  CHECK(it.value("Av").data == std::vector<double>{-2, -2});
  CHECK(it.value("AtA").data == std::vector<double>{17, 22, 27, 22, 29, 36, 27, 36, 45});
  CHECK(it.value("p").data == std::vector<double>{0.5, 0.5});
  CHECK(it.value("c").data == std::vector<double>{-4, -4, -4, -4}); // x[i][j] - x[i+1][j+1]
  CHECK(it.value("m").data == std::vector<double>{9});
}

TEST_CASE("the interpreter reports missing and mis-shaped values", "[interpreter]") {
  DiagnosticEngine diags;
  auto g = compile(readExample("hinge.net"), diags);
  REQUIRE(g);
  Interpreter it(*g);
  std::string err;
  CHECK_FALSE(it.run(err));
  CHECK(err == "no value for input 'x'");
  Interpreter it2(*g);
  it2.set("x", Tensor({3}));
  it2.set("t", Tensor(std::vector<int64_t>{}));
  it2.set("w", Tensor({2}));
  it2.set("c", Tensor(std::vector<int64_t>{}));
  err.clear();
  CHECK_FALSE(it2.run(err));
  CHECK(err == "value of 'x' has the wrong shape");
}
