// Average precision (see average_precision.h).
#include "eval/average_precision.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "eval/auroc.h"

namespace cxr::eval {

std::optional<double> average_precision(const std::vector<double>& scores, const std::vector<uint8_t>& labels) {
  if (scores.size() != labels.size()) throw std::invalid_argument("average_precision: lengths differ");
  const size_t n = scores.size();
  for (double s : scores)
    if (!std::isfinite(s)) throw NonFiniteScore("average_precision: a score is not finite");
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  double positives = 0;
  for (uint8_t y : labels) positives += y ? 1 : 0;
  if (positives == 0) return std::nullopt;
  double tp = 0, fp = 0, ap = 0, recall_before = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && scores[order[j]] == scores[order[i]]) {
      (labels[order[j]] ? tp : fp) += 1;
      ++j;
    }
    const double recall = tp / positives, precision = tp / (tp + fp);
    ap += (recall - recall_before) * precision;
    recall_before = recall;
    i = j;
  }
  return ap;
}

}  // namespace cxr::eval
