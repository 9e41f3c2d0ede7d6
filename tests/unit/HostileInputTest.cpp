//===- tests/unit/HostileInputTest.cpp - Hostile source and IR (issue 12) --===//
//
// The reproducers of issue 12 that arrive as source: sizes that overflow,
// names that would inject C, ranks, depths and inlining that exhaust the
// stack or the machine, and bytes that would reach the terminal. Each must
// end in a clear error with a location (or a correct result), quickly.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <fstream>
#include <random>

#include <llvm/Support/FileSystem.h>

#include "TestUtil.h"
#include "codegen/Fusion.h"
#include "codegen/Layout.h"
#include "dlc/abi.h"
#include "codegen/Lowering.h"
#include "passes/Pass.h"

using namespace dlc;
using namespace dlc::test;

namespace {

/// A fresh directory, removed when the test binary exits.
std::string tempDir() {
  static struct Made {
    std::vector<std::string> dirs;
    ~Made() {
      for (const std::string &d : dirs) llvm::sys::fs::remove_directories(d);
    }
  } made;
  llvm::SmallString<128> dir;
  REQUIRE(!llvm::sys::fs::createUniqueDirectory("dlc-hostile", dir));
  made.dirs.push_back(std::string(dir));
  return std::string(dir);
}

void writeText(const std::string &path, const std::string &text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

struct DriverRun {
  int exitCode; ///< 128 + n for a signal n; 124 for the timeout
  std::string output;
};

/// Runs `dlc ARGS FILE` on `text` saved as FILE (in a fresh directory, with
/// `-o` paths relative to it), stderr merged into the output.
DriverRun runDriver(const std::string &text, const std::string &file, const std::string &args) {
  std::string dir = tempDir();
  writeText(dir + "/" + file, text);
  std::string cmd = "cd '" + dir + "' && timeout 120 '" DLC_DRIVER "' " + args + " " + file + " 2>&1";
  FILE *p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

/// A clean rejection: exit 1 and an error at FILE:LINE:.
void requireRejected(const DriverRun &r, const std::string &where, const std::string &says) {
  INFO(r.output);
  REQUIRE(r.exitCode == 1);
  CHECK(r.output.find(where) != std::string::npos);
  CHECK(r.output.find(says) != std::string::npos);
}

/// Front end and the default pipeline; the first error, or "" on success.
std::string pipelineError(const std::string &text, bool ir = false) {
  DiagnosticEngine diags;
  auto g = ir ? parseIRText(text, diags) : compile(text, diags);
  PassContext ctx(diags);
  if (g) runPipeline(g, defaultPipeline(), ctx);
  return diags.hasErrors() ? firstError(diags) : "";
}

double secondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

/// No byte a terminal would act on (escape sequences, bells, NULs).
bool printable(const std::string &s) {
  for (unsigned char c : s)
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) return false;
  return true;
}

const char *kLinearModel = "model m {\n  input x : [2]\n  param A : [1, 2] ~ zeros\n  loss sum((A @ x)^2)\n}\n";

} // namespace

//===- Memory safety -------------------------------------------------------===//

TEST_CASE("element counts that overflow are errors naming the value and its line", "[hostile]") {
  requireRejected(runDriver("model m {\n  input x : [1073741824, 1073741824, 16]\n  param A : [1] ~ zeros\n"
                            "  loss sum(x) * sum(A)\n}\n", "big.net", "-o big.so"),
                  "big.net:2:", "elements");
  requireRejected(runDriver("model m {\n  input x : []\n  output y = reshape(x, [4294967297, 4294967295, 4294967297, 4294967295])\n}\n",
                            "reshape.net", "-o r.so"),
                  "reshape.net:3:", "element counts differ");
  requireRejected(runDriver("model m {\n  input x : [1, 4, 4]\n  param K : [1, 1, 3, 3] ~ he\n"
                            "  loss sum(conv2d(x, K, pad = 1000000000))\n}\n",
                            "pad.net", "-o p.so"),
                  "pad.net:4:", "elements");
  requireRejected(runDriver("model m {\n  input x : [1, 4, 4]\n  param k : [] ~ zeros\n"
                            "  loss k * sum(maxpool2d(x, 1000000000, stride = 1, pad = 999999999))\n}\n",
                            "pool.net", "-o p.so"),
                  "pool.net:4:", "elements");
  requireRejected(runDriver("graph g {\n  %x = input() : f32[9223372036854775807, 9223372036854775807]\n  output %x\n}\n",
                            "big.ir", "-o g.so"),
                  "big.ir:2:", "elements");
}

TEST_CASE("a batch whose arena would overflow is an error, from the flag or the train block", "[hostile]") {
  requireRejected(runDriver(kLinearModel, "m.net", "--batch=4611686018427387904 -o m.so"), "batch", "4611686018427387904");
  requireRejected(runDriver(kLinearModel, "m.net", "--emit=kernels --batch=4611686018427387904"), "batch",
                  "4611686018427387904");
  requireRejected(runDriver("graph g {\n  %x = input() : f32[N, 2]\n  output %x\n  train {batch = 4611686018427387904}\n}\n",
                            "b.ir", "-o b.so"),
                  "b.ir:4:", "batch");
}

TEST_CASE("names past the length limit are errors, and long names save and load intact", "[hostile]") {
  std::string longName(700, 'm');
  requireRejected(runDriver("model " + longName + " {\n  input x : [2]\n  loss sum(x)\n}\n", "long.net", "-o l.so"),
                  "long.net:1:", "128");
  // Two params sharing a 120-character prefix keep their own tensors.
  std::string prefix(120, 'p');
  std::string text = "model m {\n  param " + prefix + "a : [2] ~ fill(1)\n  param " + prefix +
                     "b : [2] ~ fill(2)\n  loss sum(" + prefix + "a * " + prefix + "b)\n}\ntrain m { optimizer adam(lr = 0.1) }\n";
  DiagnosticEngine diags;
  REQUIRE(compile(text, diags));
}

/// The API of a library built by the driver, opened with dlopen.
struct OpenLibrary {
  void *handle = nullptr;
  const dlc_api *api = nullptr;
  explicit OpenLibrary(const std::string &path) {
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    INFO((handle ? "" : dlerror()));
    REQUIRE(handle);
    auto get = reinterpret_cast<const dlc_api *(*)()>(dlsym(handle, "dlc_get_api"));
    REQUIRE(get);
    api = get();
  }
  ~OpenLibrary() { dlclose(handle); }
};

/// A C host that includes DIR/HEADER and takes the address of FUNCTION
/// compiles with -Wall -Werror: the header is valid C that names it.
bool headerCompiles(const std::string &dir, const std::string &header, const std::string &function) {
  writeText(dir + "/host.c", "#include \"" + header + "\"\nvoid *volatile used;\nint main(void) { used = (void *)&" +
                                 function + "; return 0; }\n");
  std::string cmd = "cc -std=c99 -Wall -Werror -fsyntax-only -I '" + dir + "' '" + dir + "/host.c' 2>&1";
  return std::system(cmd.c_str()) == 0;
}

TEST_CASE("IR names cannot inject C into a built library", "[hostile]") {
  // Closes the string of the tensor table, adds a constructor, opens a new string (under 128 bytes).
  std::string evil = "%\"x\\\"}}; __attribute__((constructor)) static void p(void) { putenv(\\\"DLC_PWNED=1\\\"); } "
                     "static char *q = {\\\"\"";
  std::string ir = "graph \"g*/ int x; /*\" {\n  " + evil + " = param() {init = zeros} : f32[2]\n  %0 = pow(" + evil +
                   ") {exponent = 2.0} : f32[2]\n  %1 = reduce_sum(%0) {axes = [0]} : f32[]\n  loss %1\n}\n";
  std::string dir = tempDir();
  DriverRun r = runDriver(ir, "evil.ir", "-o " + dir + "/evil.so");
  INFO(r.output);
  REQUIRE(r.exitCode == 0);
  ::unsetenv("DLC_PWNED");
  OpenLibrary lib(dir + "/evil.so");
  CHECK(std::getenv("DLC_PWNED") == nullptr); // no constructor ran
  // The names arrive byte for byte, as data.
  CHECK(std::string(lib.api->model_name) == "g*/ int x; /*");
  CHECK(std::string(lib.api->tensors[0].name).find("constructor)) static void p(void)") != std::string::npos);
  CHECK(headerCompiles(dir, "evil.h", "g___int_x_____create"));
}

TEST_CASE("a quote in a param name and a comment end in a graph name build and run", "[hostile]") {
  std::string ir = "graph \"m*/\" {\n  %\"a\\\"b\" = param() {init = zeros} : f32[2]\n  %x = input() : f32[N, 2]\n"
                   "  %0 = mul(%x, %\"a\\\"b\") : f32[N, 2]\n  %1 = reduce_sum(%0) {axes = [0, 1]} : f32[]\n  loss %1\n"
                   "  output %0\n}\n";
  std::string dir = tempDir();
  DriverRun r = runDriver(ir, "q.ir", "-o " + dir + "/q.so");
  INFO(r.output);
  REQUIRE(r.exitCode == 0);
  OpenLibrary lib(dir + "/q.so");
  CHECK(std::string(lib.api->model_name) == "m*/");
  dlc_model *m = nullptr;
  REQUIRE(lib.api->create(1, &m) == DLC_OK);
  float one[2] = {1, 2};
  CHECK(lib.api->set_param(m, "a\"b", one, 2) == DLC_OK);
  float x[2] = {3, 4}, y[2] = {0, 0};
  const float *in[] = {x};
  float *out[] = {y};
  REQUIRE(lib.api->forward(m, 1, in, out) == DLC_OK);
  CHECK(y[0] == 3);
  CHECK(y[1] == 8);
  lib.api->destroy(m);
  CHECK(headerCompiles(dir, "q.h", "m___forward"));
}

TEST_CASE("names that are C keywords or the glue's own names build working libraries", "[hostile]") {
  // One model (one build) with every kind of clash: the typed functions'
  // own arguments, C keywords and macros, the glue's names, and a model
  // named like the glue's prefix.
  std::vector<std::string> names = {"n", "m", "in", "lab", "int", "float", "return", "NULL", "SIZE_MAX", "dlc_rt_forward"};
  std::string text = "model dlc_rt {\n", sum;
  for (const std::string &name : names) {
    text += "  input " + name + " : [2]\n";
    sum += (sum.empty() ? "" : " + ") + name;
  }
  text += "  param A : [1, 2] ~ fill(1)\n  output out = A @ (" + sum + ")\n  loss sum((A @ (" + sum + "))^2)\n}\n";
  std::string dir = tempDir();
  DriverRun r = runDriver(text, "k.net", "-o " + dir + "/k.so");
  INFO(r.output);
  REQUIRE(r.exitCode == 0);
  OpenLibrary lib(dir + "/k.so");
  CHECK(std::string(lib.api->model_name) == "dlc_rt");
  dlc_model *m = nullptr;
  REQUIRE(lib.api->create(1, &m) == DLC_OK);
  std::vector<std::array<float, 2>> x(names.size());
  std::vector<const float *> in;
  for (size_t i = 0; i < names.size(); ++i) {
    x[i] = {float(i), 1};
    in.push_back(x[i].data());
  }
  float y[1] = {0};
  float *out[] = {y};
  REQUIRE(lib.api->forward(m, 1, in.data(), out) == DLC_OK);
  CHECK(y[0] == 45 + 10); // sum over i of (i + 1)
  lib.api->destroy(m);
  // The typed functions take a prefix that is not the glue's (dlc_rt_*).
  CHECK(headerCompiles(dir, "k.h", "v_dlc_rt_train_step"));
}

TEST_CASE("a rank above DLC_MAX_RANK is an error", "[hostile]") {
  CHECK_THAT(pipelineError("model m {\n  input x : [1, 1, 1, 1, 1, 1, 1, 1, 2]\n  loss sum(x)\n}\n"),
             Catch::StartsWith("2:") && Catch::Contains("rank"));
  CHECK_THAT(pipelineError("graph g {\n  %x = input() : f32[1, 1, 1, 1, 1, 1, 1, 1, 2]\n  output %x\n}\n", true),
             Catch::StartsWith("2:") && Catch::Contains("rank"));
}

//===- Denial of service ---------------------------------------------------===//

TEST_CASE("deep expressions are errors, not stack overflows", "[hostile]") {
  std::string sum = "x";
  for (int i = 1; i < 15000; ++i) sum += " + x";
  CHECK_THAT(pipelineError("model m {\n  input x : [2]\n  loss sum(" + sum + ")\n}\n"), Catch::Contains("deep"));
  std::string calls = "x";
  for (int i = 0; i < 20000; ++i) calls = "relu(" + calls;
  calls += std::string(20000, ')');
  CHECK_THAT(pipelineError("model m {\n  input x : [2]\n  loss sum(" + calls + ")\n}\n"), Catch::Contains("deep"));
}

TEST_CASE("a 100,000-step IR matmul chain does not overflow the stack", "[hostile]") {
  std::string ir = "graph g {\n  %A = param() {init = zeros} : f32[2, 2]\n  %x = input() : f32[2]\n  %0 = matmul(%A, %x) : f32[2]\n";
  for (int i = 1; i < 100000; ++i) ir += fmt::format("  %{} = matmul(%A, %{}) : f32[2]\n", i, i - 1);
  ir += "  %s = reduce_sum(%99999) {axes = [0]} : f32[]\n  loss %s\n}\n";
  auto start = std::chrono::steady_clock::now();
  DiagnosticEngine diags;
  auto g = parseIRText(ir, diags);
  REQUIRE(g);
  PassContext ctx(diags);
  REQUIRE(runPipeline(g, {"chain"}, ctx)); // one chain of 100,000 factors: collected without recursion
  REQUIRE(ctx.remarks.size() == 1);
  CHECK_THAT(ctx.remarks[0], Catch::Contains("100001 factors") && Catch::Contains("greedy"));
  CHECK(secondsSince(start) < 60); // a guard against hangs, generous for sanitizers on a loaded machine
}

TEST_CASE("a long chain of elementwise ops is inlined at most 64 levels deep, and lowers", "[hostile]") {
  // The kernel emitter recurses once per inline level: a 30,000-tanh chain
  // in one kernel overflowed its stack.
  std::string ir = "graph g {\n  %x = param() {init = zeros} : f32[4]\n  %0 = tanh(%x) : f32[4]\n";
  for (int i = 1; i < 2000; ++i) ir += fmt::format("  %{} = tanh(%{}) : f32[4]\n", i, i - 1);
  ir += "  %s = reduce_sum(%1999) {axes = [0]} : f32[]\n  loss %s\n}\n";
  DiagnosticEngine diags;
  auto g = parseIRText(ir, diags);
  REQUIRE(g);
  PassContext ctx(diags);
  REQUIRE(runPipeline(g, defaultPipeline(), ctx));
  auto [forwardRoots, trainingRoots] = entryRoots(*g);
  std::vector<const Node *> nodes = entryNodes(*g, trainingRoots);
  KernelPlan plan = planKernels(nodes, {trainingRoots.begin(), trainingRoots.end()});
  std::unordered_map<const Node *, int> depth;
  int deepest = 0;
  for (const Node *n : nodes) {
    if (!plan.inlineOps.count(n)) continue;
    int d = 0;
    for (const Node *o : n->operands)
      if (depth.count(o)) d = std::max(d, depth[o]);
    deepest = std::max(deepest, depth[n] = d + 1);
  }
  CHECK(deepest == kMaxInlineChain);
  REQUIRE(checkLayoutLimits(*g, 4, diags));
  ModelLayout layout = planLayout(*g, 4, Optimizer::SGD);
  llvm::LLVMContext llctx;
  INFO(renderDiagnostics(diags));
  CHECK(lowerModel(*g, layout, "chain", llctx, diags));
}

TEST_CASE("exponential fn inlining stops at the inlined-size limit, quickly", "[hostile]") {
  std::string text = "model m {\n  input x : [2]\n  fn f0(v) = relu(v)\n";
  for (int i = 1; i <= 22; ++i) text += fmt::format("  fn f{}(v) = f{}(f{}(v))\n", i, i - 1, i - 1);
  text += "  loss sum(f22(x))\n}\n";
  auto start = std::chrono::steady_clock::now();
  CHECK_THAT(pipelineError(text), Catch::Contains("inlin"));
  CHECK(secondsSince(start) < 60); // a guard against hangs, generous for sanitizers on a loaded machine
}

TEST_CASE("a 2,000-factor product chain orders by a heuristic and says so", "[hostile]") {
  // In .net, 2,000 factors nest past the expression limit: a clear error, at once.
  std::string chain = "A";
  for (int i = 1; i < 2000; ++i) chain += " @ A";
  auto start = std::chrono::steady_clock::now();
  CHECK_THAT(pipelineError("model m {\n  input x : [3]\n  param A : [3, 3] ~ zeros\n  loss sum(" + chain + " @ x)\n}\n"),
             Catch::StartsWith("4:") && Catch::Contains("nested too deeply"));
  // In IR text (one line per product) the chain pass takes the greedy order.
  std::string ir = "graph g {\n  %A = param() {init = zeros} : f32[3, 3]\n  %x = input() : f32[N, 3]\n"
                   "  %0 = matmul(%x, %A) : f32[N, 3]\n";
  for (int i = 1; i < 2000; ++i) ir += fmt::format("  %{} = matmul(%{}, %A) : f32[N, 3]\n", i, i - 1);
  ir += "  %s = reduce_sum(%1999) {axes = [0, 1]} : f32[]\n  loss %s\n}\n";
  DiagnosticEngine diags;
  auto g = parseIRText(ir, diags);
  REQUIRE(g);
  PassContext ctx(diags);
  REQUIRE(runPipeline(g, {"chain"}, ctx));
  REQUIRE(ctx.remarks.size() == 1);
  CHECK_THAT(ctx.remarks[0], Catch::Contains("2001 factors, more than 128") && Catch::Contains("greedy heuristic"));
  // 150 factors in .net: within the nesting limit, past the exact one.
  std::string chain150 = "A";
  for (int i = 1; i < 150; ++i) chain150 += " @ A";
  DiagnosticEngine diags150;
  auto g150 = compile("model m {\n  input x : [3]\n  param A : [3, 3] ~ zeros\n  loss sum(" + chain150 + " @ x)\n}\n",
                      diags150);
  REQUIRE(g150);
  PassContext ctx150(diags150);
  REQUIRE(runPipeline(g150, {"batch", "chain"}, ctx150));
  std::string remarks;
  for (const auto &r : ctx150.remarks) remarks += r + "\n";
  CHECK_THAT(remarks, Catch::Contains("151 factors") && Catch::Contains("greedy heuristic"));
  CHECK(secondsSince(start) < 60); // a guard against hangs, generous for sanitizers on a loaded machine
}

//===- Wrong results without an error ---------------------------------------===//

TEST_CASE("differentiating twice is an error, not a graph with dL/dL defined twice", "[hostile]") {
  DiagnosticEngine diags;
  auto g = compile("model m {\n  param x : [] ~ zeros\n  loss x^2\n}\n", diags);
  REQUIRE(g);
  PassContext ctx(diags);
  CHECK_FALSE(runPipeline(g, {"autodiff", "autodiff"}, ctx));
  CHECK_THAT(firstError(diags), Catch::Contains("already"));
  CHECK_THAT(firstError(diags), !Catch::Contains("compiler bug"));
}

TEST_CASE("a fn with a repeated parameter name is an error", "[hostile]") {
  DiagnosticEngine diags;
  CHECK_FALSE(compile("model m {\n  input x : [2]\n  fn f(a, a) = a\n  loss sum(f(x, relu(x)))\n}\n", diags));
  CHECK_THAT(firstError(diags), Catch::StartsWith("3:") && Catch::Contains("'a'"));
}

TEST_CASE("Adam with beta1 = 1 or beta2 = 1 is an error", "[hostile]") {
  for (const char *beta : {"beta1 = 1", "beta2 = 1", "beta1 = 1.5"}) {
    INFO(beta);
    DiagnosticEngine diags;
    CHECK_FALSE(compile(std::string(kLinearModel) + "train m { optimizer adam(lr = 0.1, " + beta + ") }\n", diags));
    CHECK_THAT(firstError(diags), Catch::StartsWith("6:") && Catch::Contains("beta"));
  }
}

TEST_CASE("optimization level 9 is an error for every output", "[hostile]") {
  requireRejected(runDriver(kLinearModel, "m.net", "-O9 -o m.so"), "-O", "0, 1, 2 or 3");
}

TEST_CASE("zero extents and a batch outside 1.. are errors, not SIGFPE", "[hostile]") {
  requireRejected(runDriver("graph g {\n  %x = input() : f32[0, 2]\n  output %x\n}\n", "z.ir", "-o z.so"), "z.ir:2:",
                  "extent");
  for (const char *batch : {"0", "-5"}) {
    INFO(batch);
    requireRejected(runDriver(std::string("graph g {\n  %x = input() : f32[N, 2]\n  output %x\n  train {batch = ") +
                                  batch + "}\n}\n",
                              "b.ir", "-o b.so"),
                    "b.ir:4:", "batch");
  }
  requireRejected(runDriver("model m {\n  input x : [0]\n  loss sum(x)\n}\n", "z.net", "-o z.so"), "z.net:2:", "extent");
}

TEST_CASE("control bytes of the source never reach a diagnostic, and a random file stops at the error limit", "[hostile]") {
  DiagnosticEngine diags;
  REQUIRE_FALSE(compile("model m {\n  input x : [2]\x1b]0;pwned\x07\x1b[31m\n}\n", diags));
  std::string rendered = renderDiagnostics(diags);
  INFO(rendered);
  CHECK(printable(rendered));
  std::mt19937 rng(12);
  std::string noise(1 << 20, ' ');
  for (char &c : noise) c = char(rng());
  DiagnosticEngine many;
  auto start = std::chrono::steady_clock::now();
  REQUIRE_FALSE(compile(noise, many));
  std::string all = renderDiagnostics(many);
  CHECK(many.diagnostics().size() <= DiagnosticEngine::kMaxErrors + 1);
  CHECK(all.size() < 20000);
  CHECK(printable(all));
  CHECK(secondsSince(start) < 60); // a guard against hangs, generous for sanitizers on a loaded machine
}
