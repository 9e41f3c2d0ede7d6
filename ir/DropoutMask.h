//===- ir/DropoutMask.h - The counter-based random mask of dropout --------===//
//
// dropout_mask {p, salt} draws each element from a hash of the entry's key
// (set by the runtime from the model's seed and step), the op's salt and the
// element's flat index in the batched tensor: no generator state, so the
// interpreter and the compiled kernels (codegen/lower/Dropout.cpp) draw the
// same mask bit for bit. u = (hash >> 8) / 2^24 is exact in float; an element
// is kept (scaled by 1 / (1 - p)) when u >= p.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>

namespace dlc {

inline constexpr uint32_t kDropoutIndexMul = 0x9E3779B1u, kDropoutSaltMul = 0x85EBCA77u;
inline constexpr uint32_t kDropoutMix1 = 0x7FEB352Du, kDropoutMix2 = 0x846CA68Bu;

/// The 32-bit hash of one element (a lowbias32 finalizer over the inputs).
inline uint32_t dropoutHash(uint32_t key, uint32_t salt, uint32_t index) {
  uint32_t x = index * kDropoutIndexMul + (key ^ (salt * kDropoutSaltMul));
  x ^= x >> 16;
  x *= kDropoutMix1;
  x ^= x >> 15;
  x *= kDropoutMix2;
  x ^= x >> 16;
  return x;
}

/// The mask's value at one element in training: 0, or 1 / (1 - p).
inline float dropoutMaskValue(uint32_t key, uint32_t salt, uint32_t index, float p) {
  float u = float(dropoutHash(key, salt, index) >> 8) * (1.0f / 16777216.0f);
  return u >= p ? 1.0f / (1.0f - p) : 0.0f;
}

} // namespace dlc
