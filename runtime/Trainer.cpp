//===- runtime/Trainer.cpp ------------------------------------------------===//
#include "Trainer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <random>

namespace dlc {

namespace {

struct Interface {
  int64_t classes = 0, outputSize = 0;
};

int64_t perSample(const dlc_tensor_info &t) {
  int64_t e = 1;
  for (int d = 0; d < t.rank; ++d) e *= t.dims[d] < 0 ? 1 : t.dims[d];
  return e;
}

/// Checks that the model is a classifier of the data; says why not.
bool checkInterface(Model &model, const Dataset &data, Interface &io, std::string &error) {
  int inputs = 0, labels = 0, outputs = 0;
  for (const dlc_tensor_info &t : model.tensors()) {
    if (t.role == DLC_ROLE_INPUT) {
      ++inputs;
      if (perSample(t) != data.sampleSize) {
        error = "model input '" + std::string(t.name) + "' takes " + std::to_string(perSample(t)) +
                " values per sample, but the data's samples have " + std::to_string(data.sampleSize);
        return false;
      }
    }
    if (t.role == DLC_ROLE_LABEL) {
      ++labels;
      if (t.dtype != DLC_I32) {
        error = "model label '" + std::string(t.name) + "' is not a class label (declare it `label y : class(K)`)";
        return false;
      }
    }
    if (t.role == DLC_ROLE_OUTPUT && outputs++ == 0) io.outputSize = perSample(t);
  }
  if (inputs != 1 || labels != 1 || outputs < 1) {
    error = "training needs a model with one input, one class label and an output; this one has " +
            std::to_string(inputs) + ", " + std::to_string(labels) + " and " + std::to_string(outputs);
    return false;
  }
  int32_t maxLabel = data.labels.empty() ? 0 : *std::max_element(data.labels.begin(), data.labels.end());
  if (io.outputSize <= maxLabel) {
    error = "the model's output has " + std::to_string(io.outputSize) + " scores per sample, but the data has label " +
            std::to_string(maxLabel);
    return false;
  }
  return true;
}

double seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

} // namespace

double classificationAccuracy(Model &model, const Dataset &data, std::string &error) {
  Interface io;
  if (!checkInterface(model, data, io, error)) return -1;
  const int64_t cap = model.maxBatch();
  std::vector<float> scores(size_t(cap * io.outputSize));
  int outputs = 0;
  for (const dlc_tensor_info &t : model.tensors()) outputs += t.role == DLC_ROLE_OUTPUT;
  std::vector<std::vector<float>> extra(size_t(std::max(outputs - 1, 0)));
  std::vector<float *> outPtrs{scores.data()};
  int k = 0;
  for (const dlc_tensor_info &t : model.tensors())
    if (t.role == DLC_ROLE_OUTPUT && k++ > 0) outPtrs.push_back(nullptr); // only the first output is read
  int64_t correct = 0;
  for (int64_t at = 0; at < data.count; at += cap) {
    int64_t n = std::min(cap, data.count - at);
    const float *in[] = {data.x.data() + at * data.sampleSize};
    if (model.forward(n, in, outPtrs) != DLC_OK) {
      error = model.lastError();
      return -1;
    }
    for (int64_t i = 0; i < n; ++i) {
      const float *row = scores.data() + i * io.outputSize;
      correct += std::max_element(row, row + io.outputSize) - row == data.labels[size_t(at + i)];
    }
  }
  return data.count ? double(correct) / double(data.count) : 0;
}

bool trainClassifier(Model &model, const Dataset &train, const Dataset &test, const TrainOptions &options,
                     std::ostream &log, TrainSummary &summary, std::string &error) {
  Interface io;
  if (!checkInterface(model, train, io, error)) return false;
  if (options.lr >= 0 && model.setHyper("lr", options.lr) != DLC_OK) {
    error = model.lastError();
    return false;
  }
  const int64_t cap = model.maxBatch(), d = train.sampleSize;
  std::vector<int64_t> order(size_t(train.count));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(options.seed);
  std::vector<float> xb(size_t(cap * d));
  std::vector<int32_t> yb(static_cast<size_t>(cap));
  auto start = std::chrono::steady_clock::now();
  for (int64_t epoch = 1; epoch <= options.epochs; ++epoch) {
    auto epochStart = std::chrono::steady_clock::now();
    std::shuffle(order.begin(), order.end(), rng);
    double lossSum = 0;
    int64_t seen = 0, steps = 0, totalSteps = (train.count + cap - 1) / cap;
    for (int64_t at = 0; at < train.count; at += cap) {
      int64_t n = std::min(cap, train.count - at);
      for (int64_t i = 0; i < n; ++i) {
        int64_t s = order[size_t(at + i)];
        std::copy_n(train.x.data() + s * d, d, xb.data() + i * d);
        yb[size_t(i)] = train.labels[size_t(s)];
      }
      const float *in[] = {xb.data()};
      const void *lab[] = {yb.data()};
      float loss = 0;
      if (model.trainStep(n, in, lab, &loss) != DLC_OK) {
        error = model.lastError();
        return false;
      }
      lossSum += double(loss) * double(n);
      seen += n;
      ++steps;
      if (options.progress && (steps % 20 == 0 || steps == totalSteps)) {
        double t = seconds(epochStart);
        int filled = int(30 * steps / totalSteps);
        std::fprintf(stderr, "\repoch %lld [%-30s] %3lld%%  loss %.4f  %.0f samples/s ", (long long)epoch,
                     std::string(size_t(filled), '=').c_str(), (long long)(100 * steps / totalSteps),
                     lossSum / double(seen), double(seen) / std::max(t, 1e-9));
      }
    }
    if (options.progress) std::fprintf(stderr, "\r%100s\r", "");
    double trainTime = seconds(epochStart);
    double acc = classificationAccuracy(model, test, error);
    if (acc < 0) return false;
    summary.lastLoss = lossSum / double(std::max<int64_t>(seen, 1));
    char line[256];
    std::snprintf(line, sizeof line, "epoch %lld/%lld  train loss %.4f  test accuracy %.2f%%  %.2f s  %.0f samples/s\n",
                  (long long)epoch, (long long)options.epochs, summary.lastLoss, 100 * acc, trainTime,
                  double(seen) / std::max(trainTime, 1e-9));
    log << line << std::flush;
    summary.testAccuracy = acc;
  }
  summary.seconds = seconds(start);
  char line[64];
  std::snprintf(line, sizeof line, "test accuracy: %.2f%%\n", 100 * summary.testAccuracy);
  log << line;
  return true;
}

} // namespace dlc
