// "What these results support, and what they do not": sentences generated from the statistics of one
// evaluation (never typed as conclusions), then the fixed lists of what the study did not evaluate and
// what it cannot conclude. Thresholds that decide a sentence are named constants below.
#pragma once

#include <string>
#include <vector>

#include "report/evaluation_result.h"

namespace cxr::report {

constexpr double kFdrLevel = 0.05;          // q-value below which a difference is called a difference
constexpr double kWideInterval = 0.20;      // a 95 % AUROC interval wider than this supports no claim
constexpr int64_t kFewPositives = 30;       // fewer positive images than this: too small for a useful CI
constexpr int64_t kMinCalibrationBin = 20;  // bins with fewer images are not quoted in calibration sentences

// What the report knows about the data beyond metrics.json (from the pack's manifest).
struct DataContext {
  bool phantom = false;
  double label_noise = 0;  // synth --label-noise scale (0: none, or not a phantom)
};

struct Conclusions {
  std::vector<std::string> supported;      // what the numbers show, each with its numbers
  std::vector<std::string> unsupported;    // what they do not show (too small, not significant, not measured)
  std::vector<std::string> not_evaluated;  // metrics.json "not_evaluated"
  std::vector<std::string> cannot_conclude;
};

Conclusions conclusions(const EvaluationResult& result, const DataContext& data);

}  // namespace cxr::report
