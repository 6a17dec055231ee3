// `cxrtrain bench --stats`: the statistics of one evaluation (metrics.json: per-class AUROC, DeLong, 2,000
// patient-level bootstrap resamples, average precision, calibration, operating points, subgroups) on
// synthetic data of the NIH test split's size, timed. The data can be written to a CSV so that
// benchmarks/eval_speed.py computes the same with scikit-learn + NumPy and prints the ratio.
#pragma once

#include <cstdint>
#include <string>

namespace cxr::launch {

struct StatsBenchOptions {
  int64_t images = 25596;   // NIH's official test list
  int64_t patients = 2797;  // its patients
  int resamples = 2000;
  int threads = 0;
  uint64_t seed = 1;
  std::string write_data;   // CSV of patient, 14 labels, 14 scores ("": none)
};

struct StatsBenchResult {
  double seconds = 0;       // evaluate_split, as `cxrtrain evaluate` runs it
  double macro_auroc = 0;
  std::string json;
};

StatsBenchResult run_stats_bench(const StatsBenchOptions& options);

}  // namespace cxr::launch
