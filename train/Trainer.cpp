//===- train/Trainer.cpp ------------------------------------------------===//
#include "train/Trainer.h"

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

namespace {

/// The number of rows in [first, first + rows) whose largest score is the label.
int64_t countCorrect(Model &model, const Dataset &data, int64_t first, int64_t rows, std::string &error,
                     std::vector<int64_t> *confusion);

} // namespace

double classificationAccuracy(Model &model, const Dataset &data, std::string &error, std::vector<int64_t> *confusion) {
  int64_t correct = countCorrect(model, data, 0, data.count, error, confusion);
  if (correct < 0) return -1;
  return data.count ? double(correct) / double(data.count) : 0;
}

namespace {

int64_t countCorrect(Model &model, const Dataset &data, int64_t first, int64_t rows, std::string &error,
                     std::vector<int64_t> *confusion) {
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
  for (int64_t at = first; at < first + rows; at += cap) {
    int64_t n = std::min(cap, first + rows - at);
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
  return correct;
}

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

/// The sum of the per-row loss over rows [first, first + rows) (loss_and_grad
/// on each batch; params unchanged).
bool summedLoss(Model &model, const Dataset &data, int64_t first, int64_t rows, double &sum, std::string &error) {
  const int64_t cap = model.maxBatch();
  sum = 0;
  for (int64_t at = first; at < first + rows; at += cap) {
    int64_t n = std::min(cap, first + rows - at);
    const float *in[] = {data.x.data() + at * data.sampleSize};
    const void *lab[] = {data.labels.data() + at};
    float l = 0;
    if (model.lossAndGrad(n, in, lab, &l) != DLC_OK) {
      error = model.lastError();
      return false;
    }
    sum += double(l) * double(n);
  }
  return true;
}

/// Accuracy (and, with `loss`, the mean loss) over a whole data set, each
/// rank evaluating its share of the rows and the counts summed over ranks.
bool evaluateShared(Model &model, const Dataset &data, DataParallel &parallel, double &accuracy, double *loss,
                    std::string &error) {
  auto [first, rows] = parallel.evaluationRows(data.count);
  int64_t correct = countCorrect(model, data, first, rows, error, nullptr);
  double sums[2] = {double(correct), 0};
  if (correct < 0 || (loss && !summedLoss(model, data, first, rows, sums[1], error))) return false;
  if (!parallel.sum(sums, error)) return false;
  accuracy = data.count ? sums[0] / double(data.count) : 0;
  if (loss) *loss = data.count ? sums[1] / double(data.count) : 0;
  return true;
}

} // namespace

bool meanLoss(Model &model, const Dataset &data, double &loss, std::string &error) {
  double sum = 0;
  if (!summedLoss(model, data, 0, data.count, sum, error)) return false;
  loss = data.count ? sum / double(data.count) : 0;
  return true;
}

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

namespace {

/// One run of trainClassifier, as steps: set up, then per epoch train, evaluate,
/// report, checkpoint and decide whether to stop early.
class TrainingRun {
public:
  TrainingRun(Model &model, const Dataset &test, const TrainOptions &options, std::ostream &log,
              TrainSummary &summary, std::string &error)
      : model_(model), test_(test), o_(options), log_(log), summary_(summary), error_(error),
        parallel_(options.parallel) {}

  bool run(const Dataset &all) {
    if (!setUp(all)) return false;
    int64_t done = resume();
    if (done >= o_.epochs)
      log_ << "nothing to train: the checkpoint has done " << done << " epochs and the run has " << o_.epochs
           << " (raise --epochs to continue)\n";
    auto start = std::chrono::steady_clock::now();
    for (int64_t epoch = done + 1; epoch <= o_.epochs; ++epoch) {
      EpochRecord record;
      record.epoch = epoch;
      int64_t seen = 0;
      if (!trainEpoch(epoch, record, seen) || !evaluate(record)) return false;
      report(record, seen);
      summary_.history.push_back(record);
      // With early stopping the checkpoint keeps the best epoch, else the last.
      bool keepsBest = o_.earlyStop > 0 && val_.count > 0, improved = record.valLoss < bestVal_;
      if (improved) bestEpoch_ = epoch;
      if (writer() && !o_.checkpoint.empty() && (!keepsBest || improved) && model_.save(o_.checkpoint) != DLC_OK)
        return fail();
      if (stopsEarly(record.valLoss)) {
        log_ << "early stop: no better validation loss for " << o_.earlyStop << " epochs; the best was epoch "
             << bestEpoch_ << " (val loss " << bestVal_ << ")\n";
        if (!o_.checkpoint.empty() && !restoreBest()) return false;
        break;
      }
    }
    summary_.seconds = seconds(start);
    if (done >= o_.epochs && test_.count > 0) // a resumed run that had already finished
      if (!evaluateShared(model_, test_, parallel_, summary_.testAccuracy, nullptr, error_)) return false;
    if (test_.count > 0) {
      char line[64];
      std::snprintf(line, sizeof line, "test accuracy: %.2f%%\n", 100 * summary_.testAccuracy);
      log_ << line;
    }
    return true;
  }

private:
  bool fail() {
    error_ = model_.lastError();
    return false;
  }

  /// Rank 0 (or the only process) prints progress and writes checkpoints.
  bool writer() const { return parallel_.rank() == 0; }

  /// Checks the model against the data, applies the rate override and
  /// splits off the validation set.
  bool setUp(const Dataset &all) {
    Interface io;
    if (!checkInterface(model_, all, io, error_)) return false;
    if (o_.lr >= 0 && model_.setHyper("lr", o_.lr) != DLC_OK) return fail();
    if (o_.valSplit < 0 || o_.valSplit >= 1) {
      error_ = "the validation split must be in [0, 1)";
      return false;
    }
    baseLr_ = model_.hyper("lr");
    trainSet_ = &all;
    if (o_.validation) {
      val_ = *o_.validation;
    } else if (o_.valSplit > 0) {
      splitValidation(all, o_.valSplit, o_.seed, train_, val_);
      trainSet_ = &train_;
    }
    cap_ = model_.maxBatch();
    stepsPerEpoch_ = (trainSet_->count + cap_ - 1) / cap_;
    order_.resize(size_t(trainSet_->count));
    std::iota(order_.begin(), order_.end(), 0);
    rng_.seed(o_.seed);
    xb_.resize(size_t(cap_ * trainSet_->sampleSize));
    yb_.resize(size_t(cap_));
    // Rank 0's state (a checkpoint only it loaded, too) to every rank.
    return parallel_.start(model_, error_);
  }

  /// The epochs a resumed model has done. Their shuffles are replayed, so
  /// that the run continues exactly where the saved one was.
  int64_t resume() {
    int64_t done = o_.resumed ? model_.step() / std::max<int64_t>(stepsPerEpoch_, 1) : 0;
    for (int64_t e = 0; e < done; ++e) std::shuffle(order_.begin(), order_.end(), rng_);
    if (done > 0) log_ << "resuming after epoch " << done << " (step " << model_.step() << ")\n";
    return done;
  }

  /// Copies the samples order_[at .. at + n) into the batch buffers.
  void gatherBatch(int64_t at, int64_t n) {
    const int64_t d = trainSet_->sampleSize;
    for (int64_t i = 0; i < n; ++i) {
      int64_t s = order_[size_t(at + i)];
      std::copy_n(trainSet_->x.data() + s * d, d, xb_.data() + i * d);
      yb_[size_t(i)] = trainSet_->labels[size_t(s)];
    }
  }

  /// One pass over the shuffled training set; `seen` counts its samples.
  bool trainEpoch(int64_t epoch, EpochRecord &record, int64_t &seen) {
    auto epochStart = std::chrono::steady_clock::now();
    std::shuffle(order_.begin(), order_.end(), rng_);
    double lossSum = 0;            // over the rows this rank computed:
    int64_t steps = 0, lossRows = 0; // lossRows of them
    for (int64_t at = 0; at < trainSet_->count; at += cap_) {
      int64_t n = std::min(cap_, trainSet_->count - at);
      gatherBatch(at, n);
      if (o_.schedule != "constant" || o_.warmup > 0)
        model_.setHyper("lr", scheduledLearningRate(o_, baseLr_, model_.step(), stepsPerEpoch_));
      if (!parallel_.step(model_, n, xb_.data(), yb_.data(), trainSet_->sampleSize, lossSum, lossRows, error_))
        return false;
      seen += n;
      ++steps;
      if (o_.progress && writer() && (steps % 20 == 0 || steps == stepsPerEpoch_))
        showProgress(epoch, steps, lossSum / double(std::max<int64_t>(lossRows, 1)),
                     double(seen) / std::max(seconds(epochStart), 1e-9));
    }
    if (o_.progress && writer()) std::fprintf(stderr, "\r%100s\r", "");
    if (!parallel_.sum({&lossSum, 1}, error_)) return false; // the ranks' shares of the epoch's loss
    record.seconds = seconds(epochStart);
    record.trainLoss = summary_.lastLoss = lossSum / double(std::max<int64_t>(seen, 1));
    return true;
  }

  /// The progress bar of the running epoch, on stderr.
  void showProgress(int64_t epoch, int64_t steps, double meanLoss, double samplesPerSecond) const {
    int filled = int(30 * steps / stepsPerEpoch_);
    std::fprintf(stderr, "\repoch %lld [%-30s] %3lld%%  loss %.4f  %.0f samples/s ", (long long)epoch,
                 std::string(size_t(filled), '=').c_str(), (long long)(100 * steps / stepsPerEpoch_), meanLoss,
                 samplesPerSecond);
  }

  /// Validation loss and accuracy, and test accuracy, where there is such data.
  bool evaluate(EpochRecord &record) {
    if (val_.count > 0) {
      double valAcc = 0, valLoss = 0;
      if (!evaluateShared(model_, val_, parallel_, valAcc, &valLoss, error_)) return false;
      summary_.valAccuracy = record.valAccuracy = valAcc;
      record.valLoss = valLoss;
    }
    if (test_.count > 0) {
      double acc = 0;
      if (!evaluateShared(model_, test_, parallel_, acc, nullptr, error_)) return false;
      summary_.testAccuracy = record.testAccuracy = acc;
    }
    return true;
  }

  /// The epoch's line: `epoch 3/10  train loss 0.1234  [val ...]  [test ...]  0.10 s  80000 samples/s`.
  void report(const EpochRecord &r, int64_t seen) {
    char line[320];
    int len = std::snprintf(line, sizeof line, "epoch %lld/%lld  train loss %.4f", (long long)r.epoch,
                            (long long)o_.epochs, r.trainLoss);
    if (val_.count > 0)
      len += std::snprintf(line + len, sizeof line - size_t(len), "  val loss %.4f  val accuracy %.2f%%", r.valLoss,
                           100 * r.valAccuracy);
    if (test_.count > 0)
      len += std::snprintf(line + len, sizeof line - size_t(len), "  test accuracy %.2f%%", 100 * r.testAccuracy);
    std::snprintf(line + len, sizeof line - size_t(len), "  %.2f s  %.0f samples/s\n", r.seconds,
                  double(seen) / std::max(r.seconds, 1e-9));
    log_ << line << std::flush;
  }

  /// Loads the best epoch's checkpoint back, so the test accuracy is the best model's.
  bool restoreBest() {
    if (model_.load(o_.checkpoint) != DLC_OK) return fail();
    log_ << "restored epoch " << bestEpoch_ << " from " << o_.checkpoint << "\n";
    if (test_.count > 0) {
      summary_.testAccuracy = classificationAccuracy(model_, test_, error_);
      if (summary_.testAccuracy < 0) return false;
    }
    return true;
  }

  /// Early stopping: true after o_.earlyStop epochs without a better validation loss.
  bool stopsEarly(double valLoss) {
    if (val_.count == 0 || o_.earlyStop <= 0) return false;
    if (valLoss < bestVal_) {
      bestVal_ = valLoss, sinceBest_ = 0;
      return false;
    }
    return ++sinceBest_ >= o_.earlyStop;
  }

  Model &model_;
  const Dataset &test_;
  const TrainOptions &o_;
  std::ostream &log_;
  TrainSummary &summary_;
  std::string &error_;
  Dataset train_, val_;
  const Dataset *trainSet_ = nullptr; ///< all the data, or train_ after a validation split
  double baseLr_ = 0;
  int64_t cap_ = 1, stepsPerEpoch_ = 1;
  std::vector<int64_t> order_; ///< the shuffled sample order
  std::mt19937_64 rng_;
  std::vector<float> xb_;
  std::vector<int32_t> yb_;
  double bestVal_ = INFINITY;
  int64_t sinceBest_ = 0, bestEpoch_ = 0;
  DataParallel parallel_; ///< one process, simulated ranks or MPI ranks
};

} // namespace

bool trainClassifier(Model &model, const Dataset &all, const Dataset &test, const TrainOptions &options,
                     std::ostream &log, TrainSummary &summary, std::string &error) {
  return TrainingRun(model, test, options, log, summary, error).run(all);
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
