//===- train/DataParallel.h - One model trained by several processes ------===//
//
// Data parallelism as the trainer sees it: every process (rank) holds the
// same model, takes its shard of each global batch, and the shards' mean
// gradients are combined, weighted by shard size, into the global-batch
// gradient before every rank applies the same update. The model state each
// rank updated from its shard (batch norm's running statistics) is averaged
// with the same weights, so that the ranks keep one model. The processes talk
// through a ProcessGroup; the MPI one lives outside libdlc (the driver links
// dlc::mpi), so libdlc needs no MPI.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dlc/dlc.hpp"

namespace dlc {

/// The ranks training one model. Every call is collective: all ranks make
/// it, in the same order.
class ProcessGroup {
public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Rank 0's state and step to every rank.
  virtual bool broadcast(std::span<float> state, int64_t &step, std::string &error) = 0;
  /// Replaces `grads` (this rank's mean over `rows` rows) by the sum over
  /// ranks of rows_r / globalRows x grads_r; `deterministic`: summed in
  /// rank order, the same bits on every rank.
  virtual bool averageGradients(std::span<float> grads, int64_t rows, int64_t globalRows, bool deterministic,
                                std::string &error) = 0;
  /// Elementwise sums over ranks (metrics).
  virtual bool sum(std::span<double> values, std::string &error) = 0;
  /// Every rank's `hash`, in rank order (to check that the ranks agree).
  virtual bool gatherHashes(uint64_t hash, std::vector<uint64_t> &all, std::string &error) = 0;
};

/// Rows [first, first + count) of `total` that shard `rank` of `ranks`
/// takes: the first total % ranks shards take one row more.
std::pair<int64_t, int64_t> shardRows(int64_t total, int rank, int ranks);

/// The weight of a shard's mean gradient in the global-batch mean (as
/// dlc_mpi_shard_weight computes it, so that the bits agree).
float shardWeight(int64_t rows, int64_t total);

/// How the trainer takes one step on a global batch.
struct DataParallel {
  ProcessGroup *group = nullptr; ///< null: one process
  int simulatedRanks = 0;        ///< one process computes this many shards in order and sums them (the
                                 ///< reference of `deterministic`); 0: off
  bool deterministic = false;

  bool distributed() const { return group && group->size() > 1; }
  int rank() const { return group ? group->rank() : 0; }
  int ranks() const { return group ? group->size() : 1; }
  /// Copies rank 0's params, optimizer state and step to every rank.
  bool start(Model &model, std::string &error);
  /// One optimizer step on the n rows of a global batch (row-major inputs
  /// of `width` floats, labels of `labelBytes` each: an int32 class or float
  /// targets); `lossSum` grows by sum(loss x rows) over the rows this
  /// process computed, `lossRows` by their number.
  bool step(Model &model, int64_t n, const float *x, const void *y, int64_t width, size_t labelBytes, double &lossSum,
            int64_t &lossRows, std::string &error);
  /// Sums metrics over ranks (a no-op for one process).
  bool sum(std::span<double> values, std::string &error);
  /// The rows of a data set of `count` rows this rank evaluates.
  std::pair<int64_t, int64_t> evaluationRows(int64_t count) const { return shardRows(count, rank(), ranks()); }

private:
  std::vector<float> summed_;      ///< simulated ranks: the running sum of scaled shard gradients
  std::vector<float> stateBefore_; ///< simulated ranks: the model state every shard starts from
  std::vector<float> summedState_; ///< simulated ranks: the running sum of scaled shard states
};

/// FNV-1a over bytes.
uint64_t hashBytes(const void *data, size_t bytes);

} // namespace dlc
