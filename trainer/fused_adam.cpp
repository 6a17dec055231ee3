// One-pass Adam (see fused_adam.h).
#include "trainer/fused_adam.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>

namespace cxr::trainer {
namespace {

using StateMap = std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;
using StateKey = StateMap::key_type;

// LibTorch 1.13 keys optimiser state by the parameter's TensorImpl address printed as text, later
// versions by the address itself; this builds whichever key this LibTorch uses.
template <typename Key>
Key state_key(c10::TensorImpl* impl) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream s;
    s << impl;
    return s.str();
  } else {
    return static_cast<Key>(impl);
  }
}

// Same dtype (float32), CPU, one dense layout shared by all four tensors: the same strides wherever a
// dimension has more than one element (strides of size-1 dimensions do not move anything, and autograd
// may hand conv1's [64,1,7,7] gradient other ones than its channels_last weight has).
bool fusable(const torch::Tensor& p, const torch::Tensor& g, const torch::Tensor& m, const torch::Tensor& v) {
  for (const torch::Tensor* t : {&p, &g, &m, &v}) {
    if (!t->device().is_cpu() || t->scalar_type() != torch::kFloat || !t->is_non_overlapping_and_dense() ||
        t->sizes() != p.sizes())
      return false;
    for (int64_t d = 0; d < p.dim(); ++d)
      if (p.size(d) > 1 && t->stride(d) != p.stride(d)) return false;
  }
  return true;
}

struct Coefficients {
  float beta1, one_minus_beta1, beta2, one_minus_beta2, sqrt_bias_correction2, eps, neg_step_size, weight_decay;
};

// LibTorch's Adam formula, element by element, in float. ATen's vectorised kernels use fused
// multiply-adds in places (add_ with alpha), so results may differ from LibTorch's Adam in the last
// bit. Built for AVX-512, AVX2 and baseline x86-64, picked at load time like ATen's own kernels. This
// file is compiled with -O3 -fno-math-errno (so the loop vectorises: sqrt of a sum of squares never
// sets errno) and -ffp-contract=off: no clone contracts into FMAs, so every CPU computes the same bits
// and ranks on different CPUs keep identical parameters.
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define CXR_TARGET_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CXR_TARGET_CLONES
#endif

template <bool kWeightDecay>
CXR_TARGET_CLONES void update_range(float* __restrict p, const float* __restrict g, float* __restrict m,
                                    float* __restrict v, int64_t n, Coefficients c) {
  for (int64_t i = 0; i < n; ++i) {
    const float grad = kWeightDecay ? g[i] + c.weight_decay * p[i] : g[i];
    const float mi = m[i] * c.beta1 + c.one_minus_beta1 * grad;
    const float vi = v[i] * c.beta2 + c.one_minus_beta2 * grad * grad;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) / c.sqrt_bias_correction2 + c.eps;
    p[i] = p[i] + c.neg_step_size * mi / denom;  // addcdiv's order: (value * t1) / t2
  }
}

void fused_update(float* p, const float* g, float* m, float* v, int64_t n, const Coefficients& c) {
  at::parallel_for(0, n, 1 << 15, [&](int64_t begin, int64_t end) {
    if (c.weight_decay != 0.0f)
      update_range<true>(p + begin, g + begin, m + begin, v + begin, end - begin, c);
    else
      update_range<false>(p + begin, g + begin, m + begin, v + begin, end - begin, c);
  });
}

}  // namespace

torch::Tensor* FusedAdam::moment(const torch::Tensor& p, bool second) {
  auto found = state().find(state_key<StateKey>(p.unsafeGetTensorImpl()));
  if (found == state().end()) return nullptr;
  auto& st = static_cast<torch::optim::AdamParamState&>(*found->second);
  return second ? &st.exp_avg_sq() : &st.exp_avg();
}

bool FusedAdam::all_fusable() {
  for (auto& group : param_groups()) {
    const bool amsgrad = static_cast<torch::optim::AdamOptions&>(group.options()).amsgrad();
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      if (amsgrad || p.grad().is_sparse()) return false;
      // Moments not created yet will be zeros_like(p): p's own layout.
      const torch::Tensor* m = moment(p, false);
      const torch::Tensor* v = moment(p, true);
      if (!fusable(p, p.grad(), m ? *m : p, v ? *v : p)) return false;
    }
  }
  return true;
}

torch::Tensor FusedAdam::step(LossClosure closure) {
  torch::Tensor loss;
  if (closure != nullptr) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  last_fused_ = last_per_op_ = 0;
  int64_t with_grad = 0;
  for (auto& group : param_groups())
    for (auto& p : group.params()) with_grad += p.grad().defined() ? 1 : 0;
  // All or nothing: if any parameter cannot take the fused loop, the whole step is LibTorch's own.
  if (!all_fusable()) {
    torch::optim::Adam::step();
    last_per_op_ = with_grad;
    return loss;
  }

  torch::NoGradGuard no_grad;
  auto& states = state();
  for (auto& group : param_groups()) {
    auto& options = static_cast<torch::optim::AdamOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const StateKey key = state_key<StateKey>(p.unsafeGetTensorImpl());
      auto found = states.find(key);
      if (found == states.end()) {  // as LibTorch's Adam creates it
        auto fresh = std::make_unique<torch::optim::AdamParamState>();
        fresh->step(0);
        fresh->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        fresh->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        found = states.emplace(key, std::move(fresh)).first;
      }
      auto& st = static_cast<torch::optim::AdamParamState&>(*found->second);
      st.step(st.step() + 1);
      const double beta1 = std::get<0>(options.betas());
      const double beta2 = std::get<1>(options.betas());
      const Coefficients c{static_cast<float>(beta1),
                           static_cast<float>(1 - beta1),
                           static_cast<float>(beta2),
                           static_cast<float>(1 - beta2),
                           static_cast<float>(std::sqrt(1 - std::pow(beta2, st.step()))),
                           static_cast<float>(options.eps()),
                           static_cast<float>(-options.lr() / (1 - std::pow(beta1, st.step()))),
                           static_cast<float>(options.weight_decay())};
      torch::Tensor& exp_avg = st.exp_avg();
      torch::Tensor& exp_avg_sq = st.exp_avg_sq();
      fused_update(p.data_ptr<float>(), p.grad().data_ptr<float>(), exp_avg.data_ptr<float>(),
                   exp_avg_sq.data_ptr<float>(), p.numel(), c);
      // Written through raw pointers: bump the version counters as in-place ops do, so autograd
      // still catches a saved tensor modified after use.
      for (torch::Tensor* t : {&p, &exp_avg, &exp_avg_sq}) t->unsafeGetTensorImpl()->bump_version();
      ++last_fused_;
    }
  }
  return loss;
}

}  // namespace cxr::trainer
