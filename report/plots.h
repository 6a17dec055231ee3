// The report's plots as data for its SVG templates (report/templates/*.svg.mustache): geometry in
// pixels computed here, every label a plain string the template escapes. Each plot also has a "data"
// object, the statistics it draws, written beside the report as JSON.
//   forest      per-class AUROC with DeLong and bootstrap 95 % intervals, ordered by AUROC
//   roc         one panel per class: ROC curve, chance diagonal, operating point
//   reliability one panel per class: mean predicted probability vs observed rate per bin
//   heatmap     subgroup x class: gap to the rest of the split (AUROC or sensitivity), q < 0.05 marked;
//               class x region: mean share of the Grad-CAM maps' mass (cam_stats.json), shortcut flags marked;
//               class x robustness condition: AUROC change under a shift (robustness.json), significant outlined
//   lines       macro AUROC against FGSM/PGD epsilon (robustness.json), one line per attack
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "report/evaluation_result.h"
#include "report/gradcam_result.h"
#include "report/robustness_section.h"

namespace cxr::report {

struct Plot {
  nlohmann::ordered_json view;  // what the template renders
  nlohmann::ordered_json data;  // the statistics behind it
};

Plot forest_plot(const EvaluationResult& result);
Plot roc_plot(const EvaluationResult& result);
Plot reliability_plot(const EvaluationResult& result);
// metric: "auroc" (gap in AUROC, DeLong) or "tpr" (gap in sensitivity at the operating point).
Plot subgroup_heatmap(const EvaluationResult& result, const std::string& metric);
// Classes (rows, NIH order) x regions (columns, the file's order); a flagged class's label ends in " *" and
// the cell of its largest share is outlined.
Plot region_share_heatmap(const GradcamResult& gradcam);
// Classes (rows, NIH order) x the shift, scanner and shortcut conditions (columns: grouped by family and name in
// the file's order, severities side by side): AUROC difference on a symmetric diverging scale, significant cells
// outlined with a "*", grey where undefined. Each cell carries data-class, data-condition, data-difference,
// data-significant. view["columns"] is empty when the file has no such condition (nothing to draw).
Plot robustness_heatmap(const RobustnessResult& robustness);
// Macro AUROC against epsilon for FGSM and PGD (one line per attack and split), starting at epsilon 0 with the
// split's baseline macro AUROC; each point carries data-attack, data-epsilon, data-auroc. Empty view ("series"
// empty) without adversarial conditions.
Plot adversarial_plot(const RobustnessResult& robustness);

}  // namespace cxr::report
