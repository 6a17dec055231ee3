// ROC curve points (see roc_curve.h).
#include "eval/roc_curve.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "eval/auroc.h"

namespace cxr::eval {

std::optional<RocCurve> roc_curve(const std::vector<double>& scores, const std::vector<uint8_t>& labels) {
  if (scores.size() != labels.size()) throw std::invalid_argument("roc_curve: scores and labels differ in length");
  for (size_t i = 0; i < scores.size(); ++i)
    if (!std::isfinite(scores[i])) throw NonFiniteScore("roc_curve: score of row " + std::to_string(i) + " is not finite");
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  // Cumulative true and false positives at the last row of each run of equal scores.
  std::vector<double> tps, fps, at;
  double tp = 0, fp = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    (labels[order[k]] ? tp : fp) += 1;
    if (k + 1 == order.size() || scores[order[k + 1]] != scores[order[k]]) {
      tps.push_back(tp);
      fps.push_back(fp);
      at.push_back(scores[order[k]]);
    }
  }
  if (tp == 0 || fp == 0) return std::nullopt;
  // Keep the ends and every corner: a point whose second difference is non-zero in fps or tps.
  std::vector<size_t> keep;
  for (size_t i = 0; i < tps.size(); ++i) {
    const bool end = i == 0 || i + 1 == tps.size();
    if (tps.size() <= 2 || end || fps[i - 1] - 2 * fps[i] + fps[i + 1] != 0 || tps[i - 1] - 2 * tps[i] + tps[i + 1] != 0)
      keep.push_back(i);
  }
  RocCurve c;
  c.fpr.push_back(0);
  c.tpr.push_back(0);
  for (size_t i : keep) {
    c.fpr.push_back(fps[i] / fp);
    c.tpr.push_back(tps[i] / tp);
    c.threshold.push_back(at[i]);
  }
  return c;
}

}  // namespace cxr::eval
