// Operating points: a threshold chosen on one split (validation) and applied unchanged to another. A case
// is called positive when its probability is >= the threshold. Youden's J picks the threshold that
// maximises sensitivity + specificity - 1 (ties: the higher threshold); a target sensitivity S picks the
// highest threshold whose sensitivity is at least S.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cxr::eval {

// nullopt when the labels lack a class (no positives or no negatives).
std::optional<double> youden_threshold(const std::vector<double>& scores, const std::vector<uint8_t>& labels);
std::optional<double> sensitivity_threshold(const std::vector<double>& scores, const std::vector<uint8_t>& labels,
                                            double target_sensitivity);

struct Confusion {
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;
  // nullopt where the denominator is 0 (e.g. PPV with no positive calls).
  std::optional<double> sensitivity() const;
  std::optional<double> specificity() const;
  std::optional<double> ppv() const;
  std::optional<double> npv() const;
};

Confusion confusion_at(const std::vector<double>& scores, const std::vector<uint8_t>& labels, double threshold);

}  // namespace cxr::eval
