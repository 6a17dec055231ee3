// The ROC curve behind an AUROC, as scikit-learn's roc_curve(drop_intermediate=True) computes it: one
// point per distinct score (tied scores move together, so the curve's trapezoids give the mid-rank
// AUROC), collinear points dropped, (0, 0) first and (1, 1) last. Pinned to scikit-learn's output in
// the stats fixture.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace cxr::eval {

struct RocCurve {
  std::vector<double> fpr, tpr;
  std::vector<double> threshold;  // the score at each point but the first (which has none: nothing called)
};

// nullopt when the labels lack a positive or a negative. NonFiniteScore for a NaN or infinite score.
std::optional<RocCurve> roc_curve(const std::vector<double>& scores, const std::vector<uint8_t>& labels);

}  // namespace cxr::eval
