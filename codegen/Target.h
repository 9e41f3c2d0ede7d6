//===- codegen/Target.h - The host target, optimization, object files -----===//
#pragma once

#include <memory>
#include <string>

#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

namespace dlc {

/// A target machine for this host's CPU and features (AVX2/FMA here), with
/// position-independent code so objects can go into shared libraries.
std::unique_ptr<llvm::TargetMachine> hostTargetMachine(std::string &error);

/// Stamps the module with the target's layout and triple and every function
/// with the host CPU and features, then optimizes: nothing at -O0, the lean
/// loop pipeline kLoopPipeline at -O1 and -O2, LLVM's default<O3> at -O3.
/// The pass pipeline of -O1/-O2, in `opt -passes=` syntax.
extern const char *const kLoopPipeline;

void optimizeModule(llvm::Module &m, llvm::TargetMachine &tm, int level);

/// Writes the module as a relocatable object file.
bool emitObjectFile(llvm::Module &m, llvm::TargetMachine &tm, const std::string &path, std::string &error);

} // namespace dlc
