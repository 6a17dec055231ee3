// MPI initialisation and finalisation (see mpi_runtime.h).
#include "comm/mpi_runtime.h"

#include <stdexcept>

#include "comm/local_communicator.h"
#include "comm/mpi_check.h"
#include "comm/mpi_communicator.h"

namespace cxr::comm {

MpiRuntime::MpiRuntime(int* argc, char*** argv) {
  int initialized = 0, finalized = 0;
  MPI_CHECK(MPI_Initialized(&initialized));
  MPI_CHECK(MPI_Finalized(&finalized));
  if (finalized) throw std::runtime_error("MPI was already finalised in this process and cannot be restarted");
  if (initialized) {
    MPI_CHECK(MPI_Query_thread(&thread_level_));
  } else {
    MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &thread_level_));
    owns_ = true;
  }
  if (thread_level_ < MPI_THREAD_FUNNELED) {
    if (owns_) MPI_Finalize();  // the destructor does not run when the constructor throws
    throw std::runtime_error("the MPI library provides thread level " + std::to_string(thread_level_) +
                             " but cxrtrain needs at least MPI_THREAD_FUNNELED (" +
                             std::to_string(MPI_THREAD_FUNNELED) + "); rebuild or choose another MPI");
  }
}

MpiRuntime::~MpiRuntime() {
  int finalized = 0;
  if (owns_ && MPI_Finalized(&finalized) == MPI_SUCCESS && !finalized) MPI_Finalize();
}

std::unique_ptr<Communicator> make_world_communicator(bool use_mpi) {
  if (!use_mpi) return std::make_unique<LocalCommunicator>();
  return std::make_unique<MpiCommunicator>(MPI_COMM_WORLD);
}

}  // namespace cxr::comm
