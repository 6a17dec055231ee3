// The statistics of one evaluated split, as metrics.json holds them (the interface other tools read):
// per class (counts, AUROC with DeLong and patient-bootstrap intervals, average precision, Brier, ECE with
// reliability bins, the operating point chosen on another split and applied unchanged), macro and micro
// AUROC, paired comparisons between classes (and with another model's predictions), subgroups (sex, age
// bands, view, sex x age: AUROC and TPR/FPR gaps to the rest with p- and Benjamini-Hochberg q-values,
// underdiagnosis), agreement with radiologists' labels where the pack has them, and what was not
// evaluated. Undefined values are null with a "reason", never a number. Torch-free.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/pack_format.h"

namespace cxr::eval {

// A comparison (a subgroup against the rest, a follow-up band against the first films) is tested only with
// at least this many cases on each side: below it DeLong's variance and the two-proportion z test's normal
// approximation fail (2 positives ranked perfectly give an AUROC of 1 with variance 0, i.e. p = 0). The gap
// is still reported, untested.
inline constexpr int64_t kMinCasesForTest = 10;

struct EvaluationOptions {
  std::string split = "test";
  std::string threshold_split = "val";         // where operating points are chosen
  int resamples = 2000;                        // patient-level bootstrap resamples
  uint64_t seed = 0;
  int threads = 0;                             // bootstrap threads; 0 = one per core
  std::optional<double> target_sensitivity;    // else Youden's J
  std::vector<int> age_edges = {20, 40, 60, 80};  // bands 0-19, 20-39, 40-59, 60-79, 80+
  int64_t images_in_split = 0;                 // the split's size, to state a partial evaluation
};

struct ScoredSplit {
  std::vector<data::SampleMeta> meta;  // one per scored image
  std::vector<double> probability;     // [n, 14]
  bool has_expert_labels = false;
  // Classes the pack's source has no label for (manifest classes_not_evaluable, e.g. a CheXpert pack's Nodule):
  // their 0 labels mean "unknown", so the class is reported as not evaluable, never as a number.
  std::array<bool, data::kNumClasses> not_evaluable{};
};

// `thresholds`: the split the operating points are chosen on (usually val; may be empty, then the
// operating points are null with a reason). `other`: another model's probabilities on the same images
// ([n, 14], same order), for the paired comparison; may be empty.
nlohmann::ordered_json evaluate_split(const ScoredSplit& evaluated, const ScoredSplit& thresholds,
                                      const EvaluationOptions& options, const std::vector<double>& other = {},
                                      const std::string& other_name = "");

// curves.json: each class's ROC curve on the evaluated split (eval/roc_curve.h), null with a reason where
// the class lacks positives or negatives. The report draws its ROC plot from it.
nlohmann::ordered_json roc_curves(const ScoredSplit& evaluated, const std::string& split);

// What a study of this kind does not evaluate, and what it cannot conclude (metrics.json "not_evaluated",
// the report's closing section).
std::vector<std::string> not_evaluated();
std::vector<std::string> cannot_conclude();

}  // namespace cxr::eval
