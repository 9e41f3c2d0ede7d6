//===- ir/Limits.cpp ------------------------------------------------------===//
#include "ir/Limits.h"

#include <cmath>

#include <fmt/format.h>

namespace dlc {

std::optional<int64_t> checkedMul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

std::optional<int64_t> checkedAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

std::string checkTypeLimits(const TensorType &type) {
  if (type.rank() > kMaxRank)
    return fmt::format("{} has rank {}, above the limit of {} (DLC_MAX_RANK)", type.str(), type.rank(), kMaxRank);
  for (const Dim &d : type.shape)
    if (!d.isSymbolic() && d.value() < 1)
      return fmt::format("{} has the extent {}; extents must be at least 1", type.str(), d.value());
  // The whole product is reported, not the first partial one past the limit.
  std::optional<int64_t> elements = 1;
  for (const Dim &d : type.shape)
    if (!d.isSymbolic() && elements) elements = checkedMul(*elements, d.value());
  if (!elements || *elements > kMaxElements)
    return fmt::format("{} has {} elements, above the limit of 2^31 per value", type.str(),
                       elements ? std::to_string(*elements) : "more than 2^63");
  return "";
}

std::string checkTrainLimits(const Attrs &train) {
  if (train.has("batch")) {
    int64_t batch = train.getInt("batch");
    if (batch < 1 || batch > kMaxBatch)
      return fmt::format("batch = {} is outside 1..{}", batch, kMaxBatch);
  }
  if (train.has("epochs") && train.getInt("epochs") < 1)
    return fmt::format("epochs = {} must be at least 1", train.getInt("epochs"));
  for (const char *beta : {"beta1", "beta2"}) {
    double b = train.getFloat(beta, 0.5);
    if (!(b >= 0 && b < 1)) return fmt::format("{} = {} is outside [0, 1): Adam divides by 1 - {}^t", beta, b, beta);
  }
  for (const char *key : {"lr", "momentum", "weight_decay"}) {
    double v = train.getFloat(key, 0);
    if (!(v >= 0 && std::isfinite(v))) return fmt::format("{} = {} must be a finite number >= 0", key, v);
  }
  if (train.has("eps") && !(train.getFloat("eps") > 0 && std::isfinite(train.getFloat("eps"))))
    return fmt::format("eps = {} must be a finite number > 0", train.getFloat("eps"));
  return "";
}

std::string checkNameLimits(const std::string &name, const char *what) {
  if (name.size() > kMaxNameLength)
    return fmt::format("{} name of {} bytes is longer than the limit of {}", what, name.size(), kMaxNameLength);
  return "";
}

} // namespace dlc
