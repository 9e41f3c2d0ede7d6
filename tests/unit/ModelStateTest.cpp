//===- tests/unit/ModelStateTest.cpp - State in checkpoints, the ABI, ranks ===//
//
// Model state (batch norm's running statistics) through everything that
// keeps or moves a model: checkpoints (a round trip; a resumed run equals an
// uninterrupted one, its dropout masks included, because the seed is saved;
// a checkpoint without a state tensor or with a bad seed is a format error
// that changes nothing), the shared library's C ABI (the tensor table, get
// and set by name, the contiguous state buffer), and data-parallel training
// (the shards' state averaged like their gradients).
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include <cmath>
#include <dlfcn.h>
#include <fstream>
#include <sstream>

#include <llvm/Support/FileSystem.h>

#include "TestUtil.h"
#include "codegen/AOT.h"
#include "dlc/dlc.hpp"
#include "passes/Pass.h"
#include "train/DataParallel.h"

using namespace dlc;
using namespace dlc::test;

namespace {

/// The checkpoint bytes with the seed's text replaced (the header re-padded
/// and its length field rewritten).
std::string withSeed(const std::string &bytes, const std::string &seed) {
  uint64_t len = 0;
  for (int b = 0; b < 8; ++b) len |= uint64_t(uint8_t(bytes[size_t(b)])) << (8 * b);
  std::string header = bytes.substr(8, len), data = bytes.substr(8 + len);
  size_t at = header.find("\"seed\":\"");
  REQUIRE(at != std::string::npos);
  header = header.substr(0, at + 8) + seed + header.substr(header.find('"', at + 8));
  while (header.size() % 8) header += ' ';
  std::string out(8, '\0');
  for (int b = 0; b < 8; ++b) out[size_t(b)] = char((uint64_t(header.size()) >> (8 * b)) & 0xff);
  return out + header + data;
}

/// Batch norm and dropout: state, and masks drawn from the seed and step.
const char *kNet = R"(model ck {
  input x : [4]
  label y : class(2)
  param A : [6, 4] ~ he
  param B : [2, 6] ~ glorot
  w = B @ dropout(relu(batch_norm(A @ x)), 0.3)
  output p = softmax(w)
  loss cross_entropy(w, y)
}
train ck { optimizer adam(lr = 0.01) }
)";

std::unique_ptr<Model> compileNet(const std::string &text, uint64_t seed) {
  CompileOptions o;
  o.maxBatch = 8;
  o.seed = seed;
  CompileResult r = compileString(text, o);
  INFO(r.rendered);
  REQUIRE(r);
  return std::move(r.model);
}

/// The batch of step `k`: 8 rows, labels by the sign of a feature.
struct Batch {
  std::vector<float> x;
  std::vector<int32_t> y;
  explicit Batch(int k) {
    for (int i = 0; i < 32; ++i) x.push_back(float(std::sin(0.7 * i + 1.3 * k)));
    for (int i = 0; i < 8; ++i) y.push_back(x[size_t(4 * i)] > 0);
  }
};

void steps(Model &m, int first, int count) {
  for (int k = first; k < first + count; ++k) {
    Batch b(k);
    const float *in[] = {b.x.data()};
    const void *lab[] = {b.y.data()};
    REQUIRE(m.trainStep(8, in, lab) == DLC_OK);
  }
}

/// Every param, optimizer and model state float: what must match after a resume.
std::vector<float> everything(Model &m) {
  std::span<float> s = m.trainingState();
  return {s.begin(), s.end()};
}

std::vector<float> stateOf(const Model &m, const char *name, size_t count) {
  std::vector<float> v(count);
  REQUIRE(m.getState(name, v) == DLC_OK);
  return v;
}

} // namespace

TEST_CASE("a checkpoint holds the model state and the seed, and a resumed run equals an uninterrupted one",
          "[state][checkpoint]") {
  std::string dir = tempDir("dlc-state");
  auto whole = compileNet(kNet, 1);
  steps(*whole, 0, 6);
  auto first = compileNet(kNet, 1);
  steps(*first, 0, 3);
  REQUIRE(first->save(dir + "/half.st") == DLC_OK);
  std::string bytes = readBytes(dir + "/half.st");
  CHECK(bytes.find("\"bn1.running_mean\"") != std::string::npos);
  CHECK(bytes.find("\"seed\":\"1\"") != std::string::npos);

  // A model created with another seed resumes with the checkpoint's: the
  // same state and the same dropout masks as the uninterrupted run.
  auto resumed = compileNet(kNet, 99);
  REQUIRE(resumed->load(dir + "/half.st") == DLC_OK);
  CHECK(stateOf(*resumed, "bn1.running_var", 6) == stateOf(*first, "bn1.running_var", 6));
  steps(*resumed, 3, 3);
  CHECK(everything(*resumed) == everything(*whole));
  CHECK(stateOf(*resumed, "bn1.running_mean", 6) == stateOf(*whole, "bn1.running_mean", 6));

  // Without the seed (a checkpoint from before ABI 3) the masks are seed 99's: another run.
  std::string noSeed = bytes;
  noSeed.replace(noSeed.find("\"seed\""), 6, "\"sead\"");
  std::ofstream(dir + "/noseed.st", std::ios::binary) << noSeed;
  auto other = compileNet(kNet, 99);
  REQUIRE(other->load(dir + "/noseed.st") == DLC_OK);
  steps(*other, 3, 3);
  CHECK(everything(*other) != everything(*whole));
  llvm::sys::fs::remove_directories(dir);
}

TEST_CASE("a checkpoint without a state tensor, or with a bad seed, is a format error that changes nothing",
          "[state][checkpoint][hostile]") {
  std::string dir = tempDir("dlc-state");
  // The same model without batch norm: the same params, no state.
  std::string plain = kNet;
  plain.replace(plain.find("batch_norm(A @ x)"), 17, "A @ x");
  auto without = compileNet(plain, 1);
  steps(*without, 0, 2);
  REQUIRE(without->save(dir + "/plain.st") == DLC_OK);
  auto bn = compileNet(kNet, 1);
  steps(*bn, 0, 1);
  std::vector<float> before = everything(*bn);
  CHECK(bn->load(dir + "/plain.st") == DLC_ERR_FORMAT);
  CHECK_THAT(bn->lastError(), Catch::Contains("has no tensor 'bn1.running_mean' (state of the model"));
  CHECK(everything(*bn) == before);

  REQUIRE(bn->save(dir + "/good.st") == DLC_OK);
  std::string good = readBytes(dir + "/good.st");
  for (const char *seed : {"1x", "18446744073709551616", "", "-1"}) {
    INFO("seed \"" << seed << "\"");
    std::ofstream(dir + "/bad.st", std::ios::binary) << withSeed(good, seed);
    CHECK(bn->load(dir + "/bad.st") == DLC_ERR_FORMAT);
    CHECK_THAT(bn->lastError(), Catch::Contains("bad seed"));
    CHECK(everything(*bn) == before);
  }
  // A checkpoint with state loads into the plain model (the state is not its).
  CHECK(without->load(dir + "/good.st") == DLC_OK);
  llvm::sys::fs::remove_directories(dir);
}

TEST_CASE("the shared library lists the state after the params and reads and writes it by name", "[state][aot]") {
  std::string dir = tempDir("dlc-state");
  DiagnosticEngine diags;
  auto g = compile(kNet, diags);
  REQUIRE(g);
  PassContext ctx(diags);
  REQUIRE(runPipeline(g, defaultPipeline(), ctx));
  AOTOptions opts;
  opts.outputPath = dir + "/ck.so";
  opts.maxBatch = 8;
  INFO(renderDiagnostics(diags));
  REQUIRE(buildSharedLibrary(*g, opts, diags));
  std::string header = readBytes(dir + "/ck.h");
  CHECK(header.find("int ck_get_state(const ck *m, const char *name, float *data, int64_t count);") !=
        std::string::npos);
  CHECK(header.find("STATE    bn1.running_var") != std::string::npos);
  void *lib = dlopen(opts.outputPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  REQUIRE(lib);
  auto api = reinterpret_cast<const dlc_api *(*)()>(dlsym(lib, "dlc_get_api"))();
  REQUIRE(api->abi_version == 3);
  std::vector<std::pair<std::string, dlc_role>> table;
  for (int i = 0; i < api->tensor_count; ++i) table.push_back({api->tensors[i].name, api->tensors[i].role});
  CHECK(table == std::vector<std::pair<std::string, dlc_role>>{{"x", DLC_ROLE_INPUT},
                                                               {"y", DLC_ROLE_LABEL},
                                                               {"A", DLC_ROLE_PARAM},
                                                               {"B", DLC_ROLE_PARAM},
                                                               {"bn1.running_mean", DLC_ROLE_STATE},
                                                               {"bn1.running_var", DLC_ROLE_STATE},
                                                               {"p", DLC_ROLE_OUTPUT}});
  dlc_model *m = nullptr;
  REQUIRE(api->create(5, &m) == DLC_OK);
  float mean[6], var[6];
  REQUIRE(api->get_state(m, "bn1.running_mean", mean, 6) == DLC_OK);
  REQUIRE(api->get_state(m, "bn1.running_var", var, 6) == DLC_OK);
  for (int c = 0; c < 6; ++c) CHECK((mean[c] == 0 && var[c] == 1)); // create: the init of each
  CHECK(api->get_state(m, "A", mean, 6) == DLC_ERR_NAME);
  CHECK_THAT(api->last_error(m), Catch::Contains("no state tensor named 'A' (it is a param: get_param)"));
  CHECK(api->get_param(m, "bn1.running_mean", mean, 6) == DLC_ERR_NAME);
  CHECK(api->set_state(m, "bn1.running_var", var, 5) == DLC_ERR_SIZE);
  // model_state: both tensors, contiguous (each padded to 16 floats), inside training_state.
  float *state = nullptr, *all = nullptr;
  int64_t count = 0, allCount = 0;
  REQUIRE(api->model_state(m, &state, &count) == DLC_OK);
  REQUIRE(api->training_state(m, &all, &allCount) == DLC_OK);
  CHECK(count == 32);
  CHECK((state >= all && state + count <= all + allCount));
  // A train step writes the state; forward reads it and leaves it.
  Batch b(0);
  const float *in[] = {b.x.data()};
  const void *lab[] = {b.y.data()};
  REQUIRE(api->train_step(m, 8, in, lab, nullptr) == DLC_OK);
  REQUIRE(api->get_state(m, "bn1.running_var", var, 6) == DLC_OK);
  for (int c = 0; c < 6; ++c) CHECK(var[c] != 1);
  for (int c = 0; c < 6; ++c) var[c] = 4;
  REQUIRE(api->set_state(m, "bn1.running_var", var, 6) == DLC_OK);
  float p[16];
  float *out[] = {p};
  REQUIRE(api->forward(m, 8, in, out) == DLC_OK);
  float got[6];
  REQUIRE(api->get_state(m, "bn1.running_var", got, 6) == DLC_OK);
  CHECK(std::vector<float>(got, got + 6) == std::vector<float>(6, 4.0f));
  api->destroy(m);
  dlclose(lib);
  llvm::sys::fs::remove_directories(dir);
}

TEST_CASE("data-parallel ranks average their shards' running statistics like their gradients", "[state][parallel]") {
  CompileOptions o;
  o.maxBatch = 8;
  CompileResult r = compileString("model dp {\n  input x : [2]\n  label t : [2]\n  param s : [2] ~ ones\n"
                                  "  loss sum((batch_norm(x, momentum = 0.5) * s - t)^2)\n}\n",
                                  o);
  INFO(r.rendered);
  REQUIRE(r);
  Model &m = *r.model;
  std::vector<float> x = {1, 10, 2, 20, 3, 30, 6, 60, 8, 80, 10, 100};
  for (int ranks : {2, 3}) {
    std::vector<float> reset = {0, 0};
    REQUIRE(m.setState("bn1.running_mean", reset) == DLC_OK);
    DataParallel dp;
    dp.simulatedRanks = ranks;
    double lossSum = 0;
    int64_t rows = 0;
    std::string err;
    std::vector<float> t(12, 0.5f);
    bool ok = dp.step(m, 6, x.data(), t.data(), 2, 2 * sizeof(float), lossSum, rows, err);
    INFO(err);
    REQUIRE(ok);
    CHECK(rows == 6);
    // Each shard of 6 / ranks rows moves the state from 0 toward its mean;
    // the average weighted by rows is the global batch's (equal shards).
    std::vector<float> mean = stateOf(m, "bn1.running_mean", 2);
    INFO(ranks << " ranks");
    CHECK(std::fabs(mean[0] - 0.5 * 5.0) < 1e-5);
    CHECK(std::fabs(mean[1] - 0.5 * 50.0) < 1e-4);
  }
}

TEST_CASE("a trained checkpoint loads into the forward-only build, whose forward uses its running statistics",
          "[state][checkpoint]") {
  std::string dir = tempDir("dlc-state");
  auto trained = compileNet(kNet, 1);
  steps(*trained, 0, 4);
  REQUIRE(trained->save(dir + "/trained.st") == DLC_OK);
  std::string deployed = kNet;
  deployed.erase(deployed.find("  loss"), std::string("  loss cross_entropy(w, y)\n").size());
  auto forwardOnly = compileNet(deployed, 7);
  CHECK_FALSE(forwardOnly->hasLoss());
  REQUIRE(forwardOnly->load(dir + "/trained.st") == DLC_OK);
  Batch b(9);
  std::vector<float> want(16), got(16);
  const float *in[] = {b.x.data()};
  float *outWant[] = {want.data()}, *outGot[] = {got.data()};
  REQUIRE(trained->forward(8, in, outWant) == DLC_OK);
  REQUIRE(forwardOnly->forward(8, in, outGot) == DLC_OK);
  for (size_t i = 0; i < got.size(); ++i) CHECK(std::fabs(got[i] - want[i]) <= 1e-6);
  CHECK(stateOf(*forwardOnly, "bn1.running_var", 6) != std::vector<float>(6, 1.0f));
  llvm::sys::fs::remove_directories(dir);
}
