// Adversarial probes (issue 14): FGSM and PGD, untargeted, L-infinity, against the ranking AUROC measures: the
// objective is the logit margin sum_c (1 - 2 y_c) z_c (every positive's logit down, every negative's up), which
// unlike cross-entropy keeps pushing the images the model still ranks correctly. epsilon is in grey levels of
// the 0..255 model input (after resizing, before normalisation): a perturbation of the image the network sees,
// not of the stored film. A robustness probe, not a security claim.
#pragma once

#include <torch/types.h>

#include <functional>
#include <string>

namespace cxr::trainer {

enum class AttackKind { kFgsm, kPgd };
const char* attack_name(AttackKind kind);     // "fgsm" | "pgd"
AttackKind parse_attack_name(const std::string& name);  // UserError naming the nearest name

struct AttackOptions {
  AttackKind kind = AttackKind::kFgsm;
  double epsilon_grey = 1.0;  // L-infinity radius in grey levels of 255 (>= 0)
  int steps = 7;              // PGD iterations (FGSM: one step of size epsilon)
  double step_factor = 2.5;   // PGD step size = step_factor * epsilon / steps (Madry et al. 2018's choice)
  float mean = 0.449f, std = 0.226f;  // the normalisation the images carry: x = (v/255 - mean) / std
};

// The objective the attacks ascend: sum over images and classes of (1 - 2 * labels) * logits (logits, labels [B,14]).
torch::Tensor attack_loss(const torch::Tensor& logits, const torch::Tensor& labels);

// PGD's step in normalised units for `o` (FGSM: epsilon itself).
double attack_step_normalised(const AttackOptions& o);

// images: normalised [B,1,T,T]; labels: [B,14] float 0/1; forward: images -> logits [B,14]. Returns the
// perturbed images x' with |x' - x| <= epsilon / 255 / std everywhere and x' inside the displayable range
// [(0 - mean)/std, (1 - mean)/std]. FGSM: x + eps * sign(grad). PGD: from FGSM's point (no random start, so
// results are deterministic), `steps` signed-gradient steps, each projected back onto the epsilon ball and the
// range, returning per image the visited point with the largest objective (so never below FGSM's).
// Deterministic in its inputs; gradients flow only to the image (the model's parameters are untouched).
torch::Tensor adversarial_images(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                                 const torch::Tensor& images, const torch::Tensor& labels, const AttackOptions& o);

}  // namespace cxr::trainer
