// The report's "Interpretability (Grad-CAM)" section: statements generated from cam_stats.json's numbers
// (the causal marker test; on phantom packs the lesion-removal and natural-marker tests and what they say
// about the shortcut flags; shortcut flags, the randomisation check, deletion against random deletion), the
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
// The same rule for the AP films' text tags and electrodes (ClassCam::natural_markers): kRaises when the
// class's probability is higher with them. kNotTested without the test or without films.
MarkerEffect natural_marker_effect(const ClassCam& c);

// What removing the class's lesion (ClassCam::lesion_removed, with minus without) says about its prediction.
// kUses: the 95 % interval's lower bound is above kNegligibleProbabilityChange. kDoesNotUse: the interval
// includes 0 or |mean| < kNegligibleProbabilityChange. kUsesLittle: mean at least that, interval above 0 but
// reaching below it. kAgainst: removing the lesion raises the probability (interval below 0, |mean| at least
// kNegligibleProbabilityChange). kNoFilms: tested on no film (n 0).
enum class LesionUse { kNotTested, kNoFilms, kUses, kUsesLittle, kDoesNotUse, kAgainst };
LesionUse lesion_use(const ClassCam& c);

struct CamStatements {
  std::vector<std::string> causal;       // marker classes and affected classes one by one, then the unaffected
  // The lesion-removal test (flagged classes first, with what the tests say about the flag; the classes
  // that plainly use their lesion in one sentence), then the natural markers. Empty without those tests.
  std::vector<std::string> use;
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
