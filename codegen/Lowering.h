//===- codegen/Lowering.h - From graph IR to LLVM IR loops ----------------===//
//
// The first, straightforward lowering: every IR value has a buffer in the
// model's arena (codegen/Layout.h), every op becomes a loop nest over its
// result. Extents are compile-time constants except the batch n, a run-time
// argument. Labels hold class indices as floats. Fusion, packing and
// threading come later behind the same entry points.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <memory>
#include <string>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include "codegen/Layout.h"
#include "ir/Diagnostics.h"
#include "ir/Graph.h"

namespace dlc {

/// Lowers `g` (batched, after the pipeline) to a module with the entry points
///
///   void PREFIX_forward(float *arena, int64_t n);         outputs
///   void PREFIX_loss_and_grad(float *arena, int64_t n);   loss and every gradient
///   void PREFIX_train_step(float *arena, int64_t n, const float *hyper);
///
/// (the last two only when there is a loss). Every value lives in the arena
/// at its `layout` offset; n is the batch, 1 <= n <= layout.capacity; hyper
/// holds the HyperIndex values. Null, with diagnostics, on an op this
/// lowering does not handle.
std::unique_ptr<llvm::Module> lowerModel(const Graph &g, const ModelLayout &layout, const std::string &prefix,
                                         llvm::LLVMContext &ctx, DiagnosticEngine &diags);

} // namespace dlc
