//===- dlc/dlc.hpp - Compile and run dlc models from a C++ host -----------===//
//
//   find_package(dlc REQUIRED)
//   target_link_libraries(app PRIVATE dlc::dlc)
//
//   dlc::CompileResult r = dlc::compileFile("mlp.net");
//   if (!r) { std::cerr << r.rendered; return 1; }
//   dlc::Model &m = *r.model;
//   m.trainStep(n, inputs, labels, &loss);
//
// A Model is JIT-compiled in process (LLVM ORC) and behaves exactly like a
// library built with `dlc model.net -o model.so`: the same tensor table, the
// same checks and status codes (dlc/abi.h).
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dlc/abi.h"

namespace dlc {

/// A diagnostic as data: where, how bad, and what.
struct Message {
  std::string severity; ///< "error", "warning" or "note"
  std::string file;
  unsigned line = 0, column = 0;
  std::string text;
};

struct CompileOptions {
  int optLevel = 2;        ///< LLVM -O level, 0..3
  int64_t maxBatch = 0;    ///< batch capacity; 0: the train block's batch, else 64
  uint64_t seed = 0;       ///< seed of the param initializers
  /// Overrides the train block's optimizer: "sgd", "momentum" (heavy ball,
  /// beta 0.9), "nesterov" (beta 0.9) or "adam"; empty: the train block's.
  std::string optimizer;
  /// "memory": recompute cheap elementwise forward values in the backward
  /// instead of keeping them (a smaller arena, a little more work per step).
  std::string remat;
  /// The LLVM CPU the JIT compiles for (its features pick the GEMM kernel):
  /// empty or "native" for this host's; another (e.g. "x86-64-v3", the AVX2
  /// kernels) must be one this host runs, or create fails with DLC_ERR_CPU.
  std::string cpu;
  std::string sourceName = "<string>"; ///< the file name diagnostics show for compileString
  /// Keep the object code in the compile cache and load it from there when
  /// the model, the options and dlc are unchanged (docs/compile-time.md).
  bool cache = true;
  /// Keep the object code of the GEMM's kernel library (the same for every
  /// model on a host) in the cache and load it from there: a model not in
  /// the cache then compiles only its own code (docs/compile-time.md).
  bool kernelCache = true;
  /// The cache's directory; empty: $DLC_CACHE_DIR, else $XDG_CACHE_HOME/dlc, else ~/.cache/dlc.
  std::string cacheDir;
  /// Threads that optimize and compile the model's partitions at once
  /// (docs/compile-time.md); 0: one per core. The code is the same for any count.
  unsigned compileThreads = 0;
};

class Model;

struct CompileResult {
  std::unique_ptr<Model> model;  ///< null when compilation failed
  std::vector<Message> messages; ///< every diagnostic, in order
  std::string rendered;          ///< the same, printed like clang (file:line:col, source line, caret)
  bool fromCache = false;        ///< the object code came from the compile cache (LLVM did not run)
  bool kernelsFromCache = false; ///< the GEMM kernel library's object came from the cache
  explicit operator bool() const { return model != nullptr; }
};

/// Compiles .net source text.
CompileResult compileString(const std::string &source, const CompileOptions &options = {});
/// Compiles a .net file (an unreadable file is reported as a message).
CompileResult compileFile(const std::string &path, const CompileOptions &options = {});

class Model {
public:
  ~Model();
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;

  /// The table every dlc library exports (dlc_get_api), for this model.
  const dlc_api &api() const;
  std::span<const dlc_tensor_info> tensors() const;
  int64_t maxBatch() const;
  /// Bytes of the model's arena: params, optimizer state, activations and
  /// workspace, allocated once at creation (steps allocate nothing).
  int64_t arenaBytes() const;
  bool hasLoss() const;

  /// inputs: one pointer per input tensor (table order); outputs: one per output.
  dlc_status forward(int64_t n, std::span<const float *const> inputs, std::span<float *const> outputs);
  /// labels: one pointer per label tensor (int32_t for class labels, else float).
  dlc_status lossAndGrad(int64_t n, std::span<const float *const> inputs, std::span<const void *const> labels,
                         float *loss = nullptr);
  dlc_status trainStep(int64_t n, std::span<const float *const> inputs, std::span<const void *const> labels,
                       float *loss = nullptr);

  dlc_status getParam(const std::string &name, std::span<float> out) const;
  dlc_status setParam(const std::string &name, std::span<const float> values);
  dlc_status getGrad(const std::string &name, std::span<float> out) const;
  /// Model state (tensors of role DLC_ROLE_STATE: batch norm's running
  /// statistics) by name; forward reads it, lossAndGrad and trainStep write it.
  dlc_status getState(const std::string &name, std::span<float> out) const;
  dlc_status setState(const std::string &name, std::span<const float> values);
  /// The param's own storage (count elements), for zero-copy views such as
  /// the Python module's m.params; null (see lastError) for a wrong name or count.
  float *paramData(const std::string &name, int64_t count);
  dlc_status setHyper(const std::string &key, double value);
  /// The current value of a setHyper setting (NaN for an unknown key).
  double hyper(const std::string &key) const;
  /// Checkpoints (safetensors), as in dlc/abi.h: atomic save, checked load.
  dlc_status save(const std::string &path) const;
  dlc_status load(const std::string &path);
  /// Train steps taken so far (a loaded checkpoint restores it).
  int64_t step() const;
  dlc_status setStep(int64_t step);

  /// Training in two halves (data-parallel hosts, dlc/abi.h): trainStep is
  /// lossAndGrad, then applyUpdate. gradients() is every param's gradient in
  /// one contiguous buffer the host may change in between; trainingState()
  /// is every param, its optimizer state and the model state; modelState()
  /// the model state alone (what data-parallel ranks average after each
  /// step). The views live as long as the model; gradients() is empty for a
  /// model without a loss, modelState() for one without state.
  std::span<float> gradients();
  std::span<float> trainingState();
  std::span<float> modelState();
  dlc_status applyUpdate();
  /// Why the last failing call failed.
  const char *lastError() const;

  struct Impl;

private:
  explicit Model(std::unique_ptr<Impl> impl);
  friend CompileResult compileSource(const std::string &, const std::string &, const CompileOptions &);
  std::unique_ptr<Impl> impl_;
};

} // namespace dlc
