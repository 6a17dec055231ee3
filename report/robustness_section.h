// The report's "Robustness" section from RUN/robustness/robustness.json (`cxrtrain probe-shift`, schema
// cxrtrain.robustness/1 in docs/robustness.md): the file read with every value checked, the significant AUROC
// drops, the shortcut conditions per class, the FGSM/PGD settings with the "probe, not a security claim"
// caveat, and the not-evaluated item it narrows to what is still missing. The heat map and the adversarial
// curves are drawn by report/plots.h. Without the file the section says "not measured".
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cxr::report {

inline constexpr const char* kRobustnessSchema = "cxrtrain.robustness/1";
inline constexpr const char* kRobustnessDir = "robustness";       // RUN/robustness/
inline constexpr const char* kRobustnessFile = "robustness.json";  // in it
// metrics.json "not_evaluated" item (eval/evaluation.cpp not_evaluated()) that a robustness.json narrows.
inline constexpr const char* kRobustnessNotEvaluatedPrefix = "robustness to distribution shift";

// One class on the unshifted images of a split; AUROC, lo, hi null when the class is not evaluable there.
struct RobustnessBaseline {
  std::optional<double> auroc, lo, hi;
  int64_t positives = 0, negatives = 0;
};

struct RobustnessSplit {
  std::string name;
  int64_t images = 0;
  std::vector<RobustnessBaseline> baseline;  // [14], cxrtrain's class order
  // Mean baseline AUROC over the classes evaluable here (the adversarial curves start at it, epsilon 0).
  std::optional<double> macro_auroc() const;
};

// One class under one condition: its AUROC and the paired DeLong comparison with the same class unshifted.
// difference = auroc - baseline auroc; significant: q_value < alpha (null in the file reads as false).
struct RobustnessCell {
  std::optional<double> auroc, lo, hi, difference, p_value, q_value;
  bool significant = false;
  bool drop() const { return significant && difference && *difference < 0; }
};

struct RobustnessCondition {
  std::string family;  // shift | scanner | shortcut | adversarial
  std::string name;    // shift names (docs/shifts.md), scanner profiles, "independent:<spec>", "removed:<spec>", fgsm, pgd
  int64_t severity = 0;                // 1..3, 0 when not graded
  std::optional<double> parameter;     // the physical parameter; adversarial: epsilon (always present)
  std::string unit, split, description;
  std::vector<RobustnessCell> per_class;  // [14], cxrtrain's class order
  std::optional<double> macro_auroc, macro_difference;
  std::vector<std::string> significant_drops;  // checked against per_class when read
  // "contrast 2" (severity > 0), "contrast=1.05" (a shift at an explicit parameter), "removed:marker".
  std::string label() const;
  // "0.85 factor on deviations from the mean" ("" without a parameter, or 0 without a unit).
  std::string parameter_text() const;
};

struct AdversarialSettings {
  int64_t steps_pgd = 0, images = 0;
  std::string step_size, loss, epsilon_unit;
};

struct RobustnessResult {
  std::string path;  // where it was read
  std::string text;  // the file as read (copied into the report's data/)
  std::string run_dir, checkpoint, pack;
  int64_t step = 0, ranks = 0;
  double alpha = 0.05;
  std::string multiple_testing;
  std::vector<RobustnessSplit> splits;
  std::vector<RobustnessCondition> conditions;  // the file's order
  std::optional<AdversarialSettings> adversarial;  // absent when no attack ran
  double seconds_total = 0, seconds_per_condition = 0, images_per_second = 0;
  std::string note;

  const RobustnessSplit& split(const std::string& name) const;  // the name was checked when read
  bool has_family(const std::string& family) const;
  // The split most conditions are on: the first shift, scanner or adversarial condition's (the shortcut probes
  // may use another), else the first split.
  std::string main_split;
  // The condition's label, with its split in parentheses when it is not main_split.
  std::string label(const RobustnessCondition& c) const;
};

// Reads and checks robustness.json: UserError naming the file and the key's JSON pointer, with a HINT to rerun
// probe-shift, for a wrong schema, a missing key, a value of the wrong type or out of range, a per_class or
// baseline not 14 long or out of class order, an unknown family or split, an adversarial condition without its
// settings, a significant_drops that does not match per_class.
RobustnessResult read_robustness(const std::string& path);

// Replaces the item of `not_evaluated` that begins with kRobustnessNotEvaluatedPrefix (appends when there is
// none) by what the probe leaves unmeasured: real scanner and site differences, and adaptive attacks (or any
// attack, when none ran).
void narrow_not_evaluated(std::vector<std::string>& not_evaluated, const RobustnessResult& r);

// The template view: {"robustness": {...}, "robustness_not_measured": null} with the result, else
// {"robustness": null, "robustness_not_measured": {"run": run_dir or null}}. The SVGs are inserted unescaped;
// an empty one is left out. eval_checkpoint: the evaluation's checkpoint, to warn when the probe scored another.
nlohmann::ordered_json robustness_view(const RobustnessResult* r, const std::string& svg_heatmap,
                                       const std::string& svg_adversarial, const std::string& run_dir,
                                       const std::string& eval_checkpoint);

}  // namespace cxr::report
