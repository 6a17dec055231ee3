// Communicator for a single process without MPI: rank 0 of 1. Every collective is the identity (gathers
// return a copy), but arguments are checked exactly as the MPI backend checks them, so a call that
// would fail on many ranks also fails here. With any_device, tensors on any device (CUDA) are accepted:
// the model communicator of a one-GPU job started without MPI.
#pragma once

#include "comm/communicator.h"

namespace cxr::comm {

class LocalCommunicator final : public Communicator {
 public:
  explicit LocalCommunicator(bool any_device = false) : cpu_only_(!any_device) {}
  using Communicator::all_gather;
  using Communicator::all_reduce_max;
  using Communicator::all_reduce_sum;

  int rank() const override { return 0; }
  int size() const override { return 1; }
  void barrier() override {}
  void all_reduce_sum(at::Tensor& t) override;
  void all_reduce_max(at::Tensor& t) override;
  std::unique_ptr<Work> all_reduce_sum_async(at::Tensor& t) override;
  void broadcast(at::Tensor& t, int root) override;  // root must be 0 (std::invalid_argument)
  at::Tensor all_gather(const at::Tensor& t) override;
  at::Tensor all_gatherv(const at::Tensor& t) override;
  std::unique_ptr<Communicator> split(int color, int key) override;
  [[noreturn]] void abort(int code) override;  // std::exit(code)

 private:
  bool cpu_only_;
};

}  // namespace cxr::comm
