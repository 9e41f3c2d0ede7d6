// A C++ host that compiles a model from a string at run time (JIT), trains it
// on a synthetic problem, and shows how compile errors arrive as data.
//
//   dlc_host            train a small classifier, print the loss falling
//   dlc_host FILE.net   compile FILE.net and list its tensors (or its errors)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include <dlc/dlc.hpp>

static const char *kModel = R"(
model blobs {
  input  x : [2]
  label  y : class(3)
  param  A : [16, 2] ~ he
  param  b : [16]    ~ zeros
  param  C : [3, 16] ~ glorot
  w = C @ relu(A @ x + b)
  output p = softmax(w)
  loss cross_entropy(w, y)
}
train blobs {
  optimizer sgd(lr = 0.2, momentum = 0.9)
  batch 32
}
)";

static int listTensors(const char *path) {
  dlc::CompileResult r = dlc::compileFile(path);
  if (!r) {
    std::fprintf(stderr, "%s", r.rendered.c_str());
    for (const dlc::Message &m : r.messages)
      std::printf("message: %s at %s:%u:%u: %s\n", m.severity.c_str(), m.file.c_str(), m.line, m.column, m.text.c_str());
    return 1;
  }
  for (const dlc_tensor_info &t : r.model->tensors()) std::printf("tensor %s role %d rank %d\n", t.name, int(t.role), t.rank);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1) return listTensors(argv[1]);
  dlc::CompileOptions options;
  options.seed = 1;
  dlc::CompileResult r = dlc::compileString(kModel, options);
  if (!r) {
    std::fprintf(stderr, "%s", r.rendered.c_str());
    return 1;
  }
  dlc::Model &model = *r.model;
  const int64_t n = model.maxBatch();
  // Three blobs around the corners of a triangle.
  std::vector<float> x(size_t(2 * n));
  std::vector<int32_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int c = int(i % 3);
    y[size_t(i)] = c;
    x[size_t(2 * i)] = std::cos(2.1f * float(c)) + 0.1f * std::sin(float(7 * i));
    x[size_t(2 * i + 1)] = std::sin(2.1f * float(c)) + 0.1f * std::cos(float(5 * i));
  }
  const float *inputs[] = {x.data()};
  const void *labels[] = {y.data()};
  float first = 0, loss = 0;
  for (int step = 0; step < 100; ++step) {
    if (model.trainStep(n, inputs, labels, &loss) != DLC_OK) {
      std::fprintf(stderr, "train_step: %s\n", model.lastError());
      return 1;
    }
    if (step == 0) first = loss;
  }
  std::vector<float> p(size_t(3 * n));
  float *outputs[] = {p.data()};
  model.forward(n, inputs, outputs);
  int correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float *row = &p[size_t(3 * i)];
    int best = int(std::max_element(row, row + 3) - row);
    correct += best == y[size_t(i)];
  }
  std::printf("loss %.4f -> %.4f, %d of %lld correct\n", first, loss, correct, (long long)n);
  // A wrong call is an error code and a message, not a crash.
  if (model.forward(0, inputs, outputs) == DLC_ERR_BATCH) std::printf("rejected: %s\n", model.lastError());
  return loss < 0.25f * first ? 0 : 1;
}
