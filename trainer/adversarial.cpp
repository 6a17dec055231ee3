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

torch::Tensor attack_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  // sum over images and classes of (1 - 2y) * z: every negative's logit up, every positive's down, at a rate that
  // does not fade for the images the model still ranks correctly (cross-entropy's gradient does, so an attack on
  // it spends its budget on images already wrong and can leave AUROC higher at a larger epsilon).
  return ((1 - 2 * labels.to(logits.dtype())) * logits).sum();
}

double attack_step_normalised(const AttackOptions& o) {
  const double eps = o.epsilon_grey / 255.0 / o.std;
  return o.kind == AttackKind::kFgsm ? eps : o.step_factor * eps / o.steps;
}

namespace {

// The objective per image [B] at x and its gradient with respect to x.
std::pair<torch::Tensor, torch::Tensor> objective_and_gradient(
    const std::function<torch::Tensor(const torch::Tensor&)>& forward, const torch::Tensor& x, const torch::Tensor& labels) {
  torch::AutoGradMode grad_on(true);
  torch::Tensor leaf = x.detach().requires_grad_(true);
  torch::Tensor logits = forward(leaf).to(torch::kFloat32);
  torch::Tensor per_image = ((1 - 2 * labels.to(logits.dtype())) * logits).sum(1);
  torch::Tensor grad = torch::autograd::grad({per_image.sum()}, {leaf})[0];
  return {per_image.detach(), grad};
}

torch::Tensor objective(const std::function<torch::Tensor(const torch::Tensor&)>& forward, const torch::Tensor& x,
                        const torch::Tensor& labels) {
  torch::NoGradGuard no_grad;
  const torch::Tensor logits = forward(x).to(torch::kFloat32);
  return ((1 - 2 * labels.to(logits.dtype())) * logits).sum(1);
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
  const torch::Tensor g0 = objective_and_gradient(forward, x0, labels).second;
  const torch::Tensor fgsm = (x0 + eps * g0.sign()).clamp(lo, hi);
  if (o.kind == AttackKind::kFgsm) return fgsm;
  // PGD from FGSM's point, keeping per image the iterate with the largest objective: never below FGSM's.
  const double step = attack_step_normalised(o);
  torch::Tensor x = fgsm, best = fgsm;
  torch::Tensor best_objective;
  for (int k = 0; k < o.steps; ++k) {
    auto [value, grad] = objective_and_gradient(forward, x, labels);
    if (k == 0) {
      best_objective = value;
    } else {
      const torch::Tensor better = value > best_objective;
      best = torch::where(better.view({-1, 1, 1, 1}), x, best);
      best_objective = torch::max(value, best_objective);
    }
    x = x + step * grad.sign();
    x = torch::min(torch::max(x, x0 - eps), x0 + eps).clamp(lo, hi);
  }
  const torch::Tensor last = objective(forward, x, labels);
  return torch::where((last > best_objective).view({-1, 1, 1, 1}), x, best);
}

}  // namespace cxr::trainer
