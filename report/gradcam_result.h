// What `cxrtrain gradcam` measured, as the report sees it: RUN/gradcam/cam_stats.json (schema
// "cxrtrain.cam_stats/1") read into typed values with every field checked (report/json_input.h: errors name
// the file and the JSON pointer), and the overlay PNGs of the classes the report shows (shortcut-flagged
// classes and the classes a marker was planted for), read and checked to be PNG files. On phantom packs the
// file may also hold the lesion-removal and natural-marker (AP tags, ECG electrodes) causal tests.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/classes.h"
#include "report/evaluation_result.h"

namespace cxr::report {

inline constexpr const char* kCamStatsSchema = "cxrtrain.cam_stats/1";
inline constexpr const char* kCamStatsFile = "cam_stats.json";

// A share of a map's mass (in [0, 1]): the mean over images and its bootstrap 95 % interval.
struct ShareEstimate {
  std::optional<double> mean;  // null: no map with positive mass
  std::optional<Interval> ci95;
};

// Rate of a localisation hit per threshold ("0.1", "0.25", "0.5", "0.75", "0.9" as in the file).
using RateByThreshold = std::vector<std::pair<std::string, std::optional<double>>>;

struct MarkerTest {
  double delta_p_mean = 0;  // mean change of the class's probability when the marker is added to the film
  Interval delta_p_ci95;
  std::optional<double> auroc_with_marker;     // the marker on every film
  std::optional<double> auroc_without_marker;  // no film has it
  int64_t n = 0;
};

// A change of a class's probability when one thing is taken out of otherwise identical films: delta = the
// probability with it (as rendered) minus without, averaged over the n films, and its bootstrap 95 % interval
// (which contains the mean). Mean and interval are null exactly when n is 0.
struct RemovalTest {
  std::optional<double> delta_p_mean;
  std::optional<Interval> delta_p_ci95;
  int64_t n = 0;
};

struct ClassCam {
  std::string name;
  int64_t n_images = 0, n_tp = 0, n_fp = 0, n_fn = 0;
  int64_t n_maps_with_mass = 0;  // the images behind the region shares: TPs and FPs whose map has mass
  std::vector<ShareEstimate> region_share;  // GradcamResult::region_names order
  ShareEstimate off_target;                 // mass outside where the class's disease can be
  bool shortcut_flag = false;
  std::optional<double> shortcut_score;
  std::optional<double> pointing_hit_rate;  // null without lesion truth
  int64_t pointing_n = 0;
  std::optional<Interval> pointing_ci95;
  std::optional<double> iobb_hit_rate;  // IoBB >= 0.5
  std::string localisation_truth;       // "lesion mask", "box", "none", ...
  int64_t localisation_n = 0;
  RateByThreshold iou, iobb;
  // Spearman rank correlation of the maps before and after randomising the layers from the head down to
  // the named one (cascading), by layer as in the file.
  std::vector<std::pair<std::string, std::optional<double>>> sanity_spearman;
  std::string sanity_verdict;  // "PASS", "FAIL" or "n/a"
  double sanity_threshold = 0;
  int64_t sanity_n = 0;
  std::optional<double> deletion_auc, random_deletion_auc;  // null when not run
  int64_t deletion_n = 0;
  std::optional<MarkerTest> marker_test;  // null when no causal test was run
  // The phantom's other causal tests (GradcamResult::natural_test): the class's lesion removed from films
  // that truly have the class (null when not run), and the AP films' text tags and electrodes removed.
  std::optional<RemovalTest> lesion_removed, natural_markers;
  std::optional<RemovalTest> other_lesions_removed;  // only this class's lesion left: the co-occurring findings' part
  std::string overlay;                    // relative to the gradcam folder; "" when none was written
  std::string overlay_png;                // its bytes, read for the classes the report shows (else "")

  std::optional<double> sanity_rho(const std::string& layer) const;
};

struct PlantedMarker {
  std::string class_name, place;
  int64_t bit = 0;
};

struct GradcamResult {
  std::string path;  // cam_stats.json as read
  std::string text;  // its bytes, copied into the report's data folder unchanged
  std::string run_dir, checkpoint, split, source, layer, method;
  std::array<int64_t, 2> feature_map{};  // [h, w] of the layer's activations
  int64_t image_size = 0;
  std::string regions_kind, regions_limitation;
  std::vector<std::string> region_names;
  int64_t per_class = 0;
  std::string selection_rule, shortcut_rule, reminder;
  std::optional<double> seconds_total;
  bool causal_test = false;  // "counterfactual" is not null
  std::vector<PlantedMarker> markers;
  int64_t causal_n_images = 0;
  std::string causal_films;
  // "counterfactual_natural_markers" is not null (phantom packs): the natural-marker test per class, and the
  // lesion-removal test where the file has it. Absent in files of real films and of older versions.
  bool natural_test = false;
  int64_t natural_n_images = 0;  // AP films with a tag or electrodes
  std::string natural_films, lesion_films;  // the file's descriptions of the two tests
  std::array<ClassCam, data::kNumClasses> classes;  // NIH order

  bool is_marker_class(const std::string& class_name) const;
  // The classes whose overlay the report shows: shortcut-flagged or a marker's class.
  bool overlay_shown(const ClassCam& c) const { return c.shortcut_flag || is_marker_class(c.name); }
};

// Reads and checks `path` (a cam_stats.json) and the overlays the report shows, resolved against the file's
// folder. UserError naming the file and the JSON pointer on anything missing, of the wrong type, outside its
// range, inconsistent, or an overlay that is absent, outside the folder or not a PNG.
GradcamResult read_gradcam(const std::string& path);

}  // namespace cxr::report
