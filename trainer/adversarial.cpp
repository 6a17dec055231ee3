// FGSM and PGD (see adversarial.h).
#include "trainer/adversarial.h"

#include <torch/torch.h>

#include <stdexcept>

#include "core/error.h"
#include "core/strings.h"

namespace cxr::trainer {

const char* attack_name(AttackKind kind) { return kind == AttackKind::kFgsm ? "fgsm" : "pgd"; }

AttackKind parse_attack_name(const std::string& name) {
  if (name == "fgsm") return AttackKind::kFgsm;
  if (name == "pgd") return AttackKind::kPgd;
  throw UserError("unknown attack '" + name + "' (did you mean '" + nearest(name, {"fgsm", "pgd"}) + "'?)",
                  "attacks: fgsm, pgd");
}

double attack_step_normalised(const AttackOptions& o) {
  const double eps = o.epsilon_grey / 255.0 / o.std;
  return o.kind == AttackKind::kFgsm ? eps : o.step_factor * eps / o.steps;
}

namespace {

torch::Tensor loss_gradient(const std::function<torch::Tensor(const torch::Tensor&)>& forward, const torch::Tensor& x,
                            const torch::Tensor& labels) {
  torch::AutoGradMode grad_on(true);
  torch::Tensor leaf = x.detach().requires_grad_(true);
  torch::Tensor logits = forward(leaf).to(torch::kFloat32);
  torch::Tensor loss = torch::binary_cross_entropy_with_logits(logits, labels.to(logits.dtype()), {}, {},
                                                               at::Reduction::Sum);
  return torch::autograd::grad({loss}, {leaf})[0];
}

}  // namespace

torch::Tensor adversarial_images(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                                 const torch::Tensor& images, const torch::Tensor& labels, const AttackOptions& o) {
  if (!(o.epsilon_grey >= 0) || !(o.std > 0) || (o.kind == AttackKind::kPgd && o.steps < 1))
    throw std::invalid_argument("adversarial_images: epsilon must be >= 0, std > 0 and PGD steps >= 1");
  const double eps = o.epsilon_grey / 255.0 / o.std;
  const double lo = (0.0 - o.mean) / o.std, hi = (1.0 - o.mean) / o.std;
  const torch::Tensor x0 = images.detach();
  if (eps == 0) return x0.clone();
  if (o.kind == AttackKind::kFgsm)
    return (x0 + eps * loss_gradient(forward, x0, labels).sign()).clamp(lo, hi);
  const double step = attack_step_normalised(o);
  torch::Tensor x = x0.clone();
  for (int k = 0; k < o.steps; ++k) {
    x = x + step * loss_gradient(forward, x, labels).sign();
    x = torch::min(torch::max(x, x0 - eps), x0 + eps).clamp(lo, hi);
  }
  return x;
}

}  // namespace cxr::trainer
