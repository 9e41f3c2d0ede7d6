//===- train/Metrics.h - What a trained model is scored by ----------------===//
//
// The model's label decides the task: a class label `class(K)` is a
// classification (accuracy, confusion matrix), a float label `[k]` a
// regression (mean squared error, R^2), and a float label scored by `hinge`
// or `binary_cross_entropy` a binary classification (accuracy of the sign of
// the output). The train block's `task` setting says which, where the label
// alone does not (the front end sets it from those two losses).
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "train/Dataset.h"
#include "dlc/dlc.hpp"

namespace dlc {

enum class Task {
  Classify, ///< class labels; the largest output is the prediction
  Regress,  ///< float targets; the first output is the prediction
  Binary,   ///< one float target in [0, 1] (binary_cross_entropy)
  Sign,     ///< one float target, -1 or +1 (hinge)
};

/// How a model's outputs are scored against a data set's labels.
struct Scoring {
  Task task = Task::Classify;
  int64_t outputSize = 0; ///< floats per sample of the first output
  double threshold = 0;   ///< Binary and Sign: an output above it predicts the positive class
};

/// Checks that the model fits the data (one input of the sample size, one
/// label of the data's kind, an output of the right size, targets in the
/// task's range) and picks the scoring. `task` is the train block's setting
/// ("" when there is none); `threshold` the binary decision threshold (0
/// for a score or logit, 0.5 for a probability). False with the reason.
bool scoringFor(Model &model, const Dataset &data, const std::string &task, double threshold, Scoring &scoring,
                std::string &error);

/// The float targets per sample a model's label takes (0 for a class label).
int64_t labelTargets(Model &model);

/// What rows of a data set add up to (over ranks, too): right predictions
/// and squared errors.
struct Tally {
  double correct = 0, squaredError = 0;
};

/// Adds rows [first, first + rows) of `data` to `tally`; with `confusion`
/// (classification), also counts[label * classes + predicted].
bool tallyRows(Model &model, const Dataset &data, const Scoring &scoring, int64_t first, int64_t rows, Tally &tally,
               std::string &error, std::vector<int64_t> *confusion = nullptr);

/// Accuracy (classification tasks), or mean squared error and R^2 (regression).
struct Metrics {
  double accuracy = NAN, mse = NAN, r2 = NAN;
};

/// The metrics of a whole data set from its tally.
Metrics metricsOf(const Tally &tally, const Dataset &data, const Scoring &scoring);

/// `SET accuracy 92.05%`, or `SET mse 0.0123  SET r2 0.9512`; with `colon`,
/// the final-line form `SET accuracy: 92.05%`.
std::string describe(const Metrics &m, const Scoring &scoring, const std::string &set, bool colon = false);

} // namespace dlc
