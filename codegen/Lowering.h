//===- codegen/Lowering.h - From graph IR to LLVM IR loops ----------------===//
//
// Lowers a batched graph to an LLVM module: every value has a buffer in the
// model's arena (codegen/Layout.h) unless fusion (codegen/Fusion.h) computes
// it inline or in a matmul's epilogue; each kernel of the plan becomes a loop
// nest, matrix products and convolutions the packed GEMM (codegen/Gemm.h),
// large ones outlined for the thread pool. Extents are compile-time
// constants except the batch n, a run-time argument; labels hold class
// indices as floats. The implementation is the folder codegen/lower/ (see
// codegen/lower/KernelEmitter.h for which file lowers what).
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
///   void PREFIX_update(float *arena, int64_t n, const float *hyper);  the optimizer step from the arena's gradients
///   void PREFIX_train_step(float *arena, int64_t n, const float *hyper);  loss_and_grad, then update
///
/// (the last three only when there is a loss). Every value with a buffer lives
/// in the arena at its `layout` offset; n is the batch, 1 <= n <=
/// layout.capacity; hyper holds the HyperIndex values. Null, with diagnostics, when a value has no
/// buffer or an op no lowering (a compiler bug: tests/unit/OpTableTest.cpp
/// compiles every op table row). Of the GEMM's kernel library the module
/// holds the kernels the model calls (compileModule completes it for the
/// kernel cache).
std::unique_ptr<llvm::Module> lowerModel(const Graph &g, const ModelLayout &layout, const std::string &prefix,
                                         llvm::LLVMContext &ctx, DiagnosticEngine &diags);

} // namespace dlc
