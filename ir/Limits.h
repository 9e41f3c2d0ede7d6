//===- ir/Limits.h - The sizes dlc accepts, in one place ------------------===//
//
// Hostile or mistaken input must end in a clear error, never in an integer
// overflow, a stack overflow or a compile that does not finish. These are
// the limits every stage checks against; docs/limits.md lists them with what
// a user sees past each one.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ir/Attributes.h"
#include "ir/Types.h"

namespace dlc {

/// Dims of a tensor (DLC_MAX_RANK in dlc/abi.h: the tensor table holds 8).
inline constexpr int64_t kMaxRank = 8;
/// Elements of one value, per sample (batched values) or in total: 2^31
/// floats = 8 GiB.
inline constexpr int64_t kMaxElements = int64_t(1) << 31;
/// The batch capacity of a compiled model (--batch, `batch`, maxBatch).
inline constexpr int64_t kMaxBatch = int64_t(1) << 24;
/// Floats in a compiled model's arena: 2^34 floats = 64 GiB.
inline constexpr int64_t kMaxArenaFloats = int64_t(1) << 34;
/// Bytes of a model, value or param name (checkpoint keys add 2).
inline constexpr size_t kMaxNameLength = 128;
/// Nesting of an expression: parentheses, calls, operators and operands.
inline constexpr int kMaxNesting = 200;
/// Nesting of fn calls inside fn bodies during inlining.
inline constexpr int kMaxInlineDepth = 64;
/// Ops of one graph (after inlining fns, in IR text, and after each pass).
inline constexpr size_t kMaxOps = 200000;
/// Products of up to this many factors are ordered by the exact dynamic
/// program (cubic in the factor count); longer ones by a greedy heuristic.
inline constexpr size_t kMaxExactChain = 128;

/// a * b, or nullopt when it overflows int64.
std::optional<int64_t> checkedMul(int64_t a, int64_t b);
/// a + b, or nullopt when it overflows int64.
std::optional<int64_t> checkedAdd(int64_t a, int64_t b);

/// Why `type` is outside the limits (rank, a known extent below 1, too many
/// elements), or an empty string.
std::string checkTypeLimits(const TensorType &type);

/// Why a train block's settings are outside what training can use (a batch
/// outside 1..kMaxBatch, Adam betas outside [0, 1), a negative or
/// non-finite rate, a non-positive eps), or an empty string.
std::string checkTrainLimits(const Attrs &train);

/// Why `name` is outside the limits (length), or an empty string; `what`
/// says what is named ("value", "model").
std::string checkNameLimits(const std::string &name, const char *what);

} // namespace dlc
