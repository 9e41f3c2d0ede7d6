//===- tests/onnx/OnnxTest.cpp - ONNX import and export -------------------===//
//
// The importer against ONNX's own backend tests (Debian's libonnx-testdata:
// node tests and pytorch-converted cases, rtol 1e-4, atol 1e-5) and against
// PyTorch autograd (models exported by export_torch.py: forward outputs,
// loss and every param gradient); clean errors for what it does not import;
// and export -> import round trips of dlc's own examples.
//
//===----------------------------------------------------------------------===//
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <onnx/onnx_pb.h>

#include "dlc/dlc.hpp"
#include "frontend/IRGen.h"
#include "onnx/OnnxExport.h"
#include "onnx/OnnxImport.h"
#include "passes/Pass.h"

using namespace dlc;
using namespace dlc::onnx_import;
namespace fs = std::filesystem;

namespace {

std::string readBytes(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

NamedTensor readTensor(const fs::path &p) {
  auto t = readTensorProto(readBytes(p));
  REQUIRE(bool(t));
  return *t;
}

int64_t count(const std::vector<int64_t> &dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d < 0 ? 1 : d; // -1 marks the batch dim in the tensor table
  return n;
}

/// Compiles imported .net text and sets its params to the imported values.
std::unique_ptr<Model> compileImported(const ImportedModel &m, int64_t batch) {
  CompileOptions options;
  options.maxBatch = batch;
  CompileResult r = compileString(m.netText, options);
  INFO(m.netText << r.rendered);
  REQUIRE(bool(r));
  for (const NamedTensor &p : m.params) REQUIRE(r.model->setParam(p.name, p.values) == DLC_OK);
  return std::move(r.model);
}

/// Runs forward on one batch; returns each output's values.
std::vector<std::vector<float>> forward(Model &m, int64_t n, const std::vector<const float *> &inputs) {
  std::vector<std::vector<float>> outs;
  for (const dlc_tensor_info &t : m.tensors()) {
    if (t.role != DLC_ROLE_OUTPUT) continue;
    int64_t k = n;
    for (int r = 0; r < t.rank; ++r) k *= t.dims[r] < 0 ? 1 : t.dims[r];
    outs.emplace_back(size_t(k));
  }
  std::vector<float *> ptrs;
  for (auto &o : outs) ptrs.push_back(o.data());
  REQUIRE(m.forward(n, inputs, ptrs) == DLC_OK);
  return outs;
}

void requireClose(const std::vector<float> &got, const std::vector<float> &want, double rtol, double atol,
                  const std::string &what) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double excess = std::fabs(double(got[i]) - want[i]) - (atol + rtol * std::fabs(double(want[i])));
    if (excess > worst) worst = excess, at = i;
  }
  INFO(what << ": element " << at << " is " << got[at] << ", expected " << want[at]);
  CHECK(worst <= 0);
}

const fs::path kTestData = "/usr/share/libonnx-testdata/data";

/// One backend test: its folder and which of its graph inputs are constants
/// (weights, shapes) rather than batched data; those become initializers.
struct BackendCase {
  const char *dir;
  std::vector<std::string> constInputs;
  /// Another opset to declare: the file's is below what dlc imports, and the
  /// op is the same at this one (GlobalMaxPool-1 is the op of opsets 1 to 17).
  int64_t opset = 0;
};

/// The test's model with its constant inputs made initializers (from the
/// test data); `batched`, if given, receives the other inputs' data, in order.
std::string bindConstInputs(const BackendCase &c, std::vector<NamedTensor> *batched) {
  fs::path dir = kTestData / c.dir;
  ::onnx::ModelProto model;
  REQUIRE(model.ParseFromString(readBytes(dir / "model.onnx")));
  fs::path data = dir / "test_data_set_0";
  auto *graph = model.mutable_graph();
  std::set<std::string> initialized;
  for (const auto &t : graph->initializer()) initialized.insert(t.name());
  ::onnx::GraphProto kept = *graph;
  kept.clear_input();
  for (int i = 0, k = 0; i < graph->input_size(); ++i) {
    const std::string &name = graph->input(i).name();
    if (initialized.count(name)) continue;
    fs::path file = data / fmt::format("input_{}.pb", k++);
    if (std::find(c.constInputs.begin(), c.constInputs.end(), name) != c.constInputs.end()) {
      auto *t = kept.add_initializer();
      REQUIRE(t->ParseFromString(readBytes(file)));
      t->set_name(name);
    } else {
      *kept.add_input() = graph->input(i);
      if (batched) batched->push_back(readTensor(file));
    }
  }
  *graph = kept;
  if (c.opset) model.mutable_opset_import(0)->set_version(c.opset);
  return model.SerializeAsString();
}

void runBackendCase(const BackendCase &c) {
  INFO(c.dir);
  std::vector<NamedTensor> batched;
  std::string bytes = bindConstInputs(c, &batched);
  fs::path data = kTestData / c.dir / "test_data_set_0";
  ImportOptions options;
  options.loss = LossKind::None;
  options.sourceName = c.dir;
  auto imported = importOnnx(bytes, options);
  if (!imported) FAIL(llvm::toString(imported.takeError()));
  REQUIRE(!batched.empty());
  int64_t n = batched[0].dims[0];
  auto m = compileImported(*imported, n);
  std::vector<const float *> inputs;
  for (const NamedTensor &t : batched) inputs.push_back(t.values.data());
  auto outs = forward(*m, n, inputs);
  for (size_t k = 0; k < outs.size(); ++k) {
    NamedTensor want = readTensor(data / fmt::format("output_{}.pb", k));
    REQUIRE(count(want.dims) == int64_t(outs[k].size()));
    requireClose(outs[k], want.values, 1e-4, 1e-5, fmt::format("{} output {}", c.dir, k));
  }
}

std::string importError(const std::string &dir, const std::vector<std::string> &constInputs = {}) {
  std::string bytes = bindConstInputs({dir.c_str(), constInputs}, nullptr);
  ImportOptions options;
  options.loss = LossKind::None;
  options.sourceName = dir;
  auto imported = importOnnx(bytes, options);
  REQUIRE(!bool(imported));
  return llvm::toString(imported.takeError());
}

} // namespace

TEST_CASE("ONNX node tests of the imported ops match the reference outputs", "[onnx][backend]") {
  const std::vector<BackendCase> cases = {
      {"node/test_add", {}}, {"node/test_add_bcast", {"y"}}, {"node/test_sub", {}}, {"node/test_sub_bcast", {"y"}},
      {"node/test_sub_example", {}}, {"node/test_mul", {}}, {"node/test_mul_bcast", {"y"}},
      {"node/test_mul_example", {}}, {"node/test_div", {}}, {"node/test_div_bcast", {"y"}},
      {"node/test_div_example", {}}, {"node/test_relu", {}}, {"node/test_sigmoid", {}},
      {"node/test_sigmoid_example", {}}, {"node/test_tanh", {}}, {"node/test_tanh_example", {}},
      {"node/test_exp", {}}, {"node/test_exp_example", {}}, {"node/test_log", {}}, {"node/test_log_example", {}},
      {"node/test_identity", {}},
      {"node/test_gemm_default_no_bias", {"b"}}, {"node/test_gemm_default_vector_bias", {"b", "c"}},
      {"node/test_gemm_default_zero_bias", {"b", "c"}}, {"node/test_gemm_default_scalar_bias", {"b", "c"}},
      {"node/test_gemm_default_single_elem_vector_bias", {"b", "c"}}, {"node/test_gemm_default_matrix_bias", {"b"}},
      {"node/test_gemm_alpha", {"b", "c"}}, {"node/test_gemm_beta", {"b", "c"}}, {"node/test_gemm_transposeB", {"b", "c"}},
      {"node/test_matmul_2d", {"b"}},
      {"node/test_basic_conv_with_padding", {"W"}}, {"node/test_basic_conv_without_padding", {"W"}},
      {"node/test_conv_with_strides_padding", {"W"}}, {"node/test_conv_with_strides_no_padding", {"W"}},
      {"node/test_flatten_axis1", {}}, {"node/test_flatten_default_axis", {}}, {"node/test_flatten_negative_axis3", {}},
      {"node/test_reshape_reduced_dims", {"shape"}}, {"node/test_reshape_extended_dims", {"shape"}},
      {"node/test_reshape_negative_dim", {"shape"}},
      {"node/test_reshape_reordered_last_dims", {"shape"}}, {"node/test_reshape_zero_dim", {"shape"}},
      {"node/test_reshape_zero_and_negative_dim", {"shape"}},
      {"node/test_softmax_axis_1", {}}, {"node/test_softmax_axis_2", {}}, {"node/test_softmax_default_axis", {}},
      {"node/test_softmax_example", {}}, {"node/test_softmax_large_number", {}}, {"node/test_softmax_negative_axis", {}},
      {"node/test_softmax_axis_1_expanded", {}}, {"node/test_softmax_default_axis_expanded", {}},
      {"node/test_logsoftmax_axis_1", {}}, {"node/test_logsoftmax_axis_2", {}}, {"node/test_logsoftmax_default_axis", {}},
      {"node/test_logsoftmax_example_1", {}}, {"node/test_logsoftmax_large_number", {}},
      {"node/test_logsoftmax_negative_axis", {}}, {"node/test_logsoftmax_axis_2_expanded", {}},
      {"node/test_logsoftmax_large_number_expanded", {}},
      {"node/test_maxpool_2d_default", {}}, {"node/test_maxpool_2d_pads", {}}, {"node/test_maxpool_2d_strides", {}},
      {"node/test_maxpool_2d_same_upper", {}}, {"node/test_maxpool_2d_same_lower", {}},
      {"node/test_maxpool_2d_precomputed_pads", {}}, {"node/test_maxpool_2d_precomputed_strides", {}},
      {"node/test_maxpool_2d_precomputed_same_upper", {}},
      {"node/test_averagepool_2d_default", {}}, {"node/test_averagepool_2d_pads", {}},
      {"node/test_averagepool_2d_pads_count_include_pad", {}}, {"node/test_averagepool_2d_strides", {}},
      {"node/test_averagepool_2d_same_upper", {}}, {"node/test_averagepool_2d_same_lower", {}},
      {"node/test_averagepool_2d_precomputed_pads", {}}, {"node/test_averagepool_2d_precomputed_pads_count_include_pad", {}},
      {"node/test_averagepool_2d_precomputed_strides", {}}, {"node/test_averagepool_2d_precomputed_same_upper", {}},
      {"node/test_globalmaxpool", {}, 13}, {"node/test_globalmaxpool_precomputed", {}, 13},
      {"node/test_globalaveragepool", {}, 13}, {"node/test_globalaveragepool_precomputed", {}, 13},
  };
  for (const BackendCase &c : cases) runBackendCase(c);
}

TEST_CASE("ONNX pytorch-converted cases match the reference outputs", "[onnx][backend]") {
  for (const char *dir : {"test_Linear", "test_Linear_no_bias", "test_Conv2d", "test_Conv2d_no_bias",
                          "test_Conv2d_padding", "test_Conv2d_strided", "test_ReLU", "test_Sigmoid", "test_Tanh",
                          "test_Softmax", "test_LogSoftmax", "test_log_softmax_dim3", "test_log_softmax_lastdim",
                          "test_AvgPool2d", "test_AvgPool2d_stride", "test_MaxPool2d"})
    runBackendCase({(std::string("pytorch-converted/") + dir).c_str(), {}});
}

TEST_CASE("ONNX cases outside the subset are errors naming the node and op", "[onnx][errors]") {
  CHECK_THAT(importError("node/test_softmax_axis_0"), Catch::Contains("(Softmax): axis 0 is the batch dim"));
  CHECK_THAT(importError("node/test_flatten_axis0"), Catch::Contains("(Flatten): axis = 0 would merge the batch dim"));
  CHECK_THAT(importError("node/test_maxpool_2d_ceil"), Catch::Contains("(MaxPool): ceil_mode = 1 is not supported"));
  CHECK_THAT(importError("node/test_averagepool_2d_ceil"), Catch::Contains("(AveragePool): ceil_mode = 1 is not supported"));
  CHECK_THAT(importError("node/test_maxpool_2d_dilations"),
             Catch::Contains("(MaxPool): dilations [2, 2]: dilated pooling is not supported"));
  CHECK_THAT(importError("node/test_maxpool_with_argmax_2d_precomputed_pads"),
             Catch::Contains("(MaxPool): the Indices output is not supported"));
  CHECK_THAT(importError("node/test_maxpool_1d_default"), Catch::Contains("(MaxPool): dlc pools a batch of [C, H, W] images"));
  CHECK_THAT(importError("node/test_averagepool_3d_default"),
             Catch::Contains("(AveragePool): dlc pools a batch of [C, H, W] images"));
  CHECK_THAT(importError("node/test_conv_with_autopad_same", {"W"}), Catch::Contains("(Conv): auto_pad = SAME_LOWER is not supported"));
  CHECK_THAT(importError("node/test_reshape_negative_extended_dims", {"shape"}),
             Catch::Contains("(Reshape): the target shape [-1, 2, 3, 4] does not hold the 12 elements of a sample"));
  CHECK_THAT(importError("node/test_reshape_reordered_all_dims", {"shape"}),
             Catch::Contains("(Reshape): the target shape [4, 2, 3] changes the batch dim"));
  CHECK_THAT(importError("node/test_gemm_transposeA", {"b", "c"}), Catch::Contains("(Gemm): transA = 1 would transpose the batch dim"));
  CHECK_THAT(importError("node/test_matmul_3d", {"b"}), Catch::Contains("(MatMul): operands above rank 2 per sample"));
  CHECK_THAT(importError("node/test_add_uint8"), Catch::Contains("graph input 'x' is not a float tensor"));
  CHECK_THAT(importError("node/test_constant"), Catch::Contains("the graph has no input"));
  CHECK_THAT(importError("node/test_leakyrelu"), Catch::Contains("op 'LeakyRelu' is not supported by dlc import"));
  CHECK_THAT(importError("pytorch-converted/test_Conv2d_groups"), Catch::Contains("(Conv): group = 2 is not supported"));
}

TEST_CASE("A malformed or truncated ONNX file is an error, not a crash", "[onnx][errors]") {
  ImportOptions options;
  options.sourceName = "bad.onnx";
  auto garbage = importOnnx(std::string("\x0a\xff\xff\xff\x0f this is not protobuf", 26), options);
  REQUIRE(!bool(garbage));
  CHECK_THAT(llvm::toString(garbage.takeError()), Catch::Contains("bad.onnx: error: not an ONNX model"));
  std::string model = readBytes(kTestData / "node/test_relu/model.onnx");
  for (size_t cut : {size_t(3), model.size() / 2, model.size() - 1}) {
    auto r = importOnnx(model.substr(0, cut), options);
    if (r) continue; // a prefix can itself be a valid message; it must then import cleanly
    CHECK_THAT(llvm::toString(r.takeError()), Catch::StartsWith("bad.onnx: error:"));
  }
  ::onnx::ModelProto m;
  REQUIRE(m.ParseFromString(model));
  m.mutable_graph()->mutable_node(0)->set_input(0, "nowhere");
  auto dangling = importOnnx(m.SerializeAsString(), options);
  REQUIRE(!bool(dangling));
  CHECK_THAT(llvm::toString(dangling.takeError()), Catch::Contains("(Relu): uses 'nowhere', which no earlier node"));
}

namespace {

const fs::path kTorchDir = DLC_TORCH_DIR; // written by export_torch.py (the onnx_torch_export fixture)

ImportedModel importFile(const fs::path &p, LossKind loss) {
  ImportOptions options;
  options.loss = loss;
  options.sourceName = p.filename().string();
  options.modelName = p.stem().string();
  auto imported = importOnnx(readBytes(p), options);
  if (!imported) FAIL(llvm::toString(imported.takeError()));
  return *imported;
}

} // namespace

TEST_CASE("PyTorch-exported models: outputs, loss and param gradients match autograd", "[onnx][torch]") {
  for (const char *name : {"mlp", "cnn", "cnn_pool"}) {
    INFO(name);
    ImportedModel imported = importFile(kTorchDir / (std::string(name) + ".onnx"), LossKind::Auto);
    INFO(imported.netText);
    NamedTensor x = readTensor(kTorchDir / (std::string(name) + ".x.pb"));
    NamedTensor y = readTensor(kTorchDir / (std::string(name) + ".y.pb"));
    int64_t n = x.dims[0];
    auto m = compileImported(imported, n);
    REQUIRE(m->hasLoss());
    auto outs = forward(*m, n, {x.values.data()});
    REQUIRE(outs.size() == 1);
    requireClose(outs[0], readTensor(kTorchDir / (std::string(name) + ".out.pb")).values, 1e-4, 1e-5, "outputs");
    std::vector<int32_t> labels(y.values.begin(), y.values.end());
    const float *inputs[] = {x.values.data()};
    const void *labelPtrs[] = {labels.data()};
    float loss = 0;
    REQUIRE(m->lossAndGrad(n, inputs, labelPtrs, &loss) == DLC_OK);
    requireClose({loss}, readTensor(kTorchDir / (std::string(name) + ".loss.pb")).values, 1e-4, 1e-5, "loss");
    REQUIRE(imported.params.size() >= 4);
    for (const NamedTensor &p : imported.params) {
      std::vector<float> grad(p.values.size());
      REQUIRE(m->getGrad(p.name, grad) == DLC_OK);
      NamedTensor want = readTensor(kTorchDir / fmt::format("{}.grad.{}.pb", name, p.source));
      requireClose(grad, want.values, 1e-4, 1e-5, "d loss / d " + p.source);
    }
  }
}

/// Strided, padded and overlapping pooling, counting the padding or not.
const char *kPoolsModel = R"(model pools {
  input x : [2, 9, 9]
  a = maxpool2d(x, 3, stride = 2, pad = 1)
  b = avgpool2d(x, [3, 2], stride = [2, 1], pad = [1, 0, 2, 1], count_include_pad = 1)
  c = avgpool2d(a, 2, stride = 1, pad = [1, 0, 0, 1])
  output a
  output b
  output c
}
)";

/// Dropout (the identity at inference: ONNX Identity), a layer norm, a
/// slice of a hidden layer scaled by a tensor literal, and a concat.
const char *kLayersModel = R"(model layers2 {
  input x : [2, 5]
  param A : [4, 5] ~ he
  h = dropout(relu(A @ layer_norm(x[0])), 0.5)
  output y = concat(h[1:3] * [2, 3], h)
  output z = concat(x[:, 1:4] * [[1, 2, 3], [4, 5, 6]], x, axis = 1)
}
)";

TEST_CASE("Export -> import round trips preserve the outputs of dlc's examples", "[onnx][export]") {
  for (const char *example : {"mnist_mlp.net", "mnist_cnn.net", "residual.net", "layers.net", "pools", "layers2"}) {
    INFO(example);
    std::stringstream ss;
    if (std::string(example) == "pools") ss << kPoolsModel;
    else if (std::string(example) == "layers2") ss << kLayersModel;
    else ss << std::ifstream(fs::path(DLC_EXAMPLES_DIR) / example).rdbuf();
    const int64_t n = 3;
    CompileOptions options;
    options.maxBatch = n;
    CompileResult original = compileString(ss.str(), options);
    REQUIRE(bool(original));
    onnx_export::ParamValues values;
    for (const dlc_tensor_info &t : original.model->tensors()) {
      if (t.role != DLC_ROLE_PARAM) continue;
      std::vector<int64_t> dims(t.dims, t.dims + t.rank);
      std::vector<float> v(size_t(count(dims)));
      REQUIRE(original.model->getParam(t.name, v) == DLC_OK);
      values[t.name] = v;
    }
    DiagnosticEngine diags;
    auto file = std::make_shared<SourceFile>();
    file->name = example;
    file->text = ss.str();
    std::unique_ptr<Graph> g = compileNet(file, diags);
    REQUIRE(g);
    PassContext ctx(diags);
    REQUIRE(runPipeline(g, {"batch"}, ctx));
    auto bytes = onnx_export::exportOnnx(*g, values);
    if (!bytes) FAIL(llvm::toString(bytes.takeError()));
    ImportOptions io;
    io.loss = LossKind::None;
    auto imported = importOnnx(*bytes, io);
    if (!imported) FAIL(llvm::toString(imported.takeError()));
    INFO(imported->netText);
    auto back = compileImported(*imported, n);
    // The same inputs through both.
    std::vector<std::vector<float>> inputs;
    std::vector<const float *> ptrs;
    uint32_t state = 12345;
    for (const dlc_tensor_info &t : original.model->tensors()) {
      if (t.role != DLC_ROLE_INPUT) continue;
      std::vector<int64_t> dims(t.dims, t.dims + t.rank);
      inputs.emplace_back(size_t(n * count(dims)));
      for (float &v : inputs.back()) v = float((state = state * 1664525u + 1013904223u) >> 8) / float(1 << 24);
      ptrs.push_back(inputs.back().data());
    }
    auto want = forward(*original.model, n, ptrs);
    auto got = forward(*back, n, ptrs);
    REQUIRE(got.size() == want.size());
    for (size_t k = 0; k < got.size(); ++k) requireClose(got[k], want[k], 1e-4, 1e-6, "output");
  }
}
