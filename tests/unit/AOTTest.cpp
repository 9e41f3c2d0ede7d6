//===- tests/unit/AOTTest.cpp - Compiled libraries match the interpreter --===//
//
// Builds each example's shared library, loads it with dlopen through
// dlc/abi.h only, and compares forward, loss, every gradient and one train
// step with the reference interpreter.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <dlfcn.h>
#include <fstream>

#include <llvm/Support/FileSystem.h>

#include "TestUtil.h"
#include "codegen/AOT.h"
#include "dlc/abi.h"
#include "ir/Interpreter.h"
#include "passes/Pass.h"

using namespace dlc;
using namespace dlc::test;

namespace {

void checkClose(const std::vector<float> &got, const Tensor &want, const std::string &what) {
  REQUIRE(got.size() == want.size());
  double scale = 1e-6;
  for (double v : want.data) scale = std::max(scale, std::fabs(v));
  for (size_t e = 0; e < want.size(); ++e) {
    INFO(what << "[" << e << "]: library " << got[e] << ", interpreter " << want[e]);
    // 1e-4 relative to the tensor's largest entry: float rounding of long sums shows up
    // in small entries that result from cancellation.
    CHECK(std::fabs(got[e] - want[e]) <= 1e-4 * (std::fabs(want[e]) + scale));
  }
}

/// Builds an example's library (after the default pipeline) into `dir`, loads
/// it with dlopen and returns its API; `graph` receives the compiled graph.
const dlc_api *buildAndLoad(const std::string &example, const std::string &dir, int64_t maxBatch,
                            std::unique_ptr<Graph> *graph = nullptr) {
  DiagnosticEngine diags;
  auto g = compile(readExample(example), diags);
  REQUIRE(g);
  PassContext ctx(diags);
  REQUIRE(runPipeline(g, defaultPipeline(), ctx));
  AOTOptions opts;
  opts.outputPath = dir + "/" + g->name + ".so";
  opts.maxBatch = maxBatch;
  INFO(renderDiagnostics(diags));
  REQUIRE(buildSharedLibrary(*g, opts, diags));
  void *lib = dlopen(opts.outputPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  INFO((lib ? "" : dlerror()));
  REQUIRE(lib);
  auto get = reinterpret_cast<const dlc_api *(*)()>(dlsym(lib, "dlc_get_api"));
  REQUIRE(get);
  if (graph) *graph = std::move(g);
  return get();
}

} // namespace

// A library and its host agree when they were built against the same
// version of dlc/abi.h. Version 3 is this layout (x86-64, LP64): version 1's
// members in their places, then the five of data-parallel training (2), then
// the three of model state (3) and the role DLC_ROLE_STATE. A change
// to a struct, an enum or a member's place must bump DLC_ABI_VERSION and this pin.
TEST_CASE("the C ABI's layout is pinned to its version", "[aot]") {
  REQUIRE(DLC_ABI_VERSION == 3);
  CHECK(DLC_MAX_RANK == 8);
  CHECK((DLC_OK == 0 && DLC_ERR_NULL == 1 && DLC_ERR_BATCH == 2 && DLC_ERR_NAME == 3 && DLC_ERR_SIZE == 4 &&
         DLC_ERR_VALUE == 5 && DLC_ERR_NOMEM == 6 && DLC_ERR_STATE == 7 && DLC_ERR_IO == 8 && DLC_ERR_FORMAT == 9 &&
         DLC_ERR_CPU == 10));
  CHECK((DLC_ROLE_INPUT == 0 && DLC_ROLE_LABEL == 1 && DLC_ROLE_PARAM == 2 && DLC_ROLE_OUTPUT == 3 &&
         DLC_ROLE_STATE == 4));
  CHECK((DLC_F32 == 0 && DLC_I32 == 1));
  CHECK(offsetof(dlc_tensor_info, name) == 0);
  CHECK(offsetof(dlc_tensor_info, role) == 8);
  CHECK(offsetof(dlc_tensor_info, dtype) == 12);
  CHECK(offsetof(dlc_tensor_info, rank) == 16);
  CHECK(offsetof(dlc_tensor_info, dims) == 24);
  CHECK(sizeof(dlc_tensor_info) == 88);
  const size_t members[] = {
      offsetof(dlc_api, abi_version),   offsetof(dlc_api, model_name), offsetof(dlc_api, max_batch),
      offsetof(dlc_api, has_loss),      offsetof(dlc_api, tensor_count), offsetof(dlc_api, tensors),
      offsetof(dlc_api, create),        offsetof(dlc_api, destroy),    offsetof(dlc_api, forward),
      offsetof(dlc_api, loss_and_grad), offsetof(dlc_api, train_step), offsetof(dlc_api, get_param),
      offsetof(dlc_api, set_param),     offsetof(dlc_api, get_grad),   offsetof(dlc_api, set_hyper),
      offsetof(dlc_api, save),          offsetof(dlc_api, load),       offsetof(dlc_api, last_error),
      offsetof(dlc_api, gradients),     offsetof(dlc_api, training_state), offsetof(dlc_api, apply_update),
      offsetof(dlc_api, get_step),      offsetof(dlc_api, set_step),   offsetof(dlc_api, get_state),
      offsetof(dlc_api, set_state),     offsetof(dlc_api, model_state)};
  const size_t pinned[] = {0, 8, 16, 24, 28, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128,
                           136, 144, 152, 160, 168, 176, 184, 192};
  for (size_t i = 0; i < std::size(pinned); ++i) {
    INFO("member " << i);
    CHECK(members[i] == pinned[i]);
  }
  CHECK(sizeof(dlc_api) == 200);
}

TEST_CASE("each example's library matches the interpreter: forward, loss, gradients, a train step", "[aot]") {
  llvm::SmallString<128> dir;
  REQUIRE(!llvm::sys::fs::createUniqueDirectory("dlc-aot-test", dir));
  const int64_t n = 3;
  for (const char *file : kExamples) {
    INFO(file);
    std::unique_ptr<Graph> g;
    const dlc_api *api = buildAndLoad(file, dir.str().str(), 4, &g);
    CHECK(api->abi_version == 3); // the version whose layout "the C ABI's layout is pinned" checks
    CHECK((api->gradients && api->training_state && api->apply_update && api->get_step && api->set_step));
    CHECK((api->get_state && api->set_state && api->model_state));
    CHECK(api->max_batch == 4);
    dlc_model *m = nullptr;
    REQUIRE(api->create(1, &m) == DLC_OK);

    // The same values on both sides: params through set_param, inputs and labels by pointer.
    Interpreter ref(*g);
    ref.bindSymbol("N", n);
    std::vector<std::vector<float>> inputs, outputs;
    std::vector<std::vector<int32_t>> classLabels;
    std::vector<const float *> inputPtrs;
    std::vector<const void *> labelPtrs;
    std::vector<float *> outputPtrs;
    inputs.reserve(16), outputs.reserve(16), classLabels.reserve(16);
    size_t k = 0;
    for (int i = 0; i < api->tensor_count; ++i) {
      const dlc_tensor_info &t = api->tensors[i];
      Node *node = g->findByName(t.name);
      REQUIRE(node);
      Tensor value(ref.resolve(node->shape()));
      if (t.role == DLC_ROLE_OUTPUT) {
        outputs.emplace_back(value.size());
        outputPtrs.push_back(outputs.back().data());
        continue;
      }
      for (size_t e = 0; e < value.size(); ++e)
        value[e] = t.dtype == DLC_I32 ? double(int64_t(e * 3 + 1) % node->attrs.getInt("classes"))
                                      : double(float(0.4 * std::cos(0.53 * double(e) + 0.7 * double(k))));
      if (t.role == DLC_ROLE_STATE) // running statistics: a variance must be positive
        for (double &v : value.data) v = double(float(1 + v));
      ++k;
      ref.set(node, value);
      if (t.role == DLC_ROLE_LABEL && t.dtype == DLC_I32) {
        classLabels.emplace_back(value.data.begin(), value.data.end());
        labelPtrs.push_back(classLabels.back().data());
      } else {
        inputs.emplace_back(value.data.begin(), value.data.end());
        if (t.role == DLC_ROLE_INPUT) inputPtrs.push_back(inputs.back().data());
        if (t.role == DLC_ROLE_LABEL) labelPtrs.push_back(inputs.back().data());
        if (t.role == DLC_ROLE_PARAM)
          REQUIRE(api->set_param(m, t.name, inputs.back().data(), int64_t(value.size())) == DLC_OK);
        if (t.role == DLC_ROLE_STATE)
          REQUIRE(api->set_state(m, t.name, inputs.back().data(), int64_t(value.size())) == DLC_OK);
      }
    }
    std::string err;
    REQUIRE(ref.run(err));
    REQUIRE(api->forward(m, n, inputPtrs.data(), outputPtrs.data()) == DLC_OK);
    size_t o = 0;
    for (Node *out : g->resultsWith(Role::Output)) checkClose(outputs[o++], ref.value(out), "output " + out->name);
    if (!api->has_loss) {
      api->destroy(m);
      continue;
    }
    float loss = 0;
    REQUIRE(api->loss_and_grad(m, n, inputPtrs.data(), labelPtrs.data(), &loss) == DLC_OK);
    checkClose({loss}, ref.value(g->result(Role::Loss)), "loss");
    for (const auto &r : g->results) {
      std::vector<float> got(ref.value(r.node).size());
      if (r.role == Role::Grad) {
        REQUIRE(api->get_grad(m, r.of->name.c_str(), got.data(), int64_t(got.size())) == DLC_OK);
        checkClose(got, ref.value(r.node), "dL/d" + r.of->name);
      } else if (r.role == Role::Update) { // loss_and_grad trained: the state took its new value
        REQUIRE(api->get_state(m, r.of->name.c_str(), got.data(), int64_t(got.size())) == DLC_OK);
        checkClose(got, ref.value(r.node), "state " + r.of->name);
        std::vector<float> before(ref.value(r.of).data.begin(), ref.value(r.of).data.end());
        REQUIRE(api->set_state(m, r.of->name.c_str(), before.data(), int64_t(before.size())) == DLC_OK);
      }
    }
    // One plain gradient step: p - lr g (SGD without momentum), or Adam's first step.
    bool adam = g->train.getString("optimizer") == "adam";
    REQUIRE(api->set_hyper(m, "lr", 0.05) == DLC_OK);
    // Each optimizer takes its own settings; the other's are a name error.
    REQUIRE(api->set_hyper(m, adam ? "weight_decay" : "momentum", 0) == DLC_OK);
    CHECK(api->set_hyper(m, adam ? "momentum" : "weight_decay", 0) == DLC_ERR_NAME);
    CHECK(std::string(api->last_error(m)).find("update does not use") != std::string::npos);
    REQUIRE(api->train_step(m, n, inputPtrs.data(), labelPtrs.data(), &loss) == DLC_OK);
    for (const auto &r : g->results) {
      if (r.role != Role::Grad) continue;
      const Tensor &gr = ref.value(r.node), &p0 = ref.value(r.of);
      Tensor want(p0.shape);
      for (size_t e = 0; e < want.size(); ++e) {
        double step = adam ? (gr[e] / (std::fabs(gr[e]) + 1e-8)) : gr[e]; // Adam's first step: m / sqrt(v) = sign(g)
        want[e] = p0[e] - 0.05 * step;
      }
      std::vector<float> p(want.size());
      REQUIRE(api->get_param(m, r.of->name.c_str(), p.data(), int64_t(p.size())) == DLC_OK);
      // Where |g| is tiny, Adam's sign(g) is not defined by the float gradient: skip those.
      for (size_t e = 0; e < want.size(); ++e) {
        if (adam && std::fabs(gr[e]) < 1e-6) continue;
        INFO("after one step, " << r.of->name << "[" << e << "]");
        CHECK(std::fabs(p[e] - want[e]) <= 1e-4 * std::max(1.0, std::fabs(want[e])));
      }
    }
    api->destroy(m);
  }
  llvm::sys::fs::remove_directories(dir);
}

namespace {

std::vector<float> allParams(const dlc_api *api, const dlc_model *m) {
  std::vector<float> out;
  for (int i = 0; i < api->tensor_count; ++i) {
    const dlc_tensor_info &t = api->tensors[i];
    if (t.role != DLC_ROLE_PARAM) continue;
    int64_t count = 1;
    for (int d = 0; d < t.rank; ++d) count *= t.dims[d];
    std::vector<float> p(static_cast<size_t>(count));
    REQUIRE(api->get_param(m, t.name, p.data(), count) == DLC_OK);
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

} // namespace

TEST_CASE("checkpoints round-trip, resume bit-identically, and reject corrupt files", "[aot][checkpoint]") {
  llvm::SmallString<128> dirBuf;
  REQUIRE(!llvm::sys::fs::createUniqueDirectory("dlc-ckpt-test", dirBuf));
  std::string dir = dirBuf.str().str();
  const dlc_api *api = buildAndLoad("mnist_mlp.net", dir, 8); // Adam: params, m and v
  const int64_t n = 8;
  std::vector<float> x(size_t(n * 784));
  std::vector<int32_t> y(static_cast<size_t>(n));
  for (size_t i = 0; i < x.size(); ++i) x[i] = float((i * 37) % 101) / 101.0f;
  for (size_t i = 0; i < y.size(); ++i) y[i] = int32_t(i % 10);
  const float *in[] = {x.data()};
  const void *lab[] = {y.data()};
  float loss;

  dlc_model *a = nullptr, *b = nullptr;
  REQUIRE(api->create(1, &a) == DLC_OK);
  REQUIRE(api->create(2, &b) == DLC_OK);
  for (int s = 0; s < 3; ++s) REQUIRE(api->train_step(a, n, in, lab, &loss) == DLC_OK);
  std::string path = dir + "/model.safetensors";
  REQUIRE(api->save(a, path.c_str()) == DLC_OK);
  // Resuming: b loads a's state; two more steps on each give identical params.
  CHECK(allParams(api, a) != allParams(api, b));
  REQUIRE(api->load(b, path.c_str()) == DLC_OK);
  CHECK(allParams(api, a) == allParams(api, b));
  for (int s = 0; s < 2; ++s) {
    REQUIRE(api->train_step(a, n, in, lab, &loss) == DLC_OK);
    REQUIRE(api->train_step(b, n, in, lab, &loss) == DLC_OK);
  }
  CHECK(allParams(api, a) == allParams(api, b)); // bit-identical: optimizer state and step came along

  // The header is plain safetensors JSON.
  std::string bytes = readBytes(path);
  REQUIRE(bytes.size() > 8);
  CHECK(bytes.find("\"A1\":{\"dtype\":\"F32\",\"shape\":[256,784],\"data_offsets\":[0,802816]}") != std::string::npos);
  CHECK(bytes.find("\"A1:m\"") != std::string::npos);
  CHECK(bytes.find("\"step\":\"3\"") != std::string::npos);

  // Corrupt files are rejected and change nothing.
  std::vector<float> before = allParams(api, b);
  auto rejects = [&](const std::string &content, dlc_status want, const char *what) {
    std::string bad = dir + "/bad.safetensors";
    std::ofstream(bad, std::ios::binary) << content;
    INFO(what << ": " << api->last_error(b));
    CHECK(api->load(b, bad.c_str()) == want);
    CHECK(allParams(api, b) == before);
  };
  rejects(bytes.substr(0, bytes.size() / 2), DLC_ERR_FORMAT, "truncated data");
  rejects(bytes.substr(0, 5), DLC_ERR_FORMAT, "truncated header size");
  std::string flipped = bytes;
  flipped[20] = '#';
  rejects(flipped, DLC_ERR_FORMAT, "malformed header");
  std::string huge = bytes;
  huge[7] = '\x7f';
  rejects(huge, DLC_ERR_FORMAT, "header size past the end");
  std::string renamed = bytes;
  renamed.replace(renamed.find("\"A1\""), 4, "\"Q1\"");
  rejects(renamed, DLC_ERR_FORMAT, "a missing param");
  std::string reshaped = bytes;
  reshaped.replace(reshaped.find("[256,784]"), 9, "[784,256]");
  rejects(reshaped, DLC_ERR_FORMAT, "a wrong shape");
  std::string other = bytes;
  other.replace(other.find("mnist_mlp"), 9, "mnist_xyz");
  rejects(other, DLC_ERR_FORMAT, "another model's checkpoint");
  CHECK(api->load(b, (dir + "/missing").c_str()) == DLC_ERR_IO);
  CHECK(api->load(b, nullptr) == DLC_ERR_NULL);

  // A save that cannot complete leaves the old checkpoint as it was.
  REQUIRE(llvm::sys::fs::create_directory(path + ".tmp") == std::error_code());
  CHECK(api->save(a, path.c_str()) == DLC_ERR_IO);
  CHECK(readBytes(path) == bytes);
  api->destroy(a);
  api->destroy(b);
  llvm::sys::fs::remove_directories(dir);
}
