//===- train/Trainer.cpp ------------------------------------------------===//
#include "train/Trainer.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
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

double classificationAccuracy(Model &model, const Dataset &data, std::string &error, std::vector<int64_t> *confusion) {
  Interface io;
  if (!checkInterface(model, data, io, error)) return -1;
  if (confusion) confusion->assign(size_t(io.outputSize * io.outputSize), 0);
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
      int64_t predicted = std::max_element(row, row + io.outputSize) - row, label = data.labels[size_t(at + i)];
      correct += predicted == label;
      if (confusion) ++(*confusion)[size_t(label * io.outputSize + predicted)];
    }
  }
  return data.count ? double(correct) / double(data.count) : 0;
}

namespace {

/// Splits off the last `share` of a fixed shuffle of `all` as validation data.
void splitValidation(const Dataset &all, double share, uint64_t seed, Dataset &train, Dataset &val) {
  std::vector<int64_t> order(size_t(all.count));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(seed ^ 0x5eed));
  int64_t nval = int64_t(double(all.count) * share);
  for (Dataset *d : {&train, &val}) {
    d->sampleSize = all.sampleSize;
    d->x.clear();
    d->labels.clear();
  }
  for (int64_t i = 0; i < all.count; ++i) {
    Dataset &d = i < all.count - nval ? train : val;
    int64_t s = order[size_t(i)];
    d.x.insert(d.x.end(), all.x.begin() + s * all.sampleSize, all.x.begin() + (s + 1) * all.sampleSize);
    d.labels.push_back(all.labels[size_t(s)]);
  }
  train.count = int64_t(train.labels.size());
  val.count = int64_t(val.labels.size());
}

/// The mean loss over a data set (loss_and_grad on each batch; params unchanged).
bool meanLoss(Model &model, const Dataset &data, double &loss, std::string &error) {
  const int64_t cap = model.maxBatch();
  double sum = 0;
  for (int64_t at = 0; at < data.count; at += cap) {
    int64_t n = std::min(cap, data.count - at);
    const float *in[] = {data.x.data() + at * data.sampleSize};
    const void *lab[] = {data.labels.data() + at};
    float l = 0;
    if (model.lossAndGrad(n, in, lab, &l) != DLC_OK) {
      error = model.lastError();
      return false;
    }
    sum += double(l) * double(n);
  }
  loss = data.count ? sum / double(data.count) : 0;
  return true;
}

} // namespace

double scheduledLearningRate(const TrainOptions &o, double base, int64_t step, int64_t stepsPerEpoch) {
  double lr = base;
  if (o.schedule == "step") {
    double epoch = double(step / std::max<int64_t>(stepsPerEpoch, 1));
    lr = base * std::pow(o.gamma, std::floor(epoch / std::max(o.every, 1.0)));
  } else if (o.schedule == "cosine") {
    double total = double(std::max<int64_t>(o.epochs * stepsPerEpoch, 1));
    lr = o.minLr + (base - o.minLr) * 0.5 * (1 + std::cos(M_PI * std::min(double(step), total) / total));
  }
  if (o.warmup > 0 && step < o.warmup) lr *= double(step + 1) / double(o.warmup);
  return lr;
}

bool trainClassifier(Model &model, const Dataset &all, const Dataset &test, const TrainOptions &options,
                     std::ostream &log, TrainSummary &summary, std::string &error) {
  Interface io;
  if (!checkInterface(model, all, io, error)) return false;
  if (options.lr >= 0 && model.setHyper("lr", options.lr) != DLC_OK) {
    error = model.lastError();
    return false;
  }
  if (options.valSplit < 0 || options.valSplit >= 1) {
    error = "the validation split must be in [0, 1)";
    return false;
  }
  const double baseLr = model.hyper("lr");
  Dataset train, val;
  const Dataset *trainSet = &all;
  if (options.validation) {
    val = *options.validation;
  } else if (options.valSplit > 0) {
    splitValidation(all, options.valSplit, options.seed, train, val);
    trainSet = &train;
  }
  const int64_t cap = model.maxBatch(), d = trainSet->sampleSize;
  const int64_t stepsPerEpoch = (trainSet->count + cap - 1) / cap;
  std::vector<int64_t> order(size_t(trainSet->count));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(options.seed);
  // A resumed run replays the shuffles of the epochs it has done, so that it
  // continues exactly where the saved run was.
  int64_t done = options.resumed ? model.step() / std::max<int64_t>(stepsPerEpoch, 1) : 0;
  for (int64_t e = 0; e < done; ++e) std::shuffle(order.begin(), order.end(), rng);
  if (done > 0) log << "resuming after epoch " << done << " (step " << model.step() << ")\n";
  std::vector<float> xb(size_t(cap * d));
  std::vector<int32_t> yb(static_cast<size_t>(cap));
  double bestVal = INFINITY;
  int64_t sinceBest = 0;
  auto start = std::chrono::steady_clock::now();
  for (int64_t epoch = done + 1; epoch <= options.epochs; ++epoch) {
    auto epochStart = std::chrono::steady_clock::now();
    std::shuffle(order.begin(), order.end(), rng);
    double lossSum = 0;
    int64_t seen = 0, steps = 0;
    for (int64_t at = 0; at < trainSet->count; at += cap) {
      int64_t n = std::min(cap, trainSet->count - at);
      for (int64_t i = 0; i < n; ++i) {
        int64_t s = order[size_t(at + i)];
        std::copy_n(trainSet->x.data() + s * d, d, xb.data() + i * d);
        yb[size_t(i)] = trainSet->labels[size_t(s)];
      }
      const float *in[] = {xb.data()};
      const void *lab[] = {yb.data()};
      float loss = 0;
      if (options.schedule != "constant" || options.warmup > 0)
        model.setHyper("lr", scheduledLearningRate(options, baseLr, model.step(), stepsPerEpoch));
      if (model.trainStep(n, in, lab, &loss) != DLC_OK) {
        error = model.lastError();
        return false;
      }
      lossSum += double(loss) * double(n);
      seen += n;
      ++steps;
      if (options.progress && (steps % 20 == 0 || steps == stepsPerEpoch)) {
        double t = seconds(epochStart);
        int filled = int(30 * steps / stepsPerEpoch);
        std::fprintf(stderr, "\repoch %lld [%-30s] %3lld%%  loss %.4f  %.0f samples/s ", (long long)epoch,
                     std::string(size_t(filled), '=').c_str(), (long long)(100 * steps / stepsPerEpoch),
                     lossSum / double(seen), double(seen) / std::max(t, 1e-9));
      }
    }
    if (options.progress) std::fprintf(stderr, "\r%100s\r", "");
    double trainTime = seconds(epochStart);
    summary.lastLoss = lossSum / double(std::max<int64_t>(seen, 1));
    char line[320];
    int len = std::snprintf(line, sizeof line, "epoch %lld/%lld  train loss %.4f", (long long)epoch,
                            (long long)options.epochs, summary.lastLoss);
    double valLoss = 0;
    EpochRecord record;
    record.epoch = epoch;
    record.trainLoss = summary.lastLoss;
    record.seconds = trainTime;
    if (val.count > 0) {
      double valAcc = classificationAccuracy(model, val, error);
      if (valAcc < 0 || !meanLoss(model, val, valLoss, error)) return false;
      summary.valAccuracy = record.valAccuracy = valAcc;
      record.valLoss = valLoss;
      len += std::snprintf(line + len, sizeof line - size_t(len), "  val loss %.4f  val accuracy %.2f%%", valLoss,
                           100 * valAcc);
    }
    if (test.count > 0) {
      double acc = classificationAccuracy(model, test, error);
      if (acc < 0) return false;
      summary.testAccuracy = record.testAccuracy = acc;
      len += std::snprintf(line + len, sizeof line - size_t(len), "  test accuracy %.2f%%", 100 * acc);
    }
    std::snprintf(line + len, sizeof line - size_t(len), "  %.2f s  %.0f samples/s\n", trainTime,
                  double(seen) / std::max(trainTime, 1e-9));
    log << line << std::flush;
    summary.history.push_back(record);
    if (!options.checkpoint.empty() && model.save(options.checkpoint) != DLC_OK) {
      error = model.lastError();
      return false;
    }
    if (val.count > 0 && options.earlyStop > 0) {
      if (valLoss < bestVal) bestVal = valLoss, sinceBest = 0;
      else if (++sinceBest >= options.earlyStop) {
        log << "early stop: no better validation loss for " << options.earlyStop << " epochs\n";
        break;
      }
    }
  }
  summary.seconds = seconds(start);
  if (done >= options.epochs && test.count > 0) { // a resumed run that had already finished
    summary.testAccuracy = classificationAccuracy(model, test, error);
    if (summary.testAccuracy < 0) return false;
  }
  if (test.count > 0) {
    char line[64];
    std::snprintf(line, sizeof line, "test accuracy: %.2f%%\n", 100 * summary.testAccuracy);
    log << line;
  }
  return true;
}

bool plotHistory(const std::vector<EpochRecord> &history, const std::string &title, const std::string &png,
                 std::string &error) {
  if (history.empty()) {
    error = "no epochs to plot";
    return false;
  }
  std::string stem = png + ".tmp";
  std::string data = stem + ".dat", script = stem + ".gp";
  {
    std::ofstream d(data);
    d << "# epoch train_loss val_loss val_accuracy test_accuracy\n";
    auto v = [](double x) { return std::isnan(x) ? std::string("NaN") : std::to_string(x); };
    for (const EpochRecord &r : history)
      d << r.epoch << " " << r.trainLoss << " " << v(r.valLoss) << " " << v(100 * r.valAccuracy) << " "
        << v(100 * r.testAccuracy) << "\n";
    std::ofstream g(script);
    bool val = !std::isnan(history[0].valLoss), test = !std::isnan(history[0].testAccuracy);
    g << "set terminal png size 900,400\nset output '" << png << "'\nset multiplot layout 1,2 title '" << title
      << "'\nset xlabel 'epoch'\nset grid\nset key top right\nset title 'loss'\n"
      << "plot '" << data << "' using 1:2 with linespoints title 'train'"
      << (val ? ", '' using 1:3 with linespoints title 'validation'" : "") << "\n";
    if (val || test) {
      g << "set title 'accuracy (%)'\nset key bottom right\nplot ";
      if (val) g << "'" << data << "' using 1:4 with linespoints title 'validation'" << (test ? ", " : "");
      if (test) g << "'" << data << "' using 1:5 with linespoints title 'test'";
      g << "\n";
    }
    g << "unset multiplot\n";
    if (!d || !g) {
      error = "cannot write " + stem + ".*";
      return false;
    }
  }
  std::string command = "gnuplot '" + script + "' 2>&1";
  int status = std::system(command.c_str());
  std::remove(data.c_str());
  std::remove(script.c_str());
  if (status != 0) {
    error = "gnuplot failed (exit " + std::to_string(status) + "); is it installed? (apt install gnuplot-nox)";
    return false;
  }
  return true;
}

} // namespace dlc
