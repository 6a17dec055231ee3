// Average precision as scikit-learn's average_precision_score defines it: the step-wise area under the
// precision-recall curve, sum over distinct thresholds (descending) of (R_t - R_{t-1}) * P_t, tied scores
// entering together. Pinned by a frozen scikit-learn fixture.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace cxr::eval {

// nullopt when there is no positive (AP undefined). NonFiniteScore on NaN/inf scores.
std::optional<double> average_precision(const std::vector<double>& scores, const std::vector<uint8_t>& labels);

}  // namespace cxr::eval
