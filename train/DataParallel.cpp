//===- train/DataParallel.cpp ---------------------------------------------===//
//
// Built with -ffp-contract=off (like dlc_mpi.c): the scaling of a shard's
// gradient and the rank-order sum are separate roundings in both places, so
// --simulate-ranks K reproduces K deterministic ranks bit for bit.
//
//===----------------------------------------------------------------------===//
#include "train/DataParallel.h"

#include <algorithm>
#include <cstring>

namespace dlc {

std::pair<int64_t, int64_t> shardRows(int64_t total, int rank, int ranks) {
  int64_t base = total / ranks, extra = total % ranks;
  return {rank * base + std::min<int64_t>(rank, extra), base + (rank < extra ? 1 : 0)};
}

float shardWeight(int64_t rows, int64_t total) { return total > 0 ? float(double(rows) / double(total)) : 0.0f; }

uint64_t hashBytes(const void *data, size_t bytes) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < bytes; ++i) h = (h ^ static_cast<const unsigned char *>(data)[i]) * 1099511628211ull;
  return h;
}

bool DataParallel::start(Model &model, std::string &error) {
  if (!distributed()) return true;
  std::span<float> state = model.trainingState();
  int64_t step = model.step();
  if (!group->broadcast(state, step, error)) return false;
  model.setStep(step);
  return true;
}

namespace {

bool lossAndGrad(Model &model, int64_t rows, const float *x, const void *y, double &lossSum, std::string &error) {
  const float *in[] = {x};
  const void *lab[] = {y};
  float loss = 0;
  if (model.lossAndGrad(rows, in, lab, &loss) != DLC_OK) {
    error = model.lastError();
    return false;
  }
  lossSum += double(loss) * double(rows);
  return true;
}

} // namespace

bool DataParallel::step(Model &model, int64_t n, const float *x, const void *y, int64_t width, size_t labelBytes,
                        double &lossSum, int64_t &lossRows, std::string &error) {
  auto labelsFrom = [&](int64_t row) { return static_cast<const char *>(y) + size_t(row) * labelBytes; };
  if (!distributed() && simulatedRanks <= 1) { // one process, the global batch at once
    const float *in[] = {x};
    const void *lab[] = {y};
    float loss = 0;
    if (model.trainStep(n, in, lab, &loss) != DLC_OK) {
      error = model.lastError();
      return false;
    }
    lossSum += double(loss) * double(n);
    lossRows += n;
    return true;
  }
  std::span<float> grads = model.gradients(), state = model.modelState();
  if (distributed()) {
    auto [first, rows] = shardRows(n, rank(), ranks());
    if (rows > 0 && !lossAndGrad(model, rows, x + first * width, labelsFrom(first), lossSum, error)) return false;
    lossRows += rows;
    if (rows == 0) std::fill(grads.begin(), grads.end(), 0.0f);
    if (!group->averageGradients(grads, rows, n, deterministic, error)) return false;
    // The state each rank updated from its shard, averaged like the
    // gradients: the ranks keep one model, and a running mean is that of
    // the global batch (docs/training.md).
    if (!state.empty() && !group->averageGradients(state, rows, n, deterministic, error)) return false;
  } else {
    summed_.resize(grads.size());
    stateBefore_.assign(state.begin(), state.end());
    summedState_.resize(state.size());
    for (int r = 0; r < simulatedRanks; ++r) {
      auto [first, rows] = shardRows(n, r, simulatedRanks);
      std::copy(stateBefore_.begin(), stateBefore_.end(), state.begin()); // every rank starts from the same state
      if (rows > 0 && !lossAndGrad(model, rows, x + first * width, labelsFrom(first), lossSum, error)) return false;
      lossRows += rows;
      float w = shardWeight(rows, n);
      auto accumulate = [&](std::span<const float> shard, std::vector<float> &sum) {
        for (size_t i = 0; i < shard.size(); ++i) {
          float v = rows > 0 ? shard[i] * w : 0.0f;
          sum[i] = r == 0 ? v : sum[i] + v;
        }
      };
      accumulate(grads, summed_);
      accumulate(state, summedState_);
    }
    std::copy(summed_.begin(), summed_.end(), grads.begin());
    std::copy(summedState_.begin(), summedState_.end(), state.begin());
  }
  if (model.applyUpdate() != DLC_OK) {
    error = model.lastError();
    return false;
  }
  return true;
}

bool DataParallel::sum(std::span<double> values, std::string &error) {
  return !distributed() || group->sum(values, error);
}

} // namespace dlc
