// What a Grad-CAM map is measured by, torch-free (the sanitizer build covers it): where its mass lies
// (exclusive image regions from the phantom's anatomy or from a template for real films), whether its peak
// and its thresholded box hit the lesion (pointing game, IoU, IoBB), how it ranks against another map
// (Spearman, for the randomisation check), deletion-curve areas, interval estimates, and the shortcut rule.
// Maps are raw (never per-image min-max scaled) so that statistics compare across images.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/classes.h"

namespace cxr::eval {

// Exclusive regions: every pixel belongs to exactly one, the first that applies in this order, so that the
// shares of a map's mass sum to 1. Geometry (fractions of the image side s):
//   corners           the four squares of side 0.15 s at the image corners
//   border            the rest of the outer band of width 0.10 s
//   text_markers      lead letters, text tags, ECG electrodes, planted markers (phantom: where they were drawn;
//                     real films: unknown, the region is empty and the report says so)
//   outside_body      outside the body outline
//   below_diaphragm   below the diaphragm domes, inside the body
//   heart_mediastinum cardiac silhouette and mediastinal band
//   lungs             both lung fields
//   other_body        the rest of the body (chest wall, shoulders, neck, arms)
// Note: text_markers comes *after* corners and border, so a marker in a corner counts as "corners".
enum class CamRegion : uint8_t {
  kCorners = 0,
  kBorder,
  kTextMarkers,
  kOutsideBody,
  kBelowDiaphragm,
  kHeartMediastinum,
  kLungs,
  kOtherBody,
};
constexpr int kNumCamRegions = 8;
// "corners", "border", "text_markers", "outside_body", "below_diaphragm", "heart_mediastinum", "lungs",
// "other_body" (the JSON names).
const char* cam_region_name(CamRegion region);
const char* cam_region_name(int region);

// size*size region indices (CamRegion values), row-major.
using RegionMap = std::vector<uint8_t>;

// Phantom films: from render_phantom's anatomy bits (data/phantom.h kAnat*, with kAnatMarker for markers).
RegionMap phantom_regions(const uint8_t* anatomy, int size);

// Real films: a documented anatomical template in normalised coordinates (x, y in [0,1], y down), the mean
// position of a PA film framed as NIH frames them: lungs two ellipses centred at (0.30, 0.45) and
// (0.70, 0.45), semi-axes (0.17, 0.27); heart and mediastinum the band |x - 0.5| < 0.09 for 0.15 < y < 0.72
// plus the ellipse at (0.55, 0.62) with semi-axes (0.14, 0.10); below the diaphragm y > 0.72 within
// |x - 0.5| < 0.42; the body |x - 0.5| < 0.45; text_markers empty. A template cannot follow a patient's
// anatomy: the report states it.
RegionMap template_regions(int size);

// Bilinear upsampling of a map [h,w] to [size,size] as torch's interpolate(mode="bilinear",
// align_corners=false) does it (half-pixel centres, edge clamping).
std::vector<float> upsample_bilinear(const float* map, int h, int w, int size);

// Shares of the map's mass per region; the map must be >= 0 (Grad-CAM after its ReLU). nullopt when the mass
// is 0 (a map with no positive evidence says nothing about where the model looks).
std::optional<std::array<double, kNumCamRegions>> region_shares(const std::vector<float>& map, const RegionMap& regions);

// Where each class's disease can be, as a bit set over CamRegion (bit r = region r allowed): lungs for the lung
// classes; Cardiomegaly and Hernia also heart_mediastinum (Hernia also below_diaphragm); Atelectasis, Effusion
// and Emphysema also below_diaphragm (raised or lowered domes, fluid at the bases); Pleural_Thickening also
// other_body (the chest wall).
uint32_t allowed_regions(int cls);
// The share of a map's mass outside allowed_regions(cls).
double off_target_share(const std::array<double, kNumCamRegions>& shares, int cls);

// Boxes in pixels of the image the map was upsampled to.
struct Box {
  double x = 0, y = 0, w = 0, h = 0;
};
double box_area(const Box& b);
double intersection_area(const Box& a, const Box& b);
double iou(const Box& a, const Box& b);
// Intersection over the *detected* box's area (Wang et al. 2017's IoBB).
double iobb(const Box& detected, const Box& truth);
// Wang et al. 2017's thresholds for IoU and IoBB accuracy.
constexpr std::array<double, 5> kLocalisationThresholds = {0.1, 0.25, 0.5, 0.75, 0.9};

// The detected box of a map: pixels >= fraction * max(map), bounding box of the largest 8-connected component
// (ties: the component with the larger mass, then the first in row-major order). nullopt for an all-zero map.
std::optional<Box> cam_box(const std::vector<float>& map, int size, double fraction = 0.5);

// Pointing game (Zhang et al. 2018): a hit when the map's maximum (first in row-major order on ties) lies within
// `tolerance_px` pixels (Euclidean, pixel centres) of a target pixel. target: size*size, non-zero = target.
// nullopt when the target is empty or the map is all zero.
std::optional<bool> pointing_hit(const std::vector<float>& map, int size, const std::vector<uint8_t>& target,
                                 double tolerance_px);
// A box as a target mask (pixels whose centres lie inside the box).
std::vector<uint8_t> box_mask(const Box& b, int size);
// The bounding box of a target mask's non-zero pixels; nullopt when empty.
std::optional<Box> mask_box(const std::vector<uint8_t>& target, int size);

// Spearman's rank correlation (average ranks for ties, as scipy.stats.spearmanr); nullopt when either input is
// constant (undefined).
std::optional<double> spearman(const float* a, const float* b, size_t n);

// Area under a deletion curve sampled at equally spaced deleted fractions 0, 1/(m-1), ..., 1 (trapezoid rule,
// so a constant curve p gives p). Lower than the random-order area = the map found what the class uses.
double curve_area(const std::vector<double>& y);

// Percentile bootstrap 95 % interval of a mean over independent units (images), seeded and reproducible.
std::array<double, 2> bootstrap_mean_ci95(const std::vector<double>& values, int resamples, uint64_t seed);
// Wilson 95 % interval of a proportion hits/n; {0, 1} when n == 0.
std::array<double, 2> wilson_ci95(int64_t hits, int64_t n);

// The shortcut rule. score[c] = class c's mean off-target share, ci_low[c] its bootstrap lower bound; NaN for
// a class without maps. A class is flagged when ci_low[c] > reference + margin, where reference = the median
// score of the *other* classes with maps and margin = max(kShortcutMinMargin, 1.4826 * MAD of those
// scores): its off-target mass is well above the others' even at the low end of its interval. At least 3 other
// classes with maps are needed; otherwise nothing is flagged (and the reason is returned).
constexpr double kShortcutMinMargin = 0.15;
struct ShortcutDecision {
  std::array<bool, data::kNumClasses> flag{};
  std::array<double, data::kNumClasses> reference{};  // median of the others, NaN when not decided
  std::array<double, data::kNumClasses> margin{};
  std::string rule;                                   // the rule in words, for cam_stats.json and the report
};
ShortcutDecision decide_shortcuts(const std::array<double, data::kNumClasses>& score,
                                  const std::array<double, data::kNumClasses>& ci_low);

}  // namespace cxr::eval
