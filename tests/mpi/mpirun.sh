#!/usr/bin/env bash
# mpirun for the tests: localhost, as many ranks as asked on 2 cores
# (--oversubscribe), as root too, and without the single-copy mechanism that
# containers forbid. Usage: mpirun.sh K program args...
set -euo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1
# Ranks waiting in a collective yield the core (2 cores, shared).
export OMPI_MCA_mpi_yield_when_idle=1
k="$1"; shift
exec mpirun --oversubscribe --bind-to none -np "$k" "$@"
