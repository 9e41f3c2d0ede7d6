//===- tools/dlc/MpiProcessGroup.cpp --------------------------------------===//
#include "MpiProcessGroup.h"

#include <cstdlib>
#include <cstring>

#include <mpi.h>

#include "dlc/dlc_mpi.h"

namespace dlc {

namespace {

bool started = false;

class MpiProcessGroup final : public ProcessGroup {
public:
  MpiProcessGroup() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    // Errors come back as codes and end the job through abortMpi, with a
    // message of ours first.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  bool broadcast(std::span<float> state, int64_t &step, std::string &error) override {
    return check(dlc_mpi_broadcast_buffers(state.data(), int64_t(state.size()), &step, MPI_COMM_WORLD),
                 "broadcasting rank 0's state", error);
  }
  bool averageGradients(std::span<float> grads, int64_t rows, int64_t globalRows, bool deterministic,
                        std::string &error) override {
    if (deterministic) gathered_.resize(grads.size() * size_t(size_));
    return check(dlc_mpi_reduce_buffer(grads.data(), int64_t(grads.size()), rows, globalRows, deterministic,
                                       gathered_.data(), MPI_COMM_WORLD),
                 "averaging the gradients", error);
  }
  bool sum(std::span<double> values, std::string &error) override {
    return check(MPI_Allreduce(MPI_IN_PLACE, values.data(), int(values.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
                 "summing the metrics", error);
  }
  bool gatherHashes(uint64_t hash, std::vector<uint64_t> &all, std::string &error) override {
    all.assign(size_t(size_), 0);
    unsigned long long mine = hash;
    std::vector<unsigned long long> got(static_cast<size_t>(size_));
    bool ok = check(MPI_Allgather(&mine, 1, MPI_UNSIGNED_LONG_LONG, got.data(), 1, MPI_UNSIGNED_LONG_LONG, MPI_COMM_WORLD),
                    "gathering the ranks' hashes", error);
    std::copy(got.begin(), got.end(), all.begin());
    return ok;
  }

private:
  bool check(int rc, const char *what, std::string &error) {
    if (rc == MPI_SUCCESS) return true;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) std::strcpy(text, "unknown MPI error");
    error = std::string(what) + " failed on rank " + std::to_string(rank_) + ": " + text;
    return false;
  }
  int rank_ = 0, size_ = 1;
  std::vector<float> gathered_;
};

/// Whether mpirun (Open MPI, MPICH, Slurm's PMI) started this process.
bool launchedByMpi() {
  for (const char *v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v)) return true;
  return false;
}

} // namespace

std::unique_ptr<ProcessGroup> startMpi(int &argc, char **&argv) {
  if (!launchedByMpi()) return nullptr;
  int provided = 0;
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return nullptr;
  started = true;
  return std::make_unique<MpiProcessGroup>();
}

void finishMpi() {
  if (started) MPI_Finalize();
  started = false;
}

void abortMpi(int code) {
  if (started) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

} // namespace dlc
