// Area under the ROC curve, computed exactly as the Mann-Whitney U statistic with tied scores
// counted one half (identical to scikit-learn's roc_auc_score; pinned by a frozen sklearn fixture).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

namespace cxr::eval {

// scores[i], labels[i] in {0,1}. nullopt when one class is absent (AUROC undefined).
std::optional<double> auroc(const std::vector<double>& scores, const std::vector<uint8_t>& labels);

struct ClassAuroc {
  std::vector<std::optional<double>> per_class;  // one per column
  std::optional<double> macro;                   // mean over the defined ones
};

// scores/labels row-major [n, k].
ClassAuroc auroc_per_class(const std::vector<float>& scores, const std::vector<uint8_t>& labels, int k);

}  // namespace cxr::eval
