// Patient-level cluster bootstrap of AUROC, per class and macro: each resample draws patients with
// replacement (images of one patient stay together: they are not independent), and weighs every image by
// how often its patient was drawn. Each class is sorted once; a resample is then one O(n) sweep over the
// sorted order with integer weights, not a re-sort. Resample b uses its own seeded generator, so results
// do not depend on the thread count.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace cxr::eval {

struct BootstrapOptions {
  int resamples = 2000;
  uint64_t seed = 0;
  int threads = 0;  // 0 = one per core
};

struct BootstrapAuroc {
  std::vector<std::vector<double>> per_class;  // [k][resamples]; NaN where a resample lacks a class
  std::vector<double> macro;                   // [resamples]: mean over `macro_classes`; NaN if one is undefined
  std::vector<int> macro_classes;              // the classes defined on the full data
};

// scores/labels row-major [n, k]; patient[i]: any id, equal for images of one patient.
BootstrapAuroc cluster_bootstrap_auroc(const std::vector<double>& scores, const std::vector<uint8_t>& labels, int k,
                                       const std::vector<int64_t>& patient, const BootstrapOptions& options);

// Percentile interval [alpha/2, 1 - alpha/2] of the finite values (linear interpolation, as numpy's
// default); nullopt when fewer than half the resamples are finite.
std::optional<std::pair<double, double>> percentile_interval(const std::vector<double>& values, double alpha = 0.05);

// AUROC with integer case weights (weight w = the case counted w times; ties count one half), given the
// case order sorted by score: the primitive each resample runs. Exposed for tests.
std::optional<double> weighted_auroc(const std::vector<double>& scores, const std::vector<uint8_t>& labels,
                                     const std::vector<uint32_t>& weights);

}  // namespace cxr::eval
