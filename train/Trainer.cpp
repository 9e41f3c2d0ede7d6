//===- train/Trainer.cpp ------------------------------------------------===//
#include "train/Trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "support/Gnuplot.h"

namespace dlc {

namespace {

double seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

/// Splits off the last `share` of a fixed shuffle of `all` as validation data.
void splitValidation(const Dataset &all, double share, uint64_t seed, Dataset &train, Dataset &val) {
  std::vector<int64_t> order(size_t(all.count));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(seed ^ 0x5eed));
  int64_t nval = int64_t(double(all.count) * share);
  train = all.emptyLike();
  val = all.emptyLike();
  for (int64_t i = 0; i < all.count; ++i) (i < all.count - nval ? train : val).append(all, order[size_t(i)]);
}

/// The sum of the per-row loss over rows [first, first + rows) (loss_and_grad
/// on each batch; params unchanged).
bool summedLoss(Model &model, const Dataset &data, int64_t first, int64_t rows, double &sum, std::string &error) {
  const int64_t cap = model.maxBatch();
  sum = 0;
  for (int64_t at = first; at < first + rows; at += cap) {
    int64_t n = std::min(cap, first + rows - at);
    const float *in[] = {data.x.data() + at * data.sampleSize};
    const void *lab[] = {data.labelOf(at)};
    float l = 0;
    if (model.lossAndGrad(n, in, lab, &l) != DLC_OK) {
      error = model.lastError();
      return false;
    }
    sum += double(l) * double(n);
  }
  return true;
}

/// The metrics (and, with `loss`, the mean loss) over a whole data set, each
/// rank evaluating its share of the rows and the tallies summed over ranks.
bool evaluateShared(Model &model, const Dataset &data, const Scoring &scoring, DataParallel &parallel,
                    Metrics &metrics, double *loss, std::string &error) {
  auto [first, rows] = parallel.evaluationRows(data.count);
  Tally tally;
  double sums[3] = {0, 0, 0};
  if (!tallyRows(model, data, scoring, first, rows, tally, error)) return false;
  if (loss && !summedLoss(model, data, first, rows, sums[2], error)) return false;
  sums[0] = tally.correct, sums[1] = tally.squaredError;
  if (!parallel.sum(sums, error)) return false;
  metrics = metricsOf(Tally{sums[0], sums[1]}, data, scoring);
  if (loss) *loss = data.count ? sums[2] / double(data.count) : 0;
  return true;
}

} // namespace

bool evaluate(Model &model, const Dataset &data, const std::string &task, double threshold, Metrics &metrics,
              std::string &error, std::vector<int64_t> *confusion) {
  Scoring scoring;
  Tally tally;
  if (!scoringFor(model, data, task, threshold, scoring, error) ||
      !tallyRows(model, data, scoring, 0, data.count, tally, error, confusion))
    return false;
  metrics = metricsOf(tally, data, scoring);
  return true;
}

double classificationAccuracy(Model &model, const Dataset &data, std::string &error, std::vector<int64_t> *confusion) {
  Metrics m;
  if (!evaluate(model, data, "", 0, m, error, confusion)) return -1;
  return data.count ? m.accuracy : 0;
}

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

/// One run of trainModel, as steps: set up, then per epoch train, evaluate,
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
      if (!logMetrics(record)) return false;
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
      if (!evaluateShared(model_, test_, scoring_, parallel_, summary_.test, nullptr, error_)) return false;
    if (test_.count > 0) log_ << describe(summary_.test, scoring_, "test", true) << "\n";
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
    if (!scoringFor(model_, all, o_.task, o_.threshold, scoring_, error_)) return false;
    if (test_.count > 0 && !scoringFor(model_, test_, o_.task, o_.threshold, scoring_, error_)) return false;
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
    yb_.resize(size_t(cap_) * all.labelBytes());
    if (!o_.metricsLog.empty() && writer()) {
      metrics_.open(o_.metricsLog, std::ios::trunc);
      metrics_ << "epoch,train_loss,val_loss,val_accuracy,val_mse,val_r2,test_accuracy,test_mse,test_r2,lr,seconds\n";
      if (!metrics_) {
        error_ = "--log: cannot write " + o_.metricsLog;
        return false;
      }
    }
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
      const size_t bytes = trainSet_->labelBytes();
      std::memcpy(yb_.data() + size_t(i) * bytes, trainSet_->labelOf(s), bytes);
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
      if (!parallel_.step(model_, n, xb_.data(), yb_.data(), trainSet_->sampleSize, trainSet_->labelBytes(), lossSum,
                          lossRows, error_))
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
      double valLoss = 0;
      if (!evaluateShared(model_, val_, scoring_, parallel_, record.val, &valLoss, error_)) return false;
      summary_.val = record.val;
      record.valLoss = valLoss;
    }
    if (test_.count > 0) {
      if (!evaluateShared(model_, test_, scoring_, parallel_, record.test, nullptr, error_)) return false;
      summary_.test = record.test;
    }
    return true;
  }

  /// The epoch's line: `epoch 3/10  train loss 0.1234  [val ...]  [test ...]  0.10 s  80000 samples/s`.
  void report(const EpochRecord &r, int64_t seen) {
    char line[320];
    int len = std::snprintf(line, sizeof line, "epoch %lld/%lld  train loss %.4f", (long long)r.epoch,
                            (long long)o_.epochs, r.trainLoss);
    if (val_.count > 0)
      len += std::snprintf(line + len, sizeof line - size_t(len), "  val loss %.4f  %s", r.valLoss,
                           describe(r.val, scoring_, "val").c_str());
    if (test_.count > 0)
      len += std::snprintf(line + len, sizeof line - size_t(len), "  %s", describe(r.test, scoring_, "test").c_str());
    std::snprintf(line + len, sizeof line - size_t(len), "  %.2f s  %.0f samples/s\n", r.seconds,
                  double(seen) / std::max(r.seconds, 1e-9));
    log_ << line << std::flush;
  }

  /// --log: the header when the file is opened, then one row per epoch,
  /// flushed, so that a long run can be watched (and a crash loses nothing).
  bool logMetrics(const EpochRecord &r) {
    if (!metrics_.is_open()) return true;
    auto v = [](double x) { return std::isnan(x) ? std::string() : fmt::format("{:.6g}", x); };
    metrics_ << fmt::format("{},{},{},{},{},{},{},{},{},{},{:.3f}\n", r.epoch, v(r.trainLoss), v(r.valLoss),
                            v(r.val.accuracy), v(r.val.mse), v(r.val.r2), v(r.test.accuracy), v(r.test.mse), v(r.test.r2),
                            v(model_.hyper("lr")), r.seconds);
    metrics_.flush();
    if (!metrics_) {
      error_ = "--log: cannot write " + o_.metricsLog;
      return false;
    }
    return true;
  }

  /// Loads the best epoch's checkpoint back, so the test accuracy is the best model's.
  bool restoreBest() {
    if (model_.load(o_.checkpoint) != DLC_OK) return fail();
    log_ << "restored epoch " << bestEpoch_ << " from " << o_.checkpoint << "\n";
    if (test_.count > 0) {
      if (!evaluateShared(model_, test_, scoring_, parallel_, summary_.test, nullptr, error_)) return false;
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
  std::vector<char> yb_; ///< the batch's labels, as the model's label buffer holds them
  Scoring scoring_;
  std::ofstream metrics_; ///< --log
  double bestVal_ = INFINITY;
  int64_t sinceBest_ = 0, bestEpoch_ = 0;
  DataParallel parallel_; ///< one process, simulated ranks or MPI ranks
};

} // namespace

bool trainModel(Model &model, const Dataset &all, const Dataset &test, const TrainOptions &options,
                     std::ostream &log, TrainSummary &summary, std::string &error) {
  return TrainingRun(model, test, options, log, summary, error).run(all);
}

bool plotHistory(const std::vector<EpochRecord> &history, const std::string &title, const std::string &png,
                 std::string &error) {
  if (history.empty()) {
    error = "no epochs to plot";
    return false;
  }
  return plotWithGnuplot(png, [&](std::ostream &d, std::ostream &g, const std::string &data) {
    // The second panel: accuracy (classification tasks) or mean squared error (regression).
    bool regression = std::isnan(history[0].val.accuracy) && std::isnan(history[0].test.accuracy);
    auto metric = [&](const Metrics &m) { return regression ? m.mse : 100 * m.accuracy; };
    d << "# epoch train_loss val_loss " << (regression ? "val_mse test_mse" : "val_accuracy test_accuracy") << "\n";
    auto v = [](double x) { return std::isnan(x) ? std::string("NaN") : std::to_string(x); };
    for (const EpochRecord &r : history)
      d << r.epoch << " " << r.trainLoss << " " << v(r.valLoss) << " " << v(metric(r.val)) << " " << v(metric(r.test))
        << "\n";
    bool val = !std::isnan(history[0].valLoss), test = !std::isnan(metric(history[0].test));
    g << "set terminal png size 900,400\nset output '" << png << "'\nset multiplot layout 1,2 title '" << title
      << "'\nset xlabel 'epoch'\nset grid\nset key top right\nset title 'loss'\n"
      << "plot '" << data << "' using 1:2 with linespoints title 'train'"
      << (val ? ", '' using 1:3 with linespoints title 'validation'" : "") << "\n";
    if (val || test) {
      g << (regression ? "set title 'mean squared error'\nset key top right\nplot "
                       : "set title 'accuracy (%)'\nset key bottom right\nplot ");
      if (val) g << "'" << data << "' using 1:4 with linespoints title 'validation'" << (test ? ", " : "");
      if (test) g << "'" << data << "' using 1:5 with linespoints title 'test'";
      g << "\n";
    }
    g << "unset multiplot\n";
  }, error);
}

} // namespace dlc
