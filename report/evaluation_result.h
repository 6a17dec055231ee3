// One evaluated split as the report sees it: metrics.json (and curves.json, when present) of an
// `evaluate` output folder, read into typed values with every field checked (report/json_input.h).
// Undefined statistics stay nullopt, with metrics.json's reason kept for the reader.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/classes.h"

namespace cxr::report {

struct Interval {
  double lo = 0, hi = 0;
  double width() const { return hi - lo; }
};

struct ReliabilityPoint {
  double lo = 0, hi = 0;
  int64_t count = 0;
  std::optional<double> mean_predicted, observed_rate;  // null for an empty bin
};

struct ClassResult {
  std::string name;
  int64_t n_pos = 0, n_neg = 0;
  double prevalence = 0, brier = 0, ece = 0;
  std::optional<double> auroc, auroc_se, average_precision;
  std::optional<Interval> ci_delong, ci_bootstrap;
  std::vector<ReliabilityPoint> reliability;
  std::optional<double> threshold, sensitivity, specificity, ppv, npv;
  std::string reason;  // why something above is null ("" when nothing is)
  // The ROC curve (curves.json); empty when the class has none or curves.json is absent.
  std::vector<double> roc_fpr, roc_tpr;
};

struct ClassComparison {
  std::string a, b;
  double difference = 0, se = 0, p_value = 0, q_value = 0;  // AUROC(a) - AUROC(b), paired DeLong
};

struct SubgroupResult {
  std::string attribute, group, class_name;
  int64_t n_pos = 0, n_neg = 0;
  std::optional<double> auroc, gap, p_value, q_value;
  std::optional<Interval> ci_delong;
  std::optional<double> tpr, fpr, tpr_gap, tpr_q_value, fpr_gap, fpr_q_value;
  std::string reason;
};

struct UnderdiagnosisResult {
  std::string attribute, group;
  int64_t with_finding = 0, missed = 0;
  std::optional<double> rate, gap, p_value, q_value;
};

struct ExpertResult {
  std::string expert_label, model_score;
  int64_t n_reviewed = 0, n_pos = 0;
  std::optional<double> auroc_expert, auroc_nih_labels, kappa;
  std::optional<Interval> ci_delong;
  std::string reason;
};

struct ModelComparisonRow {
  std::string class_name;
  std::optional<double> auroc_other, difference, p_value, q_value;
};

// metrics.json "temporal": per-class AUROC by follow-up band (eval/temporal.h), the first films the reference.
struct TemporalBand {
  std::string name, films;
  int64_t n_images = 0, n_patients = 0;
};
struct TemporalRow {
  std::string band, class_name;
  int64_t n_pos = 0, n_neg = 0;
  std::optional<double> auroc, gap, p_value, q_value;  // gap: band minus the first films
  std::optional<Interval> ci_delong;
  std::string reason;
};
struct TemporalResult {
  std::vector<TemporalBand> bands;  // bands[0] is the reference (first films)
  std::vector<TemporalRow> rows;
  int64_t images_without_follow_up = 0, min_cases = 0;
  std::string caveat;
};

struct EvaluationResult {
  std::string dir;  // the evaluate output folder read
  std::string split;
  int64_t n_images = 0, n_patients = 0;
  std::optional<int64_t> images_in_split;  // set when --allow-partial scored only part of the split
  int64_t bootstrap_resamples = 0;
  std::string threshold_rule, thresholds_chosen_on;  // chosen_on "" when there are no operating points
  std::array<ClassResult, data::kNumClasses> classes;  // NIH order
  std::optional<double> macro_auroc, micro_auroc;
  std::optional<Interval> macro_ci_bootstrap;
  int64_t macro_classes = 0;
  std::vector<ClassComparison> class_comparisons;
  std::vector<SubgroupResult> subgroups;
  std::vector<UnderdiagnosisResult> underdiagnosis;
  std::vector<std::string> underdiagnosis_excluded;  // classes without an operating point, left out of it
  std::string underdiagnosis_reason;
  std::vector<ExpertResult> expert;
  std::string expert_reason;  // "" when the pack has expert labels
  std::string compared_with;  // --compare's file ("" when none)
  std::vector<ModelComparisonRow> comparison;
  std::vector<std::string> not_evaluated;
  std::optional<TemporalResult> temporal;  // absent in metrics.json written before the follow-up proxy
  // Where the scores came from: a run's checkpoint or a predictions file.
  std::string run_dir, checkpoint, predictions_file, pack;
  std::optional<int64_t> checkpoint_step, ranks;
  bool has_curves = false;
};

// Reads DIR/metrics.json (required) and DIR/curves.json (optional: without it the report has no ROC plot
// and says so). UserError naming the file and key on anything missing or malformed.
EvaluationResult read_evaluation(const std::string& dir);

}  // namespace cxr::report
