// Area under the ROC curve, computed exactly as the Mann-Whitney U statistic with tied scores
// counted one half (identical to scikit-learn's roc_auc_score; pinned by a frozen sklearn fixture).
// Scores are doubles and may be logits: AUROC depends only on their order, and float32 sigmoids
// saturate to exactly 1.0 above a logit of ~17, turning distinct confident scores into ties.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace cxr::eval {

// A NaN or infinite score: sorting it would be undefined behaviour and ranking it meaningless.
class NonFiniteScore : public std::domain_error {
 public:
  using std::domain_error::domain_error;
};

// scores[i], labels[i] in {0,1}. nullopt when one class is absent (AUROC undefined). NonFiniteScore
// naming the row when a score is NaN or infinite.
std::optional<double> auroc(const std::vector<double>& scores, const std::vector<uint8_t>& labels);

struct ClassAuroc {
  std::vector<std::optional<double>> per_class;  // one per column
  std::optional<double> macro;                   // mean over the defined ones
  int defined = 0;                               // how many columns the macro averages
};

// scores/labels row-major [n, k]; names[c] (optional) names column c in errors. NonFiniteScore naming
// the class, the number of non-finite scores and the first row when a column holds one.
ClassAuroc auroc_per_class(const std::vector<double>& scores, const std::vector<uint8_t>& labels, int k,
                           const std::vector<std::string>& names = {});

}  // namespace cxr::eval
