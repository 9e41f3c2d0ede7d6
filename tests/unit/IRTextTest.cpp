//===- tests/unit/IRTextTest.cpp - print -> parse -> print is stable ------===//
#include <catch2/catch.hpp>

#include <cmath>

#include "TestUtil.h"
#include "ir/Dot.h"

using namespace dlc;
using namespace dlc::test;

TEST_CASE("every example prints, parses back and prints the same", "[ir][text]") {
  for (const char *name : kExamples) {
    INFO(name);
    DiagnosticEngine diags;
    auto g = compile(readExample(name), diags, name);
    INFO(renderDiagnostics(diags));
    REQUIRE(g);
    std::string once = printGraph(*g);
    auto back = parseIRText(once, diags);
    INFO(renderDiagnostics(diags));
    REQUIRE(back);
    CHECK(printGraph(*back) == once);
    CHECK(back->size() == g->size());
    CHECK(back->results.size() == g->results.size());
    CHECK(back->train == g->train);
  }
}

TEST_CASE("floats print so that they parse back exactly", "[ir][text]") {
  for (double v : {0.1, 1e-4, 2.0, -3.5e-8, 123456789.0, 1.0 / 3.0, 1e300}) {
    std::string s = formatFloat(v);
    INFO(s);
    CHECK(s.find_first_of(".e") != std::string::npos);
    CHECK(std::stod(s) == v);
  }
}

TEST_CASE("names with slashes, quotes and notes survive the text form", "[ir][text]") {
  const char *text = R"(graph g {
  %x = param() {init = he} : f32[3, 3]
  %dL/dx = neg(%x) : f32[3, 3]  # the chain rule says so
  %"odd name" = exp(%dL/dx) : f32[3, 3]
  %0 = transpose(%"odd name") {perm = [1, 0]} : f32[3, 3]
  %1 = reduce_sum(%0) {axes = [0, 1]} : f32[]
  loss %1
  grad %dL/dx
  train {lr = 0.5, optimizer = sgd}
}
)";
  DiagnosticEngine diags;
  auto g = parseIRText(text, diags);
  INFO(renderDiagnostics(diags));
  REQUIRE(g);
  CHECK(printGraph(*g) == text);
  CHECK(g->findByName("dL/dx")->note == "the chain rule says so");
  CHECK(g->findByName("odd name"));
  CHECK(g->result(Role::Grad) == g->findByName("dL/dx"));
}

TEST_CASE("IR syntax errors point at the offending token", "[ir][text][diag]") {
  struct Case { const char *text, *expected; };
  Case cases[] = {
      {"graph g {\n  %x = param() : f32[2]\n  %y = exp(%z) : f32[2]\n}\n", "3:12: use of undefined value %z"},
      {"graph g {\n  %x = param() : f32[2]\n  %y = frob(%x) : f32[2]\n}\n", "3:8: unknown op 'frob'"},
      {"graph g {\n  %x = param() : f32[2]\n  %y = exp(%x) : f32[3]\n}\n",
       "3:8: %y is declared f32[3] but 'exp' gives f32[2]"},
      {"graph g {\n  %x = param() : f32[2]\n  %x = exp(%x) : f32[2]\n}\n", "3:3: value %x is defined twice"},
      {"graph g {\n  %x = param() : q8[2]\n}\n", "2:18: expected a type like f32[128, 784]"},
      {"graph g {\n  %x = param() : f32[2]\n", "3:1: expected '}' to close graph 'g'"},
      {"graph g {\n  %x = param() : f32[2]\n  loss %x\n}\n", "3:3: loss must be an f32 scalar, %x is f32[2]"},
      {"gruph g {}", "1:1: expected 'graph' at the start of IR text"},
  };
  for (const Case &c : cases) {
    INFO(c.text);
    DiagnosticEngine diags;
    CHECK_FALSE(parseIRText(c.text, diags));
    CHECK(firstError(diags) == c.expected);
  }
}

TEST_CASE("Graphviz output names every value, op and shape", "[ir][dot]") {
  DiagnosticEngine diags;
  auto g = compile(readExample("mnist_mlp.net"), diags);
  REQUIRE(g);
  std::ostringstream os;
  writeDot(*g, os);
  std::string dot = os.str();
  CHECK(dot.rfind("digraph", 0) == 0);
  CHECK(dot.find("%A1\\nparam\\nf32[256, 784]") != std::string::npos);
  CHECK(dot.find("%v1\\nrelu\\nf32[256]") != std::string::npos);
  CHECK(dot.find("[loss]") != std::string::npos);
  // One edge per operand.
  size_t edges = 0, operands = 0;
  for (size_t p = dot.find("->"); p != std::string::npos; p = dot.find("->", p + 2)) ++edges;
  for (const auto &n : g->nodes()) operands += n->operands.size();
  CHECK(edges == operands);
}
