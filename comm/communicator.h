// The collective-communication interface every distributed part of cxrtrain talks to. Backends:
// MpiCommunicator (CPU tensors over MPI), LocalCommunicator (world size 1, no MPI) and, in CUDA builds,
// NcclCommunicator (CUDA tensors; see nccl_communicator.h); callers never know which they have. Every
// collective must be called by every rank of the communicator, in the same order. Tensor arguments are
// CPU tensors (CUDA tensors on its device for NCCL), contiguous, of dtype float32/float64/int64/int32/
// uint8; anything else is rejected with std::invalid_argument on the calling rank before communicating.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

namespace cxr::comm {

// A collective in flight. wait() blocks until it is complete (and throws if it failed); the tensor it
// works on must not be read or written before that. Destroying an unfinished Work waits for it. For CUDA
// tensors (NCCL) "complete" is stream-ordered: wait() makes the current CUDA stream wait for the
// collective, without blocking the host.
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
  // The test/progress call: true once complete (then wait() returns at once), never blocks. Open MPI
  // advances non-blocking collectives only inside MPI calls, so callers overlapping communication with
  // compute poll this (MPI_Test) now and then; GradientSynchronizer does so from its autograd hooks.
  virtual bool is_completed() = 0;
};

class Communicator {
 public:
  // split() colour meaning "this rank joins no group"; split() then returns nullptr on that rank.
  static constexpr int kNoGroup = -1;

  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual void barrier() = 0;

  // In place, element-wise over ranks. Integer sums wrap as in C; uint8 overflows silently.
  virtual void all_reduce_sum(at::Tensor& t) = 0;
  virtual void all_reduce_max(at::Tensor& t) = 0;
  // Non-blocking all_reduce_sum; `t` is kept alive by the Work and holds the sum after wait().
  virtual std::unique_ptr<Work> all_reduce_sum_async(at::Tensor& t) = 0;
  // Root's values overwrite `t` on every rank; every rank passes a tensor of the root's shape and dtype.
  virtual void broadcast(at::Tensor& t, int root) = 0;
  // Every rank passes the same shape [d0, ...]; returns [size*d0, ...], rank r's rows at r*d0.
  // A 0-dim tensor counts as shape [1]. Mismatched shapes or dtypes throw on every rank.
  virtual at::Tensor all_gather(const at::Tensor& t) = 0;
  // Like all_gather, but d0 may differ per rank (including 0); rows concatenated in rank order.
  virtual at::Tensor all_gatherv(const at::Tensor& t) = 0;
  // Ranks with equal `color` form a new communicator, ordered by (key, old rank). A negative colour
  // (kNoGroup) joins no group and gets nullptr. Collective over this communicator.
  virtual std::unique_ptr<Communicator> split(int color, int key) = 0;
  // Ends every process of the job (not only this communicator's) with exit status `code`.
  [[noreturn]] virtual void abort(int code) = 0;

  // Convenience forms on plain values, built on the tensor collectives above.
  double all_reduce_sum(double value);
  double all_reduce_max(double value);
  std::vector<double> all_gather(double value);  // element r is rank r's value
  std::string broadcast_string(const std::string& text, int root);  // non-root `text` is ignored
};

}  // namespace cxr::comm
