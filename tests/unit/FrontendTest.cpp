//===- tests/unit/FrontendTest.cpp - .net text to IR ----------------------===//
#include <catch2/catch.hpp>

#include "TestUtil.h"
#include "frontend/Parser.h"

using namespace dlc;
using namespace dlc::test;

TEST_CASE("the mnist example lowers to the expected per-sample graph", "[frontend]") {
  DiagnosticEngine diags;
  auto g = compile(readExample("mnist_mlp.net"), diags);
  REQUIRE(g);
  CHECK(g->name == "mnist_mlp");
  CHECK(g->nodesOfKind(OpKind::Param).size() == 4);
  CHECK(g->findByName("v1")->kind == OpKind::Relu);
  CHECK(g->findByName("v1")->type.str() == "f32[256]");
  CHECK(g->findByName("w")->type.str() == "f32[10]");
  CHECK(g->result(Role::Output) == g->findByName("p"));
  CHECK(g->result(Role::Loss)->type.isScalar());
  CHECK(g->result(Role::Penalty));
  CHECK(g->train.getString("optimizer") == "adam");
  CHECK(g->train.getFloat("lr") == 1e-3);
  CHECK(g->train.getInt("batch") == 64);
  // Source locations survive: v1's relu comes from line 13 (the fn body).
  CHECK(g->findByName("v1")->loc.line == 13);
}

TEST_CASE("functions inline at each call and compose", "[frontend]") {
  auto g = compileBody(R"(input x : [4]
param A : [4, 4] ~ he
fn f(v) = tanh(A @ v)
fn g(v) = f(f(v))
y = g(x)
loss sum(y))");
  CHECK(g->nodesOfKind(OpKind::Tanh).size() == 2);
  CHECK(g->nodesOfKind(OpKind::MatMul).size() == 2);
  CHECK(g->findByName("y")->kind == OpKind::Tanh);
}

TEST_CASE("language features lower to the documented ops", "[frontend]") {
  auto g = compileBody(R"(input x : [1, 8, 8]
input s : [16]
param K : [2, 1, 3, 3] ~ he
param k : [3] ~ normal(0, 0.1)
param M : [4, 3] ~ glorot
c = conv2d(x, K, pad = 1, stride = 2)
p = avgpool2d(maxpool2d(conv2d(x, K, pad = 1), 2), 2)
r = conv1d(s, k, pad = 1)
t = M.T
m = mean(s)
q = max(s, 0)
z = sum(M, axis = -1)
loss sum(c) + sum(p) + sum(r) + sum(t) + m + sum(q) + sum(z))");
  CHECK(g->findByName("c")->type.str() == "f32[2, 4, 4]");
  CHECK(g->findByName("p")->type.str() == "f32[2, 2, 2]");
  CHECK(g->findByName("r")->type.str() == "f32[16]");
  CHECK(g->findByName("t")->type.str() == "f32[3, 4]");
  CHECK(g->findByName("m")->type.isScalar());
  CHECK(g->findByName("q")->kind == OpKind::Max);
  CHECK(g->findByName("z")->type.str() == "f32[4]");
  CHECK(g->findByName("z")->attrs.getInts("axes") == std::vector<int64_t>{1});
}

TEST_CASE("constants fold at compile time", "[frontend]") {
  auto g = compileBody(R"(const a = 2
const b = -a / 4
param x : [] ~ fill(b * 3)
loss x^(a + 1) + b)");
  CHECK(g->findByName("b")->attrs.getFloat("value") == -0.5);
  CHECK(g->findByName("x")->attrs.getFloats("init_args") == std::vector<double>{-1.5});
  CHECK(g->nodesOfKind(OpKind::Pow).at(0)->attrs.getFloat("exponent") == 3.0);
}

TEST_CASE("each diagnostic kind names its place and what was expected", "[frontend][diag]") {
  // syntax
  CHECK(errorOf("input x : [4]\nv = relu(x +)") == "2:13: expected an expression, found ')'");
  // unknown name, with a suggestion
  CHECK(errorOf("input v0 : [4]\nparam A : [4, 4] ~ he\nloss sum(A @ v1)") ==
        "3:14: unknown name 'v1'; did you mean 'v0'?");
  // redefinition
  CHECK(errorOf("input x : [4]\nparam x : [4] ~ he") == "2:7: redefinition of 'x'");
  // arity of a built-in and of a user fn
  CHECK(errorOf("input x : [4]\nloss sum(x, x)") == "2:6: 'sum' takes 1 argument, got 2");
  CHECK(errorOf("input x : [4]\nfn f(a, b) = a + b\nloss sum(f(x))") == "3:10: function 'f' takes 2 arguments, got 1");
  // shape mismatch with both shapes
  CHECK(errorOf("input v : [64]\nparam A : [10, 128] ~ he\nloss sum(A @ v)") == "3:12: cannot multiply [10, 128] by [64]");
  CHECK(errorOf("input v : [3]\nparam b : [4] ~ zeros\nloss sum(v + b)") ==
        "3:12: cannot add [3] and [4]: shapes do not broadcast");
  // unknown initializer, unknown loss
  CHECK(errorOf("param A : [2] ~ xavier\nloss sum(A)").rfind("1:17: unknown initializer 'xavier'", 0) == 0);
  CHECK(errorOf("input x : [2]\nparam A : [2] ~ he\nloss mse(A, x)") ==
        "3:6: unknown loss function 'mse'; expected cross_entropy, square_loss, hinge, binary_cross_entropy");
  // recursion
  CHECK(errorOf("param A : [2] ~ he\nfn f(v) = f(v)\nloss sum(f(A))").rfind("2:4: function 'f' is recursive (f -> f)", 0) == 0);
  // a loss without params
  CHECK(errorOf("input x : [2]\nloss sum(x)") ==
        "2:1: the loss of model 'm' does not depend on any param; there is nothing to train");
  // bad numeric literals
  CHECK(errorOf("param A : [2] ~ fill(1.5.2)\nloss sum(A)") == "1:22: invalid numeric literal '1.5.2'");
  CHECK(errorOf("param A : [2] ~ fill(1e400)\nloss sum(A)") == "1:22: numeric literal '1e400' is out of range");
  CHECK(errorOf("param A : [2] ~ fill(3x)\nloss sum(A)") == "1:22: invalid numeric literal '3x'");
  // non-scalar loss, misuse of a class label
  CHECK(errorOf("param A : [2] ~ he\nloss A") ==
        "2:6: the loss must be a scalar per sample, got [2]; reduce it, e.g. sum(...)");
  CHECK(errorOf("label y : class(3)\nparam A : [3] ~ he\nloss sum(A * y)").rfind("3:14: class label 'y' is an index", 0) == 0);
  // unknown keyword argument
  CHECK(errorOf("input x : [1, 4, 4]\nparam K : [1, 1, 3, 3] ~ he\nloss sum(conv2d(x, K, padding = 1))") ==
        "3:23: 'conv2d' has no argument 'padding' (it takes stride, pad)");
}

TEST_CASE("several errors are reported in one run", "[frontend][diag]") {
  DiagnosticEngine diags;
  compile("model m {\n  input x : [4]\n  param A : [4, 4] ~ hee\n  y = A @ z\n  w = relu(x, x)\n"
          "  q = 1.2.3\n  loss foo(y)\n}\n",
          diags);
  CHECK(diags.errorCount() == 5);
}

TEST_CASE("the train block is checked", "[frontend][diag]") {
  DiagnosticEngine diags;
  auto g = compile("model m {\n  param A : [2] ~ he\n  loss sum(A)\n}\n"
                   "train m {\n  optimizer rmsprop(lr = 1)\n  batch 0\n  epochz 3\n}\n",
                   diags);
  CHECK_FALSE(g);
  REQUIRE(diags.errorCount() == 3);
  CHECK(diags.diagnostics()[0].message == "unknown optimizer 'rmsprop'; expected gd, sgd, adam");
  CHECK(diags.diagnostics()[1].message == "'batch' must be an integer in [1, 16777216]");
  CHECK(diags.diagnostics()[2].message.rfind("unknown train setting 'epochz'", 0) == 0);
}

TEST_CASE("an optimizer takes only its own settings, and initializers check their arguments", "[frontend][diag]") {
  // The first error of a model with the train block `train`, at line:col of that block's line.
  auto trainError = [](const std::string &train) {
    DiagnosticEngine diags;
    auto g = compile("model m {\n  param A : [2] ~ he\n  loss sum(A)\n}\n" + train + "\n", diags);
    CHECK_FALSE(g);
    if (diags.diagnostics().empty()) return std::string("<none>");
    const Diagnostic &d = diags.diagnostics().front();
    return std::to_string(d.loc.col) + ": " + d.message;
  };
  CHECK(trainError("train m { optimizer adam(lr = 1e-3, momentum = 0.9) }") ==
        "48: optimizer 'adam' takes no 'momentum'; its settings are lr, beta1, beta2, eps, weight_decay");
  CHECK(trainError("train m { optimizer sgd(beta2 = 0.9) }") ==
        "33: optimizer 'sgd' takes no 'beta2'; its settings are lr, momentum, nesterov");
  CHECK(trainError("train m { optimizer gd(lr = 0.1, nesterov = 1) }") ==
        "45: optimizer 'gd' takes no 'nesterov'; its settings are lr");
  DiagnosticEngine diags;
  CHECK(compile("model m {\n  param A : [2] ~ he\n  loss sum(A)\n}\n"
                "train m { optimizer sgd(lr = 0.1, momentum = 0.9, nesterov = 1) }\n",
                diags));
  CHECK(errorOf("param A : [2] ~ uniform(1, -1)\nloss sum(A)") == "1:17: bad range for initializer 'uniform'");
  CHECK(errorOf("param A : [2] ~ normal(0, -1)\nloss sum(A)") == "1:17: bad range for initializer 'normal'");
  CHECK(errorOf("param A : [2] ~ fill(1, 2)\nloss sum(A)") == "1:17: initializer 'fill' takes 1 argument, got 2");
}

TEST_CASE("diagnostics render like clang, with the line and a caret", "[frontend][diag]") {
  DiagnosticEngine diags;
  compile("model m {\n  input v : [64]\n  param A : [10, 128] ~ he\n  loss sum(A @ v)\n}\n", diags, "mlp.net");
  CHECK(renderDiagnostics(diags) ==
        "mlp.net:4:14: error: cannot multiply [10, 128] by [64]\n"
        "  loss sum(A @ v)\n"
        "             ^\n");
}

TEST_CASE("deep nesting is an error, not a stack overflow", "[frontend][diag]") {
  std::string expr(100000, '(');
  DiagnosticEngine diags;
  CHECK_FALSE(compile("model m {\n  x = " + expr + "\n}\n", diags));
  CHECK(diags.hasErrors());
}
