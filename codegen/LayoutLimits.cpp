//===- codegen/LayoutLimits.cpp - The arena fits before it is planned -----===//
//
// planLayout adds up buffer sizes in int64; this bounds the sum first, with
// saturating arithmetic: every value with a buffer of its own (none shared),
// the optimizer state and the products' workspace. Within kMaxArenaFloats no
// offset the layout or the kernels compute can overflow.
//
//===----------------------------------------------------------------------===//
#include "codegen/Gemm.h"
#include "codegen/Layout.h"
#include "ir/ConvGeometry.h"
#include "ir/Limits.h"
#include "ir/Printer.h"

namespace dlc {

namespace {

/// a + b, saturating just above the limit.
int64_t addBounded(int64_t a, int64_t b) { return a > kMaxArenaFloats - b ? kMaxArenaFloats + 1 : a + b; }

/// Floats of a value's buffer at `capacity`, saturating.
int64_t bufferFloats(const Shape &shape, int64_t capacity) {
  int64_t n = 1;
  for (const Dim &d : shape) {
    auto m = checkedMul(n, d.isKnown() ? d.value() : capacity);
    if (!m || *m > kMaxArenaFloats) return kMaxArenaFloats + 1;
    n = *m;
  }
  return n + 16; // alignment
}

} // namespace

bool checkLayoutLimits(const Graph &g, int64_t capacity, DiagnosticEngine &diags, const GemmConfig &gemm) {
  if (capacity < 1 || capacity > kMaxBatch) {
    diags.error({}, "the batch capacity {} of model '{}' is outside 1..{}", capacity, g.name, kMaxBatch);
    return false;
  }
  int64_t total = 0, largest = -1;
  const Node *largestNode = nullptr;
  int64_t columns = 0, partial = 0;
  for (const auto &n : g.nodes()) {
    int64_t floats = bufferFloats(n->shape(), capacity);
    if (n->kind == OpKind::Param) floats = addBounded(floats, addBounded(floats, floats)); // Adam's m and v
    if (n->kind == OpKind::Conv2D || n->kind == OpKind::Conv2DBwdData || n->kind == OpKind::Conv2DBwdFilter) {
      ConvGeometry cg = convGeometry(*n); // each factor is within kMaxElements: no overflow
      columns = std::max(columns, std::min(cg.taps() * cg.pixels(), kMaxArenaFloats + 1));
      partial = std::max(partial, std::min(cg.O * cg.taps(), kMaxArenaFloats + 1));
    }
    total = addBounded(total, floats);
    if (floats > largest) largest = floats, largestNode = n.get();
  }
  int64_t perThread = addBounded(addBounded(gemm.workspace(), columns), partial);
  for (int t = 0; t < kGemmMaxThreads; ++t) total = addBounded(total, perThread);
  if (total <= kMaxArenaFloats) return true;
  std::string what = largestNode && !largestNode->name.empty() ? "%" + largestNode->name : "a value";
  diags.error(largestNode ? largestNode->loc : SourceLoc{},
              "the arena of model '{}' at batch {} would need more than 2^34 floats (64 GiB, the limit); {} ({}) "
              "alone needs {}{} floats",
              g.name, capacity, what, largestNode ? largestNode->type.str() : "?",
              largest > kMaxArenaFloats ? "more than " : "", std::min(largest, kMaxArenaFloats));
  return false;
}

} // namespace dlc
