// Host-staged collectives for device tensors (see host_staged_communicator.h).
#include "comm/host_staged_communicator.h"

#include <torch/torch.h>

namespace cxr::comm {
namespace {

// The reduction ran on `host`; wait() finishes it and copies the result into `device`.
class StagedWork final : public Work {
 public:
  StagedWork(std::unique_ptr<Work> inner, at::Tensor host, at::Tensor device)
      : inner_(std::move(inner)), host_(std::move(host)), device_(std::move(device)) {}
  void wait() override {
    if (done_) return;
    inner_->wait();
    device_.copy_(host_);
    done_ = true;
  }
  bool is_completed() override { return done_ || inner_->is_completed(); }

 private:
  std::unique_ptr<Work> inner_;
  at::Tensor host_, device_;
  bool done_ = false;
};

}  // namespace

bool HostStagedCommunicator::staged(const at::Tensor& t) const {
  return t.defined() && (always_stage_ || !t.device().is_cpu());
}

template <class F>
void HostStagedCommunicator::in_place(at::Tensor& t, F&& op) {
  if (!staged(t)) return op(t);
  at::Tensor host = t.to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true).contiguous();
  op(host);
  t.copy_(host);
}

void HostStagedCommunicator::all_reduce_sum(at::Tensor& t) {
  in_place(t, [&](at::Tensor& h) { host_.all_reduce_sum(h); });
}

void HostStagedCommunicator::all_reduce_max(at::Tensor& t) {
  in_place(t, [&](at::Tensor& h) { host_.all_reduce_max(h); });
}

std::unique_ptr<Work> HostStagedCommunicator::all_reduce_sum_async(at::Tensor& t) {
  if (!staged(t)) return host_.all_reduce_sum_async(t);
  at::Tensor host = t.to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true).contiguous();
  auto inner = host_.all_reduce_sum_async(host);
  return std::make_unique<StagedWork>(std::move(inner), host, t);
}

void HostStagedCommunicator::broadcast(at::Tensor& t, int root) {
  in_place(t, [&](at::Tensor& h) { host_.broadcast(h, root); });
}

at::Tensor HostStagedCommunicator::all_gather(const at::Tensor& t) {
  if (!staged(t)) return host_.all_gather(t);
  return host_.all_gather(t.to(torch::kCPU, false, true)).to(t.device());
}

at::Tensor HostStagedCommunicator::all_gatherv(const at::Tensor& t) {
  if (!staged(t)) return host_.all_gatherv(t);
  return host_.all_gatherv(t.to(torch::kCPU, false, true)).to(t.device());
}

std::unique_ptr<Communicator> HostStagedCommunicator::split(int color, int key) {
  std::unique_ptr<Communicator> part = host_.split(color, key);
  if (!part) return nullptr;
  auto wrapped = std::make_unique<HostStagedCommunicator>(*part, always_stage_);
  wrapped->owned_ = std::move(part);
  return wrapped;
}

}  // namespace cxr::comm
