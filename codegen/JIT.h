//===- codegen/JIT.h - ORC JIT behind one small class ---------------------===//
//
// Optimizes a module with the new pass manager for the host CPU and its
// features (codegen/Target.h), hands it to LLJIT and looks up its
// functions. The ORC API drifts between LLVM releases; it stays in this
// class and JIT.cpp.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <memory>
#include <string>

#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

namespace dlc {

class JIT {
public:
  /// A JIT for the host; null with `error` set when LLVM cannot target it.
  static std::unique_ptr<JIT> create(std::string &error);

  /// Optimizes at -O`optLevel` (0..3) and adds the module; false with `error` on failure.
  bool add(std::unique_ptr<llvm::Module> m, std::unique_ptr<llvm::LLVMContext> ctx, int optLevel, std::string &error);
  /// The same with the code stamped for `tm` (a CPU of this host's triple,
  /// e.g. x86-64-v3 for the AVX2 kernels on an AVX-512 host).
  bool add(std::unique_ptr<llvm::Module> m, std::unique_ptr<llvm::LLVMContext> ctx, llvm::TargetMachine &tm,
           int optLevel, std::string &error);

  /// Links an object file compiled for this host (emitObjectCode with
  /// hostTargetMachine; a model's partitions are several, which may call
  /// each other's hidden functions); false with `error` on failure.
  bool addObject(const std::string &code, std::string &error);

  /// The address of a compiled function, or null.
  void *lookup(const std::string &name, std::string &error);

private:
  explicit JIT(std::unique_ptr<llvm::orc::LLJIT> jit) : jit_(std::move(jit)) {}
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  unsigned objects_ = 0; ///< object files added, for their buffer names
};

} // namespace dlc
