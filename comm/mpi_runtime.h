// MPI's lifetime as an object: MpiRuntime initialises MPI once (MPI_Init_thread) and finalises it in its
// destructor, and make_world_communicator() picks the backend for the whole job. Whether the process was
// launched under mpirun/srun is decided by launch/, which alone reads the environment.
#pragma once

#include <memory>

#include "comm/communicator.h"

namespace cxr::comm {

class MpiRuntime {
 public:
  // Requests MPI_THREAD_MULTIPLE and requires at least MPI_THREAD_FUNNELED (MPI called from the main
  // thread only, while loader threads run). argc/argv may be null. If MPI is already initialised this
  // object neither initialises nor finalises it. Throws std::runtime_error if MPI was finalised.
  explicit MpiRuntime(int* argc = nullptr, char*** argv = nullptr);
  ~MpiRuntime();  // MPI_Finalize, if this object initialised MPI
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

  int thread_level() const { return thread_level_; }  // MPI_THREAD_* that MPI provides

 private:
  bool owns_ = false;
  int thread_level_ = 0;
};

// MpiCommunicator over (a duplicate of) MPI_COMM_WORLD when use_mpi, else a LocalCommunicator.
// With use_mpi, an MpiRuntime must be alive and must outlive the returned communicator.
std::unique_ptr<Communicator> make_world_communicator(bool use_mpi);

}  // namespace cxr::comm
