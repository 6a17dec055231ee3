// Communicator over an MPI communicator, for CPU tensors. The constructor duplicates the communicator
// it is given (so cxrtrain's traffic never mixes with anyone else's) and sets MPI_ERRORS_RETURN on the
// duplicate, so that MPI failures become MpiError exceptions naming the rank instead of aborting.
// Owns the duplicate and every communicator split() makes; destroy them all before MPI_Finalize.
#pragma once

#include <mpi.h>

#include "comm/communicator.h"

namespace cxr::comm {

class MpiCommunicator final : public Communicator {
 public:
  // Collective over `parent`. MPI must be initialised (see MpiRuntime).
  explicit MpiCommunicator(MPI_Comm parent);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  using Communicator::all_gather;
  using Communicator::all_reduce_max;
  using Communicator::all_reduce_sum;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void barrier() override;
  void all_reduce_sum(at::Tensor& t) override;
  void all_reduce_max(at::Tensor& t) override;
  std::unique_ptr<Work> all_reduce_sum_async(at::Tensor& t) override;
  void broadcast(at::Tensor& t, int root) override;
  at::Tensor all_gather(const at::Tensor& t) override;
  at::Tensor all_gatherv(const at::Tensor& t) override;
  std::unique_ptr<Communicator> split(int color, int key) override;
  [[noreturn]] void abort(int code) override;

  MPI_Comm handle() const { return comm_; }  // for backends bootstrapped over MPI (NCCL)

  // Gathers every rank's shape and dtype of `t` (its data is not touched, so it may live on any device);
  // throws on every rank if they are inconsistent. Returns each rank's d0. `equal_rows` also requires
  // every d0 to be equal. Used by the gathers here and by the NCCL backend's.
  std::vector<int64_t> gather_shapes(const at::Tensor& t, bool equal_rows, const char* op);

 private:
  struct Adopt {};
  MpiCommunicator(MPI_Comm owned, Adopt);  // takes ownership of an already-made communicator
  void all_reduce(at::Tensor& t, MPI_Op op, const char* name);

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace cxr::comm
