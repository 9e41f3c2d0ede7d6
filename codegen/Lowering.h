//===- codegen/Lowering.h - From graph IR to LLVM IR loops ----------------===//
//
// The first, straightforward lowering: every IR value gets a buffer (a slot),
// every op becomes a loop nest over its result with the shapes (the batch
// size included) fixed at compile time. One function runs the whole graph:
//
//   void NAME(float **slots)      slots[i] is the buffer of node i
//
// Inputs, labels (class indices stored as floats) and params are read from
// their slots; every other slot is written. Fusion, packing and threading
// come later on top of the same entry point.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <memory>
#include <string>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include "ir/Diagnostics.h"
#include "ir/Graph.h"

namespace dlc {

struct LoweringOptions {
  std::string functionName = "dlc_graph";
  int64_t batch = 1; ///< the value of the symbolic dim N
};

/// Lowers `g` to a module holding one function; null (with diagnostics) on
/// an op this lowering does not handle.
std::unique_ptr<llvm::Module> lowerGraph(const Graph &g, const LoweringOptions &opts, llvm::LLVMContext &ctx,
                                         DiagnosticEngine &diags);

} // namespace dlc
