//===- codegen/AOT.cpp ----------------------------------------------------===//
#include "codegen/AOT.h"

#include <fstream>

#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/Program.h>

#include "codegen/Layout.h"
#include "codegen/Lowering.h"
#include "codegen/Target.h"

namespace dlc {

namespace {

#include "RuntimeSources.inc" // kAbiHeader, kRuntimeHeader, kRuntimeSource

/// A tensor of the model's C API, in table order.
struct ApiTensor {
  const Node *node;
  const char *role; ///< DLC_ROLE_*
  bool isClassLabel;
};

std::vector<ApiTensor> apiTensors(const Graph &g) {
  std::vector<ApiTensor> out;
  for (const auto &n : g.nodes()) {
    if (n->kind == OpKind::Input) out.push_back({n.get(), "DLC_ROLE_INPUT", false});
    if (n->kind == OpKind::Label) out.push_back({n.get(), "DLC_ROLE_LABEL", n->attrs.has("classes")});
    if (n->kind == OpKind::Param) out.push_back({n.get(), "DLC_ROLE_PARAM", false});
  }
  for (Node *o : g.resultsWith(Role::Output)) out.push_back({o, "DLC_ROLE_OUTPUT", false});
  return out;
}

std::string cIdent(const std::string &s) {
  std::string out;
  for (char c : s) out += std::isalnum((unsigned char)c) ? c : '_';
  return out;
}

bool isBatched(const Node *n) { return !n->shape().empty() && n->shape()[0].isSymbolic(); }

/// "[n, 784]"-style comment for a buffer argument.
std::string shapeComment(const Node *n) {
  std::string s = "[";
  for (size_t i = 0; i < n->shape().size(); ++i) s += (i ? ", " : "") + (n->shape()[i].isSymbolic() ? std::string("n") : n->shape()[i].str());
  return s + "]";
}

int initKind(const std::string &init) {
  static const char *names[] = {"", "zeros", "ones", "fill", "normal", "uniform", "he", "glorot"};
  for (int i = 0; i < 8; ++i)
    if (init == names[i]) return i;
  return 0;
}

/// Fan-in and fan-out of a param for he/glorot: [out, in] matrices, [O, C, KH, KW] filters.
std::pair<int64_t, int64_t> fans(const Shape &s) {
  if (!isKnown(s)) return {1, 1}; // not a param
  int64_t total = numElements(s).value_or(1);
  if (s.size() < 2) return {total, total};
  int64_t receptive = total / (s[0].value() * s[1].value());
  return {s[1].value() * receptive, s[0].value() * receptive};
}

struct Signature {
  std::string params; ///< ", const float *v0 /* [n, 784] */, ..."
  std::string setup;  ///< the pointer arrays
  std::string args;   ///< "in, out"
};

/// The typed argument list of forward or training calls.
Signature typedArgs(const std::vector<ApiTensor> &tensors, bool training) {
  Signature sig;
  std::string inputs, labels, outputs;
  for (const ApiTensor &t : tensors) {
    std::string id = cIdent(t.node->name);
    if (std::string(t.role) == "DLC_ROLE_INPUT") {
      sig.params += fmt::format(", const float *{} /* {} */", id, shapeComment(t.node));
      inputs += (inputs.empty() ? "" : ", ") + id;
    } else if (std::string(t.role) == "DLC_ROLE_LABEL" && training) {
      sig.params += fmt::format(", const {} *{} /* {} */", t.isClassLabel ? "int32_t" : "float", id, shapeComment(t.node));
      labels += (labels.empty() ? "" : ", ") + std::string("(const void *)") + id;
    } else if (std::string(t.role) == "DLC_ROLE_OUTPUT" && !training) {
      sig.params += fmt::format(", float *{} /* {} */", id, shapeComment(t.node));
      outputs += (outputs.empty() ? "" : ", ") + id;
    }
  }
  if (training) sig.params += ", float *loss";
  std::string in = inputs.empty() ? "NULL" : "in", lab = labels.empty() ? "NULL" : "lab", out = outputs.empty() ? "NULL" : "out";
  sig.setup = (inputs.empty() ? "" : "  const float *in[] = {" + inputs + "};\n") +
              (training ? (labels.empty() ? "" : "  const void *lab[] = {" + labels + "};\n")
                        : (outputs.empty() ? "" : "  float *out[] = {" + outputs + "};\n"));
  sig.args = training ? fmt::format("{}, {}, loss", in, lab) : fmt::format("{}, {}", in, out);
  return sig;
}

std::string generateDescriptor(const Graph &g, const ModelLayout &layout, const std::string &kernelPrefix) {
  std::string name = cIdent(g.name);
  std::vector<ApiTensor> tensors = apiTensors(g);
  std::unordered_map<const Node *, const Node *> gradOf;
  for (const auto &r : g.results)
    if (r.role == Role::Grad && r.of) gradOf[r.of] = r.node;
  bool hasLoss = g.result(Role::Loss) != nullptr;

  std::string infos, rts;
  for (const ApiTensor &t : tensors) {
    const Node *n = t.node;
    std::string dims;
    for (const Dim &d : n->shape()) dims += (dims.empty() ? "" : ", ") + (d.isSymbolic() ? std::string("-1") : d.str());
    infos += fmt::format("  {{\"{}\", {}, {}, {}, {{{}}}}},\n", n->name, t.role, t.isClassLabel ? "DLC_I32" : "DLC_F32",
                         n->shape().size(), dims.empty() ? "0" : dims);
    int64_t count = layout.elements(n->shape());
    if (isBatched(n)) count /= layout.capacity;
    auto grad = gradOf.find(n);
    auto state = layout.state.find(n);
    int64_t s0 = state != layout.state.end() ? state->second[0] : -1;
    int64_t s1 = state != layout.state.end() && state->second.size() > 1 ? state->second[1] : -1;
    auto [fanIn, fanOut] = fans(n->shape());
    std::vector<double> args = n->attrs.getFloats("init_args");
    rts += fmt::format("  {{{}, {}, {{{}, {}}}, {}, {}, {}, {}, {}, {}, {}, {}}},\n", layout.slots.at(n).first,
                       grad != gradOf.end() ? layout.slots.at(grad->second).first : -1, s0, s1, count,
                       isBatched(n) ? 1 : 0, n->attrs.getInt("classes"), initKind(n->attrs.getString("init")),
                       args.size() > 0 ? args[0] : 0.0, args.size() > 1 ? args[1] : 0.0, fanIn, fanOut);
  }
  const Attrs &tr = g.train;
  bool adam = tr.getString("optimizer") == "adam";
  std::string out = fmt::format(R"(/* Generated by dlc for model '{0}'. */
#include "model_runtime.h"

#include <stddef.h>

void {1}_forward(float *arena, int64_t n);
{2}
static const dlc_tensor_info infos[] = {{
{3}}};
static const dlc_rt_tensor tensors[] = {{
{4}}};
/* lr, momentum, nesterov, beta1, beta2, eps, weight_decay, c1, c2 -> slots of the kernels' hyper array */
static const int hyper_index[] = {{{5}, {6}, {7}, {8}, {9}, {10}, {11}, {12}, {13}}};
static const double hyper_default[] = {{{14}, {15}, {16}, {17}, {18}, {19}, {20}}};

static const dlc_api api;
static const dlc_rt_model model = {{&api, tensors, {21}, {22}, {23}, 9, hyper_index, hyper_default, {1}_forward, {24}, {25}}};

static dlc_status create(uint64_t seed, dlc_model **out) {{ return dlc_rt_create(&model, seed, out); }}
static const dlc_api api = {{DLC_ABI_VERSION, "{0}", {26}, {27}, {28}, infos, create, dlc_rt_destroy, dlc_rt_forward,
                            dlc_rt_loss_and_grad, dlc_rt_train_step, dlc_rt_get_param, dlc_rt_set_param, dlc_rt_get_grad,
                            dlc_rt_set_hyper, dlc_rt_last_error}};

__attribute__((visibility("default"))) const dlc_api *dlc_get_api(void) {{ return &api; }}
)",
      g.name, kernelPrefix,
      hasLoss ? fmt::format("void {0}_loss_and_grad(float *arena, int64_t n);\nvoid {0}_train_step(float *arena, int64_t n, const float *hyper);\n", kernelPrefix) : "",
      infos, rts, int(kLearningRate), int(kMomentum), int(kNesterov), int(kBeta1), int(kBeta2), int(kEpsilon),
      int(kWeightDecay), int(kCorrection1), int(kCorrection2), formatFloat(tr.getFloat("lr", adam ? 1e-3 : 0.01)),
      formatFloat(tr.getFloat("momentum", 0)), formatFloat(tr.getFloat("nesterov", 0)),
      formatFloat(tr.getFloat("beta1", 0.9)), formatFloat(tr.getFloat("beta2", 0.999)),
      formatFloat(tr.getFloat("eps", 1e-8)), formatFloat(tr.getFloat("weight_decay", 0)), layout.arenaSize,
      adam ? "DLC_OPT_ADAM" : "DLC_OPT_SGD", hasLoss ? layout.slots.at(g.result(Role::Loss)).first : -1,
      hasLoss ? kernelPrefix + "_loss_and_grad" : "NULL", hasLoss ? kernelPrefix + "_train_step" : "NULL",
      layout.capacity, hasLoss ? 1 : 0, tensors.size());

  // The typed functions of the header.
  Signature fwd = typedArgs(tensors, false), train = typedArgs(tensors, true);
  out += fmt::format(R"(
#define DLC_EXPORT __attribute__((visibility("default")))
DLC_EXPORT int {0}_create(uint64_t seed, dlc_model **out) {{ return create(seed, out); }}
DLC_EXPORT void {0}_destroy(dlc_model *m) {{ dlc_rt_destroy(m); }}
DLC_EXPORT int {0}_forward(dlc_model *m, int64_t n{1}) {{
{2}  return dlc_rt_forward(m, n, {3});
}}
DLC_EXPORT const char *{0}_last_error(const dlc_model *m) {{ return dlc_rt_last_error(m); }}
DLC_EXPORT int {0}_get_param(const dlc_model *m, const char *name, float *data, int64_t count) {{ return dlc_rt_get_param(m, name, data, count); }}
DLC_EXPORT int {0}_set_param(dlc_model *m, const char *name, const float *data, int64_t count) {{ return dlc_rt_set_param(m, name, data, count); }}
DLC_EXPORT int {0}_set_hyper(dlc_model *m, const char *key, double value) {{ return dlc_rt_set_hyper(m, key, value); }}
)",
                     name, fwd.params, fwd.setup, fwd.args);
  if (hasLoss)
    out += fmt::format(R"(DLC_EXPORT int {0}_get_grad(const dlc_model *m, const char *name, float *data, int64_t count) {{ return dlc_rt_get_grad(m, name, data, count); }}
DLC_EXPORT int {0}_loss_and_grad(dlc_model *m, int64_t n{1}) {{
{2}  return dlc_rt_loss_and_grad(m, n, {3});
}}
DLC_EXPORT int {0}_train_step(dlc_model *m, int64_t n{1}) {{
{2}  return dlc_rt_train_step(m, n, {3});
}}
)",
                       name, train.params, train.setup, train.args);
  return out;
}

bool writeFile(const std::string &path, const std::string &text, DiagnosticEngine &diags) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) diags.error({}, "cannot write '{}'", path);
  return bool(out);
}

} // namespace

std::string generateHeader(const Graph &g, int64_t capacity) {
  std::string name = cIdent(g.name);
  std::vector<ApiTensor> tensors = apiTensors(g);
  Signature fwd = typedArgs(tensors, false), train = typedArgs(tensors, true);
  std::string table;
  for (const ApiTensor &t : tensors)
    table += fmt::format(" *   {:<8} {:<12} {}{}\n", std::string(t.role).substr(9), t.node->name,
                         t.isClassLabel ? "int32 class index " : "float ", shapeComment(t.node));
  std::string guard = "DLC_MODEL_" + name + "_H";
  for (char &c : guard) c = char(std::toupper((unsigned char)c));
  std::string out = fmt::format(R"(/* {0}.h - the C API of model '{0}', generated by dlc.
 *
 * Link with {0}.so (it needs only libc and libm). Buffers hold n samples,
 * row-major, 1 <= n <= {1} (the batch capacity); "n" in a shape below is the
 * batch dim. Every int-returning call gives 0 on success or a dlc_status code
 * (see dlc/abi.h: 1 null pointer, 2 bad batch, 3 unknown name, 4 wrong size,
 * 5 value out of range, 6 out of memory, 7 no loss); {0}_last_error says why.
 *
 * Tensors:
{2} */
#ifndef {3}
#define {3}

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

typedef struct dlc_model {0};

/* A new instance: params from their initializers (seeded), optimizer state zero. */
int {0}_create(uint64_t seed, {0} **out);
void {0}_destroy({0} *m);
/* Why the last failing call on m (or create, with m null) failed. */
const char *{0}_last_error(const {0} *m);

/* The outputs for n samples. */
int {0}_forward({0} *m, int64_t n{4});
)",
                                name, capacity, table, guard, fwd.params);
  if (g.result(Role::Loss))
    out += fmt::format(R"(
/* The batch-mean loss (plus penalties) and every param's gradient (see get_grad). */
int {0}_loss_and_grad({0} *m, int64_t n{1});
/* One optimizer step: loss_and_grad, then the update; *loss is the loss before it. */
int {0}_train_step({0} *m, int64_t n{1});
int {0}_get_grad(const {0} *m, const char *name, float *data, int64_t count);
)",
                       name, train.params);
  out += fmt::format(R"(
/* Params by name; count must equal the param's element count. */
int {0}_get_param(const {0} *m, const char *name, float *data, int64_t count);
int {0}_set_param({0} *m, const char *name, const float *data, int64_t count);
/* "lr", "momentum", "nesterov", "beta1", "beta2", "eps", "weight_decay". */
int {0}_set_hyper({0} *m, const char *key, double value);

#ifdef __cplusplus
}}
#endif

#endif
)",
                     name);
  return out;
}

bool buildSharedLibrary(const Graph &g, const AOTOptions &opts, DiagnosticEngine &diags) {
  int64_t capacity = opts.maxBatch > 0 ? opts.maxBatch : g.train.getInt("batch", 64);
  Optimizer optimizer = g.train.getString("optimizer") == "adam" ? Optimizer::Adam : Optimizer::SGD;
  ModelLayout layout = planLayout(g, capacity, optimizer);
  std::string kernelPrefix = "dlc_kernel_" + cIdent(g.name);
  llvm::LLVMContext ctx;
  auto module = lowerModel(g, layout, kernelPrefix, ctx, diags);
  if (!module) return false;
  for (llvm::Function &f : *module)
    if (!f.isDeclaration()) f.setVisibility(llvm::GlobalValue::HiddenVisibility);
  std::string error;
  auto tm = hostTargetMachine(error);
  if (!tm) {
    diags.error({}, "no target for this host: {}", error);
    return false;
  }
  optimizeModule(*module, *tm, opts.optLevel);

  llvm::SmallString<128> dir;
  if (auto ec = llvm::sys::fs::createUniqueDirectory("dlc-aot", dir)) {
    diags.error({}, "cannot create a temporary directory: {}", ec.message());
    return false;
  }
  auto path = [&](const char *leaf) { return (dir + "/" + leaf).str(); };
  llvm::sys::fs::create_directory(path("dlc"));
  bool ok = emitObjectFile(*module, *tm, path("kernels.o"), error);
  if (!ok) diags.error({}, "{}", error);
  ok = ok && writeFile(path("dlc/abi.h"), kAbiHeader, diags) && writeFile(path("model_runtime.h"), kRuntimeHeader, diags) &&
       writeFile(path("model_runtime.c"), kRuntimeSource, diags) &&
       writeFile(path("model_desc.c"), generateDescriptor(g, layout, kernelPrefix), diags);

  std::string tmpOut = opts.outputPath + ".tmp";
  if (ok) {
    auto cc = llvm::sys::findProgramByName(opts.cc);
    if (!cc) {
      diags.error({}, "no C compiler '{}' to link the library", opts.cc);
      ok = false;
    } else {
      std::vector<std::string> args = {*cc, "-std=c99", "-O2", "-fPIC", "-shared", "-fvisibility=hidden",
                                       "-I", dir.str().str(), path("model_runtime.c"), path("model_desc.c"),
                                       path("kernels.o"), "-o", tmpOut, "-lm"};
      std::vector<llvm::StringRef> argv(args.begin(), args.end());
      std::string log = path("cc.log");
      std::optional<llvm::StringRef> redirects[] = {std::nullopt, llvm::StringRef(log), llvm::StringRef(log)};
      int rc = llvm::sys::ExecuteAndWait(*cc, argv, std::nullopt, redirects, 0, 0, &error);
      if (rc != 0) {
        auto text = llvm::MemoryBuffer::getFile(log);
        diags.error({}, "linking '{}' failed ({}): {}", opts.outputPath, rc < 0 ? error : "exit " + std::to_string(rc),
                    text ? (*text)->getBuffer().str() : "");
        ok = false;
      }
    }
  }
  std::string headerPath = llvm::sys::path::parent_path(opts.outputPath).str();
  headerPath = (headerPath.empty() ? "" : headerPath + "/") + llvm::sys::path::stem(opts.outputPath).str() + ".h";
  if (ok) ok = writeFile(headerPath + ".tmp", generateHeader(g, capacity), diags);
  if (ok) {
    // Replace the old library and header only now that both are complete.
    if (auto ec = llvm::sys::fs::rename(tmpOut, opts.outputPath)) {
      diags.error({}, "cannot write '{}': {}", opts.outputPath, ec.message());
      ok = false;
    } else if (auto ec2 = llvm::sys::fs::rename(headerPath + ".tmp", headerPath)) {
      diags.error({}, "cannot write '{}': {}", headerPath, ec2.message());
      ok = false;
    }
  }
  llvm::sys::fs::remove(tmpOut);
  llvm::sys::fs::remove(headerPath + ".tmp");
  llvm::sys::fs::remove_directories(dir);
  return ok;
}

} // namespace dlc
