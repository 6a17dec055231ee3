// The statistics of the robustness probes (issue 14): for every condition (a shift at a severity, a phantom
// scanner change, the planted marker made label-independent or removed, an attack at an epsilon), per class the
// AUROC with its DeLong CI and DeLong's paired test against the unshifted scores of the same images; one
// Benjamini-Hochberg family over every (condition, class) test, so a drop is called only where it is
// distinguishable from noise. Writes robustness.json (schema in docs/robustness.md). Torch-free.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cxr::eval {

// The unshifted scores of one split. Scores are anything monotone in the model's belief (logits: rank-
// equivalent to probabilities and free of the ties a saturated sigmoid makes).
struct RobustnessSplit {
  std::string name;
  std::vector<uint8_t> labels;    // [n,14] 0/1
  std::vector<double> baseline;   // [n,14]
};

struct RobustnessCondition {
  std::string family;       // shift | scanner | shortcut | adversarial
  std::string name;         // e.g. "contrast", "ap-share", "removed:Nodule:0.9:top-left", "pgd"
  int severity = 0;         // 1..3, 0 when not graded
  double parameter = 0;     // the physical parameter (adversarial: epsilon in grey levels)
  std::string unit, description;
  std::string split;        // must have been added with add_split
  std::vector<double> scores;  // [n,14], the same rows as the split's baseline
};

class RobustnessTable {
 public:
  explicit RobustnessTable(double alpha = 0.05) : alpha_(alpha) {}

  // std::invalid_argument for shapes that disagree or a split added twice.
  void add_split(RobustnessSplit split);
  // Computes the condition's per-class statistics now (its scores are not kept). std::invalid_argument for
  // an unknown split or scores of the wrong shape; NonFiniteScore (eval/auroc.h) for NaN scores.
  void add(const RobustnessCondition& condition);

  // robustness.json without "model", "adversarial", "seconds" (the caller adds them): q-values over every
  // paired test added so far.
  nlohmann::ordered_json to_json() const;

 private:
  struct ClassResult {
    bool evaluable = false;
    double auroc = 0, lo = 0, hi = 0, difference = 0;
    bool has_test = false;
    double p_value = 0;
  };
  struct ConditionResult {
    RobustnessCondition meta;  // without scores
    std::vector<ClassResult> classes;
  };
  struct SplitResult {
    RobustnessSplit scores;
    std::vector<ClassResult> baseline;
    std::vector<int64_t> positives, negatives;
  };
  double alpha_;
  std::map<std::string, SplitResult> splits_;
  std::vector<std::string> split_order_;
  std::vector<ConditionResult> conditions_;
};

}  // namespace cxr::eval
