//===- bench/dlc_mpi_step.cpp - Data-parallel steps on MPI ranks, timed ----===//
//
// Under mpirun -np K: each rank JIT-compiles the model, takes its shard of
// one fixed synthetic global batch (the model's batch), and times steps of
// loss_and_grad + one MPI_Allreduce of the gradient buffer + update
// (dlc/dlc_mpi.h), after warm-up, until MIN_TIME seconds and 50 steps. Also
// times the step without the allreduce (compute_ms: every rank computing at
// once, as in the step) and the allreduce alone on the gradient buffer and
// on 8 bytes (the terms of the cost model in docs/scaling.md). Rank 0 prints one
// key=value line per model.
//
//   mpirun -np K dlc_mpi_step MODELS_DIR [models=mnist,wide] [min_time=2]
//
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <mpi.h>

#include <dlc/dlc.hpp>
#include <dlc/dlc_mpi.h>

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Runs `body` on every rank until rank 0 has MIN_TIME and 50 samples; the
/// per-call times of rank 0 (all ranks agree on when to stop).
template <class F> std::vector<double> timeCollective(double minTime, F body) {
  std::vector<double> times;
  double start = now();
  for (int go = 1; go;) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t = now();
    body();
    times.push_back(now() - t);
    go = times.size() < 50 || now() - start < minTime;
    MPI_Bcast(&go, 1, MPI_INT, 0, MPI_COMM_WORLD);
  }
  return times;
}

} // namespace

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc < 2) {
    std::fprintf(stderr, "usage: mpirun -np K dlc_mpi_step MODELS_DIR [models] [min_time]\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  std::string dir = argv[1], models = argc > 2 ? argv[2] : "mnist,wide";
  double minTime = argc > 3 ? std::atof(argv[3]) : 2;
  std::stringstream list(models);
  for (std::string name; std::getline(list, name, ',');) {
    dlc::CompileResult r = dlc::compileFile(dir + "/" + name + ".net");
    if (!r) {
      std::fprintf(stderr, "%s", r.rendered.c_str());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    dlc::Model &m = *r.model;
    const int64_t global = m.maxBatch();
    int64_t begin, rows;
    dlc_mpi_shard(global, rank, size, &begin, &rows);
    int64_t width = 1;
    for (const dlc_tensor_info &t : m.tensors())
      if (t.role == DLC_ROLE_INPUT)
        for (int d = 1; d < t.rank; ++d) width *= t.dims[d];
    std::vector<float> x(static_cast<size_t>(rows * width));
    std::vector<int32_t> y(static_cast<size_t>(rows));
    for (size_t i = 0; i < x.size(); ++i) x[i] = float((i * 2654435761u) % 1000) / 1000.0f;
    for (int64_t i = 0; i < rows; ++i) y[size_t(i)] = int32_t((begin + i) % 10);
    const float *in[] = {x.data()};
    const void *lab[] = {y.data()};
    std::span<float> grads = m.gradients();
    auto step = [&] {
      if (m.lossAndGrad(rows, in, lab) != DLC_OK ||
          dlc_mpi_reduce_buffer(grads.data(), int64_t(grads.size()), rows, global, 0, nullptr, MPI_COMM_WORLD) ||
          m.applyUpdate() != DLC_OK) {
        std::fprintf(stderr, "rank %d: %s\n", rank, m.lastError());
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
    };
    for (int i = 0; i < 20; ++i) step();
    std::vector<double> steps = timeCollective(minTime, step);
    // The same step without the allreduce, all ranks at once (the compute term under the same contention).
    std::vector<double> compute = timeCollective(minTime / 2, [&] {
      if (m.lossAndGrad(rows, in, lab) != DLC_OK || m.applyUpdate() != DLC_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    });
    std::vector<float> copy(grads.begin(), grads.end());
    std::vector<double> reduce = timeCollective(minTime / 4, [&] {
      MPI_Allreduce(MPI_IN_PLACE, copy.data(), int(copy.size()), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    });
    double word = 0;
    std::vector<double> latency = timeCollective(minTime / 4, [&] {
      MPI_Allreduce(MPI_IN_PLACE, &word, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    });
    if (rank == 0)
      std::printf("peer=dlc-mpi model=%s ranks=%d global_batch=%lld step_ms=%.4f samples_per_s=%.0f compute_ms=%.4f "
                  "allreduce_ms=%.4f allreduce_bytes=%zu latency_us=%.2f steps=%zu\n",
                  name.c_str(), size, (long long)global, 1e3 * median(steps), double(global) / median(steps),
                  1e3 * median(compute),
                  1e3 * median(reduce), grads.size_bytes(), 1e6 * median(latency), steps.size());
    std::fflush(stdout);
  }
  MPI_Finalize();
  return 0;
}
