// Calibration of predicted probabilities: the Brier score (mean squared error of p against the 0/1
// label, as scikit-learn's brier_score_loss), and the expected calibration error over equal-width bins
// with the reliability-diagram data behind it. Bin b of B covers (b/B, (b+1)/B], the first one including
// 0 (scikit-learn's calibration_curve rule, edges computed as numpy computes them); ECE = sum over bins of (bin count / n) * |observed positive rate - mean predicted probability|.
#pragma once

#include <cstdint>
#include <vector>

namespace cxr::eval {

double brier_score(const std::vector<double>& probabilities, const std::vector<uint8_t>& labels);

struct ReliabilityBin {
  double lo = 0, hi = 0;
  int64_t count = 0;
  double mean_predicted = 0;  // 0 when empty
  double observed_rate = 0;   // 0 when empty
};

struct Calibration {
  double ece = 0;
  std::vector<ReliabilityBin> bins;
};

// Probabilities must lie in [0, 1] (std::invalid_argument otherwise).
Calibration calibration(const std::vector<double>& probabilities, const std::vector<uint8_t>& labels, int bins = 15);

}  // namespace cxr::eval
