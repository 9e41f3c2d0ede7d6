//===- train/Trainer.h - Minibatch training of a classifier -------------===//
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>
#include <ostream>
#include <string>

#include "train/DataParallel.h"
#include "train/Dataset.h"
#include "train/Metrics.h"
#include "dlc/dlc.hpp"

namespace dlc {

struct TrainOptions {
  int64_t epochs = 1;
  uint64_t seed = 0;      ///< shuffling order (and the validation split)
  double lr = -1;         ///< < 0: the model's train block
  bool progress = true;   ///< a progress line per epoch while it runs
  double valSplit = 0;    ///< share of the training data held out for validation
  const Dataset *validation = nullptr; ///< an explicit validation set (K-fold); overrides valSplit
  int64_t earlyStop = 0;  ///< stop after this many epochs without a better validation loss (0: never)
  std::string checkpoint; ///< save here after every epoch (atomically)
  std::string metricsLog; ///< a CSV row of metrics per epoch here (rank 0), written as it trains
  bool resumed = false;   ///< the model was loaded from a checkpoint: skip the epochs it has done
  /// Learning-rate schedule: "constant", "step" (times `gamma` every `every`
  /// epochs) or "cosine" (down to `minLr` at the end), after `warmup` steps
  /// of linear warm-up.
  std::string schedule = "constant";
  double every = 1, gamma = 0.1, minLr = 0;
  int64_t warmup = 0;
  std::string task;       ///< the train block's `task` ("" when unset): see Metrics.h
  double threshold = 0;   ///< binary tasks: an output above it predicts the positive class
  /// Several processes (MPI ranks) training together, or one simulating
  /// them. Each rank loads the same data; rank 0 alone writes checkpoints
  /// (the driver gives the other ranks a silent log).
  DataParallel parallel;
};

/// The learning rate of train step `step` (0-based) under the schedule.
double scheduledLearningRate(const TrainOptions &o, double base, int64_t step, int64_t stepsPerEpoch);

struct EpochRecord {
  int64_t epoch = 0;
  double trainLoss = 0;
  double valLoss = NAN; ///< NaN (and the metrics NaN) where there is no such set
  Metrics val, test;
  double seconds = 0;
};

struct TrainSummary {
  Metrics test;
  Metrics val; ///< after the last epoch, when there is validation data
  double lastLoss = 0;
  double seconds = 0;
  std::vector<EpochRecord> history; ///< one record per epoch trained
};

/// Writes the loss and accuracy curves of `history` to a PNG image with
/// gnuplot (which must be installed); false with the reason otherwise.
bool plotHistory(const std::vector<EpochRecord> &history, const std::string &title, const std::string &png,
                 std::string &error);

/// The metrics of the model on a whole data set (`task` and `threshold` as
/// in TrainOptions); with `confusion` (classification), also
/// counts[label * classes + predicted].
bool evaluate(Model &model, const Dataset &data, const std::string &task, double threshold, Metrics &metrics,
              std::string &error, std::vector<int64_t> *confusion = nullptr);

/// The share of samples whose largest output is the label (a classifier); with
/// `confusion`, also counts[label * classes + predicted]. -1 on an error.
double classificationAccuracy(Model &model, const Dataset &data, std::string &error,
                              std::vector<int64_t> *confusion = nullptr);

/// The mean per-sample loss (with any penalty) over a data set, from
/// loss_and_grad on each batch; the params do not change.
bool meanLoss(Model &model, const Dataset &data, double &loss, std::string &error);

/// Trains with shuffled minibatches of the model's batch capacity (the last
/// one partial), printing one line per epoch (train loss, test metrics,
/// time, samples/s) and a final `test accuracy: 96.10%` (or `test mse: ...`)
/// line. The model must have one input of the data's sample size, one label
/// of the data's kind and an output that fits the task (scoringFor);
/// otherwise false, with the reason in `error`.
bool trainModel(Model &model, const Dataset &train, const Dataset &test, const TrainOptions &options,
                     std::ostream &log, TrainSummary &summary, std::string &error);

} // namespace dlc
