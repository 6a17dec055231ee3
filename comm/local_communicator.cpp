// Single-process Communicator (see local_communicator.h).
#include "comm/local_communicator.h"

#include <torch/torch.h>

#include <cstdlib>
#include <stdexcept>

#include "comm/tensor_checks.h"

namespace cxr::comm {
namespace {

class DoneWork final : public Work {
 public:
  void wait() override {}
  bool is_completed() override { return true; }
};

}  // namespace

void LocalCommunicator::all_reduce_sum(at::Tensor& t) { check_in_place_tensor(t, "all_reduce_sum", cpu_only_); }

void LocalCommunicator::all_reduce_max(at::Tensor& t) { check_in_place_tensor(t, "all_reduce_max", cpu_only_); }

std::unique_ptr<Work> LocalCommunicator::all_reduce_sum_async(at::Tensor& t) {
  check_in_place_tensor(t, "all_reduce_sum_async", cpu_only_);
  return std::make_unique<DoneWork>();
}

void LocalCommunicator::broadcast(at::Tensor& t, int root) {
  check_in_place_tensor(t, "broadcast", cpu_only_);
  if (root != 0) {
    throw std::invalid_argument("broadcast: root " + std::to_string(root) +
                                " does not exist; the local communicator has only rank 0");
  }
}

at::Tensor LocalCommunicator::all_gather(const at::Tensor& t) {
  check_tensor(t, "all_gather", cpu_only_);
  return t.dim() == 0 ? t.reshape({1}).clone() : t.clone(at::MemoryFormat::Contiguous);
}

at::Tensor LocalCommunicator::all_gatherv(const at::Tensor& t) {
  check_tensor(t, "all_gatherv", cpu_only_);
  return t.dim() == 0 ? t.reshape({1}).clone() : t.clone(at::MemoryFormat::Contiguous);
}

std::unique_ptr<Communicator> LocalCommunicator::split(int color, int key) {
  if (color < 0) return nullptr;
  return std::make_unique<LocalCommunicator>(!cpu_only_);
}

void LocalCommunicator::abort(int code) { std::exit(code); }

}  // namespace cxr::comm
