//===- train/Metrics.cpp --------------------------------------------------===//
#include "train/Metrics.h"

#include <algorithm>

#include <fmt/format.h>

namespace dlc {

namespace {

int64_t perSample(const dlc_tensor_info &t) {
  int64_t e = 1;
  for (int d = 0; d < t.rank; ++d) e *= t.dims[d] < 0 ? 1 : t.dims[d];
  return e;
}

const dlc_tensor_info *labelTensor(Model &model) {
  for (const dlc_tensor_info &t : model.tensors())
    if (t.role == DLC_ROLE_LABEL) return &t;
  return nullptr;
}

/// The task the label and the train block's setting name; says why not.
bool pickTask(const dlc_tensor_info &label, const std::string &setting, Task &task, std::string &error) {
  bool classes = label.dtype == DLC_I32;
  if (setting.empty() || setting == "classify" || setting == "regress") {
    task = classes ? Task::Classify : Task::Regress;
    if (setting.empty() || setting == (classes ? "classify" : "regress")) return true;
    error = fmt::format("the train block's task is {}, but the model's label '{}' is {}", setting, label.name,
                        classes ? "a class label (task classify)" : "a float label (task regress, binary or sign)");
    return false;
  }
  task = setting == "binary" ? Task::Binary : Task::Sign;
  if (!classes && perSample(label) == 1) return true;
  error = fmt::format("task {} needs a float label of one value per sample (`label {} : []`)", setting, label.name);
  return false;
}

/// Binary targets in the task's range; the first one outside says why not.
bool checkTargets(const Dataset &data, Task task, std::string &error) {
  for (int64_t i = 0; i < data.count; ++i) {
    float t = data.targets[size_t(i)];
    bool ok = task == Task::Sign ? (t == -1.0f || t == 1.0f) : (t >= 0.0f && t <= 1.0f);
    if (!ok) {
      error = fmt::format("sample {} has target {}, but {} takes {}", i + 1, t,
                          task == Task::Sign ? "hinge (task sign)" : "binary_cross_entropy (task binary)",
                          task == Task::Sign ? "-1 or +1" : "values in [0, 1]");
      return false;
    }
  }
  return true;
}

} // namespace

int64_t labelTargets(Model &model) {
  const dlc_tensor_info *label = labelTensor(model);
  return label && label->dtype != DLC_I32 ? perSample(*label) : 0;
}

bool scoringFor(Model &model, const Dataset &data, const std::string &task, double threshold, Scoring &scoring,
                std::string &error) {
  int inputs = 0, labels = 0, outputs = 0;
  for (const dlc_tensor_info &t : model.tensors()) {
    if (t.role == DLC_ROLE_INPUT) {
      ++inputs;
      if (perSample(t) != data.sampleSize) {
        error = fmt::format("model input '{}' takes {} values per sample, but the data's samples have {}", t.name,
                            perSample(t), data.sampleSize);
        return false;
      }
    }
    labels += t.role == DLC_ROLE_LABEL;
    if (t.role == DLC_ROLE_OUTPUT && outputs++ == 0) scoring.outputSize = perSample(t);
  }
  if (inputs != 1 || labels != 1 || outputs < 1) {
    error = fmt::format("training needs a model with one input, one label and an output; this one has {}, {} and {}",
                        inputs, labels, outputs);
    return false;
  }
  const dlc_tensor_info &label = *labelTensor(model);
  if (!pickTask(label, task, scoring.task, error)) return false;
  scoring.threshold = threshold;
  int64_t targets = label.dtype == DLC_I32 ? 0 : perSample(label);
  if (targets != data.targetSize) {
    error = data.targetSize == 0
                ? fmt::format("the model's label '{}' takes {} float targets per sample, but the data has class labels",
                              label.name, targets)
                : fmt::format("the model's label '{}' is {}, but the data has {} float targets per sample", label.name,
                              targets ? fmt::format("{} float targets", targets) : "a class label", data.targetSize);
    return false;
  }
  if (scoring.task == Task::Classify) {
    int32_t maxLabel = data.labels.empty() ? 0 : *std::max_element(data.labels.begin(), data.labels.end());
    if (scoring.outputSize <= maxLabel) {
      error = fmt::format("the model's output has {} scores per sample, but the data has label {}", scoring.outputSize,
                          maxLabel);
      return false;
    }
    return true;
  }
  if (scoring.task == Task::Regress && scoring.outputSize != targets) {
    error = fmt::format("the model's first output has {} values per sample, but its label '{}' has {} targets",
                        scoring.outputSize, label.name, targets);
    return false;
  }
  if (scoring.task != Task::Regress && scoring.outputSize != 1) {
    error = fmt::format("a binary classifier's first output is one score per sample; this one has {}",
                        scoring.outputSize);
    return false;
  }
  return scoring.task == Task::Regress || checkTargets(data, scoring.task, error);
}

bool tallyRows(Model &model, const Dataset &data, const Scoring &scoring, int64_t first, int64_t rows, Tally &tally,
               std::string &error, std::vector<int64_t> *confusion) {
  const int64_t cap = model.maxBatch(), width = scoring.outputSize;
  if (confusion) confusion->assign(scoring.task == Task::Classify ? size_t(width * width) : 0, 0);
  std::vector<float> scores(size_t(cap * width));
  std::vector<float *> outPtrs{scores.data()};
  int outputs = 0;
  for (const dlc_tensor_info &t : model.tensors()) outputs += t.role == DLC_ROLE_OUTPUT;
  outPtrs.resize(size_t(std::max(outputs, 1)), nullptr); // only the first output is read
  for (int64_t at = first; at < first + rows; at += cap) {
    int64_t n = std::min(cap, first + rows - at);
    const float *in[] = {data.x.data() + at * data.sampleSize};
    if (model.forward(n, in, outPtrs) != DLC_OK) {
      error = model.lastError();
      return false;
    }
    for (int64_t i = 0; i < n; ++i) {
      const float *row = scores.data() + i * width;
      int64_t s = at + i;
      switch (scoring.task) {
      case Task::Classify: {
        int64_t predicted = std::max_element(row, row + width) - row, label = data.labels[size_t(s)];
        tally.correct += predicted == label;
        if (confusion) ++(*confusion)[size_t(label * width + predicted)];
        break;
      }
      case Task::Regress:
        for (int64_t j = 0; j < width; ++j) tally.squaredError += std::pow(double(row[j]) - data.targets[size_t(s * width + j)], 2);
        break;
      case Task::Binary:
      case Task::Sign: {
        double middle = scoring.task == Task::Sign ? 0.0 : 0.5;
        tally.correct += (row[0] > scoring.threshold) == (data.targets[size_t(s)] > middle);
        break;
      }
      }
    }
  }
  return true;
}

Metrics metricsOf(const Tally &tally, const Dataset &data, const Scoring &scoring) {
  Metrics m;
  if (data.count == 0) return m;
  if (scoring.task != Task::Regress) {
    m.accuracy = tally.correct / double(data.count);
    return m;
  }
  const int64_t k = data.targetSize;
  m.mse = tally.squaredError / double(data.count * k);
  double total = 0; // the squared deviation of the targets from each column's mean
  for (int64_t j = 0; j < k; ++j) {
    double mean = 0;
    for (int64_t i = 0; i < data.count; ++i) mean += data.targets[size_t(i * k + j)] / double(data.count);
    for (int64_t i = 0; i < data.count; ++i) total += std::pow(data.targets[size_t(i * k + j)] - mean, 2);
  }
  m.r2 = total > 0 ? 1 - tally.squaredError / total : NAN;
  return m;
}

std::string describe(const Metrics &m, const Scoring &scoring, const std::string &set, bool colon) {
  const char *sep = colon ? ":" : "";
  if (scoring.task != Task::Regress) return fmt::format("{} accuracy{} {:.2f}%", set, sep, 100 * m.accuracy);
  return fmt::format("{} mse{} {:.4g}  {} r2{} {:.4f}", set, sep, m.mse, set, sep, m.r2);
}

} // namespace dlc
