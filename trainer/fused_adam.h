// Adam whose update of each parameter is one pass over (parameter, gradient, first and second moment)
// instead of torch::optim::Adam's eight tensor operations, each of which streams whole tensors through
// memory. Same options, same state objects (AdamParamState, stored under the same keys), so checkpoints
// and torch::optim::Adam& interfaces are unchanged. The fused loop takes float32 CPU tensors of one
// dense layout without amsgrad; a step with anything else (CUDA, bf16 parameters, amsgrad) is
// LibTorch's own Adam::step, for every parameter.
#pragma once

#include <torch/optim/adam.h>

namespace cxr::trainer {

class FusedAdam : public torch::optim::Adam {
 public:
  using torch::optim::Adam::Adam;
  torch::Tensor step(LossClosure closure = nullptr) override;

  // Parameters updated by the fused loop / by LibTorch's Adam::step in the last step() (for tests).
  int64_t last_fused() const { return last_fused_; }
  int64_t last_per_op() const { return last_per_op_; }

 private:
  bool all_fusable();
  torch::Tensor* moment(const torch::Tensor& p, bool second);  // exp_avg / exp_avg_sq, null before step 1
  int64_t last_fused_ = 0;
  int64_t last_per_op_ = 0;
};

}  // namespace cxr::trainer
