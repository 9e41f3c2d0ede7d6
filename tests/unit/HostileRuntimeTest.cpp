//===- tests/unit/HostileRuntimeTest.cpp - Hostile files and hosts (issue 12) ===//
//
// The reproducers of issue 12 that arrive at run time: checkpoints with a
// shifted header or a bad step count, optimizer settings that divide by
// zero, data files with non-finite numbers, and a host that changes the
// thread count while another thread trains. Each is an error that changes
// nothing, or a result identical to the undisturbed one.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <llvm/Support/FileSystem.h>

#include "train/Dataset.h"
#include "TestUtil.h"
#include "dlc/dlc.hpp"

using namespace dlc;
using namespace dlc::test;

namespace {

void writeBytes(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

/// A small Adam-trained model with a checkpoint worth corrupting.
std::unique_ptr<Model> adamModel() {
  CompileResult r = compileString("model m {\n  param A : [3, 2] ~ normal(0, 1)\n  param b : [2] ~ ones\n"
                            "  loss sum((A @ b)^2)\n}\ntrain m { optimizer adam(lr = 0.1) }\n");
  INFO(r.rendered);
  REQUIRE(r);
  return std::move(r.model);
}

/// The checkpoint bytes with its 8-byte header length changed by `delta`.
std::string shiftedHeader(std::string bytes, int64_t delta) {
  uint64_t len = 0;
  for (int b = 0; b < 8; ++b) len |= uint64_t(uint8_t(bytes[b])) << (8 * b);
  len = uint64_t(int64_t(len) + delta);
  for (int b = 0; b < 8; ++b) bytes[b] = char((len >> (8 * b)) & 0xff);
  return bytes;
}

/// The checkpoint bytes with `"step":"N"` replaced (the header padded or
/// trimmed so that its length field stays right).
std::string withStep(const std::string &bytes, const std::string &step) {
  uint64_t len = 0;
  for (int b = 0; b < 8; ++b) len |= uint64_t(uint8_t(bytes[b])) << (8 * b);
  std::string header = bytes.substr(8, len), data = bytes.substr(8 + len);
  size_t at = header.find("\"step\":\"");
  REQUIRE(at != std::string::npos);
  size_t end = header.find('"', at + 8);
  header = header.substr(0, at + 8) + step + header.substr(end);
  while (header.size() % 8) header += ' ';
  std::string out(8, '\0');
  for (int b = 0; b < 8; ++b) out[b] = char((uint64_t(header.size()) >> (8 * b)) & 0xff);
  return out + header + data;
}

} // namespace

TEST_CASE("a checkpoint with a shifted header length or a bad step is refused and changes nothing", "[hostile]") {
  std::string dir = tempDir("dlc-hostile-rt");
  auto m = adamModel();
  float loss = 0;
  for (int i = 0; i < 3; ++i) REQUIRE(m->trainStep(1, {}, {}, &loss) == DLC_OK);
  REQUIRE(m->save(dir + "/good.st") == DLC_OK);
  std::string good = readBytes(dir + "/good.st");
  auto other = adamModel();
  REQUIRE(other->save(dir + "/before.st") == DLC_OK);
  std::string before = readBytes(dir + "/before.st");
  struct Case { const char *what; std::string bytes; };
  Case cases[] = {{"header one byte short", shiftedHeader(good, -1)},
                  {"header one byte long", shiftedHeader(good, 1)},
                  {"negative step", withStep(good, "-3")},
                  {"step past int64", withStep(good, "99999999999999999999")},
                  {"step not a number", withStep(good, "3x")},
                  {"empty step", withStep(good, "")}};
  for (const Case &c : cases) {
    INFO(c.what);
    writeBytes(dir + "/bad.st", c.bytes);
    CHECK(other->load(dir + "/bad.st") == DLC_ERR_FORMAT);
    REQUIRE(other->save(dir + "/after.st") == DLC_OK);
    CHECK(readBytes(dir + "/after.st") == before);
  }
  // The untouched checkpoint still loads, with its step.
  REQUIRE(other->load(dir + "/good.st") == DLC_OK);
  CHECK(other->step() == 3);
  llvm::sys::fs::remove_directories(dir);
}

TEST_CASE("set_hyper refuses Adam betas of 1 or more", "[hostile]") {
  auto m = adamModel();
  for (const char *key : {"beta1", "beta2"}) {
    INFO(key);
    CHECK(m->setHyper(key, 1.0) == DLC_ERR_VALUE);
    CHECK(m->setHyper(key, 2.0) == DLC_ERR_VALUE);
    CHECK(m->setHyper(key, 0.5) == DLC_OK);
  }
  float loss = 0;
  REQUIRE(m->trainStep(1, {}, {}, &loss) == DLC_OK);
  CHECK(std::isfinite(loss));
}

TEST_CASE("CSV values that overflow float, and NaN or Inf anywhere, are errors at file:line:col", "[hostile]") {
  std::string dir = tempDir("dlc-hostile-rt"), err;
  auto bad = [&](const std::string &text) {
    writeBytes(dir + "/bad.csv", text);
    CHECK_FALSE(loadCSV(dir + "/bad.csv", err));
    return err;
  };
  CHECK(bad("1,2,0\n1e39,2,1\n") == dir + "/bad.csv:2:1: '1e39' is not a finite float");
  CHECK(bad("nan,2,0\n1,2,1\n") == dir + "/bad.csv:1:1: 'nan' is not a finite float");
  CHECK(bad("1,2,0\n1,-inf,1\n") == dir + "/bad.csv:2:3: '-inf' is not a finite float");
  llvm::sys::fs::remove_directories(dir);
}

TEST_CASE("changing the thread count while another thread trains leaves the results unchanged", "[hostile][threads]") {
  auto train = [](bool disturb) {
    CompileOptions o;
    o.maxBatch = 96;
    o.seed = 3;
    CompileResult r = compileString(test::readExample("mnist_mlp.net"), o);
    REQUIRE(r);
    Model &m = *r.model;
    REQUIRE(m.setHyper("threads", 2) == DLC_OK);
    std::vector<float> x(96 * 784);
    std::vector<int32_t> y(96);
    for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 97) / 97.0f;
    for (size_t i = 0; i < y.size(); ++i) y[i] = int32_t(i % 10);
    const float *in[] = {x.data()};
    const void *lab[] = {y.data()};
    std::atomic<bool> done{false};
    std::thread flipper([&] {
      for (int k = 0; disturb && !done; ++k) m.setHyper("threads", 1 + k % 2);
    });
    std::vector<float> losses;
    for (int step = 0; step < 30; ++step) {
      float loss = 0;
      REQUIRE(m.trainStep(96, in, lab, &loss) == DLC_OK);
      losses.push_back(loss);
    }
    done = true;
    flipper.join();
    m.setHyper("threads", 1);
    return losses;
  };
  std::vector<float> quiet = train(false), disturbed = train(true);
  CHECK(quiet == disturbed);
}

TEST_CASE("check_numerics stops at the first NaN or Inf of a step and names it", "[hostile][numerics]") {
  // sqrt at 0 is finite; its derivative is not: the loss is fine, dL/dA is +Inf.
  CompileResult r = compileString("model m {\n  input x : [2]\n  param A : [1, 2] ~ zeros\n  loss sum(sqrt(A @ x))\n}\n");
  INFO(r.rendered);
  REQUIRE(r);
  Model &m = *r.model;
  std::vector<float> x = {1, 2};
  const float *in[] = {x.data()};
  float loss = -1;
  REQUIRE(m.trainStep(1, in, {}, &loss) == DLC_OK); // off by default: the step runs
  CHECK(m.hyper("check_numerics") == 0);
  REQUIRE(m.setHyper("check_numerics", 1) == DLC_OK);
  CHECK(m.setHyper("check_numerics", 2) == DLC_ERR_VALUE);
  std::vector<float> zeros = {0, 0};
  REQUIRE(m.setParam("A", zeros) == DLC_OK);
  CHECK(m.lossAndGrad(1, in, {}, &loss) == DLC_ERR_VALUE);
  CHECK(loss == 0);
  CHECK_THAT(m.lastError(), Catch::StartsWith("loss_and_grad: dL/dA[0] is +Inf"));
  CHECK(m.trainStep(1, in, {}, &loss) == DLC_ERR_VALUE);
  CHECK_THAT(m.lastError(), Catch::StartsWith("train_step: dL/dA[0] is +Inf"));
  // A non-finite input is named before anything runs.
  std::vector<float> bad = {1, NAN};
  const float *badIn[] = {bad.data()};
  CHECK(m.trainStep(1, badIn, {}, &loss) == DLC_ERR_VALUE);
  CHECK_THAT(m.lastError(), Catch::StartsWith("train_step: x[1] is NaN"));
}
