//===- tools/dlc/MpiProcessGroup.h - The trainer's ranks on MPI -----------===//
//
// The driver owns MPI: it initializes it when started by mpirun, gives the
// trainer this ProcessGroup over MPI_COMM_WORLD (through dlc/dlc_mpi.h), and
// ends a failing job with MPI_Abort, so that no rank waits forever for one
// that has stopped.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <memory>
#include <string>

#include "train/DataParallel.h"

namespace dlc {

/// MPI_Init (thread level funneled); null when MPI was not started (the
/// driver runs alone) or dlc was built without MPI.
std::unique_ptr<ProcessGroup> startMpi(int &argc, char **&argv);
/// MPI_Finalize, when startMpi started it.
void finishMpi();
/// Ends every rank of the job with `code` (MPI_Abort), after the message.
[[noreturn]] void abortMpi(int code);

} // namespace dlc
