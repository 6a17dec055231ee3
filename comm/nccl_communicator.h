// Communicator over NCCL for CUDA tensors: one rank per GPU, bootstrapped over MPI. Collectives run on
// the communicator's own CUDA stream, ordered after the caller's current stream through an event, and
// the caller's stream is ordered after them the same way: the host does not block on the GPU. Built only
// with CXR_HAVE_NCCL (CMake option CXR_WITH_NCCL, needs CUDA LibTorch and NCCL); the factory below exists
// in every build and says what to do when the backend is missing.
#pragma once

#include <mpi.h>

#include <memory>

#include "comm/communicator.h"

namespace cxr::comm {

// True when this build has the NCCL backend.
bool nccl_backend_available();

// A NcclCommunicator over (a duplicate of) `parent` driving CUDA device `device`; collective over
// `parent`. `timeout_s` bounds every host wait on a collective. Without the NCCL backend:
// std::runtime_error with a HINT.
std::unique_ptr<Communicator> make_nccl_communicator(MPI_Comm parent, int device, double timeout_s = 600.0);

#ifdef CXR_HAVE_NCCL

class MpiCommunicator;
class NcclCore;

// Tensors are CUDA tensors on device() (contiguous for in-place collectives) of dtype float32, float64,
// int64, int32, uint8, float16 or bfloat16. CPU tensors are accepted too, for the plain-value helpers:
// they are staged through the device and the call completes before it returns.
// When a collective (or Work::wait()) returns, the collective has completed: the host polls its event
// (not the device) with a deadline, checking NCCL's asynchronous errors, so a dead peer ends in a
// CollectiveFailed after train.collective_timeout_s at most instead of a hang, and the communicator is
// aborted. Work::is_completed() is true once the GPU has finished; it raises NCCL's asynchronous errors.
// Destroyed while an exception unwinds, the communicator is aborted first (ncclCommAbort), never
// drained, so the fail-fast path reaches MPI_Abort.
// Shape checks, barrier() and split() use an MPI duplicate of `parent` next to the NCCL communicator.
class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(MPI_Comm parent, int device, double timeout_s = 600.0);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  using Communicator::all_gather;
  using Communicator::all_reduce_max;
  using Communicator::all_reduce_sum;

  int rank() const override;
  int size() const override;
  int device() const { return device_; }
  void barrier() override;
  void all_reduce_sum(at::Tensor& t) override;
  void all_reduce_max(at::Tensor& t) override;
  std::unique_ptr<Work> all_reduce_sum_async(at::Tensor& t) override;
  void broadcast(at::Tensor& t, int root) override;
  at::Tensor all_gather(const at::Tensor& t) override;
  at::Tensor all_gatherv(const at::Tensor& t) override;
  std::unique_ptr<Communicator> split(int color, int key) override;
  [[noreturn]] void abort(int code) override;

 private:
  at::Tensor gather(const at::Tensor& t, bool equal_rows, const char* op);

  int device_ = 0;
  double timeout_s_ = 600.0;
  int uncaught_at_start_ = 0;  // std::uncaught_exceptions() when constructed
  std::unique_ptr<MpiCommunicator> control_;  // bootstrap, shape checks, barrier, split
  std::unique_ptr<NcclCore> core_;
};

#endif  // CXR_HAVE_NCCL

}  // namespace cxr::comm
