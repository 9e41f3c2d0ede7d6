//===- tests/unit/UserModelTest.cpp - Models a new user writes first -------===//
//
// Through the C++ API, as a host would: a forward-only network (no loss) and
// the checkpoint of its trained twin; constants as operands of products and
// convolutions, with losses and gradients checked against hand-computed
// values.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include <llvm/Support/FileSystem.h>

#include "dlc/dlc.hpp"

using namespace dlc;

namespace {

const char *kTrained = R"(model lin {
  input x : [3]
  label y : class(2)
  param A : [2, 3] ~ he
  param b : [2] ~ zeros
  w = A @ x + b
  output p = softmax(w)
  loss cross_entropy(w, y)
}
train lin {
  optimizer sgd(lr = 0.5)
  batch 4
}
)";

// The same network deployed for inference: the same params, no label, no loss.
const char *kForwardOnly = R"(model lin {
  input x : [3]
  param A : [2, 3] ~ he
  param b : [2] ~ zeros
  output p = softmax(A @ x + b)
}
)";

std::string tempFile(const char *stem) {
  llvm::SmallString<128> path;
  llvm::sys::fs::createTemporaryFile(stem, "safetensors", path);
  return std::string(path);
}

} // namespace

TEST_CASE("a model without a loss compiles forward-only and loads its trained twin's checkpoint", "[api][forward]") {
  CompileOptions seed1, seed2;
  seed1.seed = 1, seed2.seed = 2;
  CompileResult trained = compileString(kTrained, seed1);
  INFO(trained.rendered);
  REQUIRE(trained);
  CompileResult deployed = compileString(kForwardOnly, seed2);
  INFO(deployed.rendered);
  REQUIRE(deployed);
  CHECK(deployed.messages.empty());
  CHECK_FALSE(deployed.model->hasLoss());

  const float x[4 * 3] = {1, 0, -1, 0.5f, 2, 0, -1, -1, 1, 0, 0.25f, 3};
  const int32_t y[4] = {0, 1, 0, 1};
  const float *in[] = {x};
  const void *labels[] = {y};
  float loss = 0;
  for (int step = 0; step < 5; ++step) REQUIRE(trained.model->trainStep(4, in, labels, &loss) == DLC_OK);

  // The training entry points of the forward-only build are a state error with a message.
  CHECK(deployed.model->trainStep(4, in, {}, &loss) == DLC_ERR_STATE);
  CHECK(std::string(deployed.model->lastError()).find("has no loss") != std::string::npos);
  CHECK(deployed.model->lossAndGrad(4, in, {}, &loss) == DLC_ERR_STATE);

  float want[4 * 2], got[4 * 2];
  float *outTrained[] = {want}, *outDeployed[] = {got};
  REQUIRE(trained.model->forward(4, in, outTrained) == DLC_OK);
  REQUIRE(deployed.model->forward(4, in, outDeployed) == DLC_OK);
  CHECK(std::fabs(got[0] - want[0]) > 1e-4); // other seeds, other params: a load must change this

  std::string ckpt = tempFile("lin");
  REQUIRE(trained.model->save(ckpt) == DLC_OK);
  INFO(deployed.model->lastError());
  REQUIRE(deployed.model->load(ckpt) == DLC_OK);
  REQUIRE(deployed.model->forward(4, in, outDeployed) == DLC_OK);
  for (int i = 0; i < 8; ++i) CHECK(got[i] == Approx(want[i]).margin(1e-6));
  llvm::sys::fs::remove(ckpt);
}

TEST_CASE("constants are operands of products and convolutions: the issue's models compile and differentiate",
          "[api][constants]") {
  struct Case {
    const char *source;
    float loss;                                          ///< at the all-ones params
    std::vector<std::pair<const char *, float>> grads; ///< every element of the param's gradient
  };
  std::vector<Case> cases = {
      // L = 1^T A v: dL/dA = 1 v^T, dL/dv = A^T 1 (a constant operand of both backward products).
      {"model n1 {\n  param A : [2, 2] ~ ones\n  param v : [2] ~ ones\n  loss sum(A @ v)\n}\n", 4, {{"A", 1}, {"v", 2}}},
      {"model n2 {\n  param A : [2, 2] ~ ones\n  param B : [2, 2] ~ ones\n  loss sum(A @ B)\n}\n", 8, {{"A", 2}, {"B", 2}}},
      // A scalar constant reshaped to a [1, 1] matrix on the left of a product.
      {"model n3 {\n  param k : [1, 3] ~ ones\n  loss sum(reshape(1, [1, 1]) @ k)\n}\n", 3, {{"k", 1}}},
      // x * 0 + 1 folds to a constant image: conv2d of ones with ones, 2 x 2 positions of 9 taps.
      {"model n4 {\n  input x : [1, 4, 4]\n  param K : [2, 1, 3, 3] ~ ones\n  loss sum(conv2d(x * 0 + 1, K))\n}\n", 72,
       {{"K", 4}}},
  };
  for (const Case &c : cases) {
    INFO(c.source);
    CompileResult r = compileString(c.source);
    INFO(r.rendered);
    REQUIRE(r);
    std::vector<float> image(16, 0.3f);
    std::vector<const float *> in;
    for (const dlc_tensor_info &t : r.model->tensors())
      if (t.role == DLC_ROLE_INPUT) in.push_back(image.data());
    float loss = 0;
    REQUIRE(r.model->lossAndGrad(1, in, {}, &loss) == DLC_OK);
    CHECK(loss == Approx(c.loss));
    for (auto [name, value] : c.grads) {
      INFO("dL/d" << name);
      std::vector<float> grad(18);
      int64_t count = 0;
      for (const dlc_tensor_info &t : r.model->tensors())
        if (std::string(t.name) == name) {
          count = 1;
          for (int d = 0; d < t.rank; ++d) count *= t.dims[d];
        }
      REQUIRE(count > 0);
      grad.resize(size_t(count));
      REQUIRE(r.model->getGrad(name, grad) == DLC_OK);
      for (float g : grad) CHECK(g == Approx(value));
    }
  }
}
