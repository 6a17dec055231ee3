// Device tensors over a host-only backend: each collective copies the tensor to host memory, runs there
// on the wrapped communicator (MPI without CUDA awareness), and copies the result back. It is how
// train.backend=mpi carries CUDA tensors: slower than NCCL (two PCIe copies per collective), but real
// inter-rank traffic between ranks that share one GPU, which NCCL refuses, and a fallback for clusters
// without NCCL. Host tensors pass straight through unless `always_stage` (tests: the staging path on CPU).
#pragma once

#include "comm/communicator.h"

namespace cxr::comm {

class HostStagedCommunicator final : public Communicator {
 public:
  // `host` stays owned by the caller and must outlive this.
  explicit HostStagedCommunicator(Communicator& host, bool always_stage = false)
      : host_(host), always_stage_(always_stage) {}
  using Communicator::all_gather;
  using Communicator::all_reduce_max;
  using Communicator::all_reduce_sum;

  int rank() const override { return host_.rank(); }
  int size() const override { return host_.size(); }
  void barrier() override { host_.barrier(); }
  void all_reduce_sum(at::Tensor& t) override;
  void all_reduce_max(at::Tensor& t) override;
  // The device-to-host copy happens now; the host-to-device copy back happens in wait().
  std::unique_ptr<Work> all_reduce_sum_async(at::Tensor& t) override;
  void broadcast(at::Tensor& t, int root) override;
  at::Tensor all_gather(const at::Tensor& t) override;   // on t's device
  at::Tensor all_gatherv(const at::Tensor& t) override;  // on t's device
  std::unique_ptr<Communicator> split(int color, int key) override;
  [[noreturn]] void abort(int code) override { host_.abort(code); }

 private:
  bool staged(const at::Tensor& t) const;
  template <class F>
  void in_place(at::Tensor& t, F&& op);

  Communicator& host_;
  std::unique_ptr<Communicator> owned_;  // for split(): the host part this one wraps
  bool always_stage_;
};

}  // namespace cxr::comm
