// The report's "Interpretability (Grad-CAM)" section: statements generated from cam_stats.json's numbers
// (the causal marker test, shortcut flags, the randomisation check, deletion against random deletion), the
// limitations of the measurements, and the view the index.html / report.md templates render. The thresholds
// that decide a sentence are the named constants below; no sentence is written for a class by name.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "report/gradcam_result.h"

namespace cxr::report {

// A mean change of a class's probability smaller than this (in absolute value) counts as no effect of the
// marker, even when its 95 % interval excludes 0: a shift of 2 points moves no operating point much.
constexpr double kNegligibleProbabilityChange = 0.02;

// Shown next to the causal test's numbers.
inline constexpr const char* kCamReminder =
    "Grad-CAM shows where the evidence for a class is associated with the prediction, not what causes it: a "
    "plausible map is no proof of valid reasoning (the interpretability trap). The causal test changes the film "
    "itself and measures the prediction.";

enum class MarkerEffect { kNotTested, kUnaffected, kRaises, kLowers };
// kUnaffected when the 95 % interval of the mean change includes 0 or |mean| < kNegligibleProbabilityChange.
MarkerEffect marker_effect(const ClassCam& c);

struct CamStatements {
  std::vector<std::string> causal;       // marker classes and affected classes one by one, then the unaffected
  std::vector<std::string> findings;     // shortcut flags, randomisation check, deletion against random
  std::vector<std::string> limitations;  // regions, map resolution, thresholds, selection, missing truth
};
CamStatements cam_statements(const GradcamResult& g);

// The template view of the section: {"gradcam": {...}} when cam_stats.json was read (g non-null), else
// {"gradcam": null, "gradcam_not_run": {"run": run_dir or null}}. `svg` is the rendered region-share heat map,
// `report_split` the evaluated split (a different Grad-CAM split is stated).
nlohmann::ordered_json interpretability_view(const GradcamResult* g, const CamStatements* statements,
                                             const std::string& svg, const std::string& report_split,
                                             const std::string& run_dir);

// Where the report copies a shown overlay, relative to the report folder (report.md links it).
std::string overlay_report_path(const ClassCam& c);

}  // namespace cxr::report
