// Reading cam_stats.json and the shown overlays into typed values (see gradcam_result.h).
#include "report/gradcam_result.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/fs.h"
#include "report/format.h"
#include "report/json_input.h"

namespace cxr::report {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

constexpr const char* kWriter = "cxrtrain gradcam";
constexpr std::string_view kPngSignature{"\x89PNG\r\n\x1a\n", 8};

std::optional<double> ranged(const JsonInput& in, const std::string& p, double lo, double hi) {
  const auto v = in.number_or_null(p);
  if (v && (*v < lo || *v > hi)) in.fail(p, "is " + general(*v) + ", outside [" + general(lo) + ", " + general(hi) + "]");
  return v;
}

double required(const JsonInput& in, const std::string& p, double lo, double hi) {
  in.number(p);  // null is an error
  return *ranged(in, p, lo, hi);
}

std::optional<Interval> ranged_interval(const JsonInput& in, const std::string& p, double lo, double hi) {
  const auto v = in.interval_or_null(p);
  if (!v) return std::nullopt;
  ranged(in, p + "/0", lo, hi);
  ranged(in, p + "/1", lo, hi);
  return Interval{v->first, v->second};
}

int64_t count(const JsonInput& in, const std::string& p) {
  const int64_t n = in.integer(p);
  if (n < 0) in.fail(p, "is " + std::to_string(n) + ", expected a count >= 0");
  return n;
}

bool boolean(const JsonInput& in, const std::string& p) {
  const json& v = in.at(p);
  if (!v.is_boolean()) in.fail(p, "is not a boolean");
  return v.get<bool>();
}

bool is_null(const JsonInput& in, const std::string& p) { return in.at(p).is_null(); }

// Present and not null: the optional causal tests are absent from files of real films (and older files).
bool is_set(const JsonInput& in, const std::string& p) { return in.has(p) && !is_null(in, p); }

// Slack for "the interval contains its mean": the mean of n equal values can differ from the value (the
// interval's bounds then) in the last bits.
constexpr double kContainsTolerance = 1e-9;

RemovalTest removal_test(const JsonInput& in, const std::string& p) {
  in.keys(p);  // an object
  RemovalTest t;
  t.delta_p_mean = ranged(in, p + "/delta_p_mean", -1, 1);
  t.delta_p_ci95 = ranged_interval(in, p + "/delta_p_ci95", -1, 1);
  t.n = count(in, p + "/n");
  if (t.delta_p_mean.has_value() != (t.n > 0))
    in.fail(p, "has a delta_p_mean without films (n 0), or films without a delta_p_mean");
  if (t.delta_p_mean.has_value() != t.delta_p_ci95.has_value())
    in.fail(p + "/delta_p_ci95", t.delta_p_mean ? "is null, but delta_p_mean is set" : "is set, but delta_p_mean is null");
  if (t.delta_p_mean && (*t.delta_p_mean < t.delta_p_ci95->lo - kContainsTolerance ||
                         *t.delta_p_mean > t.delta_p_ci95->hi + kContainsTolerance))
    in.fail(p + "/delta_p_ci95", "is " + interval(t.delta_p_ci95) + ", which does not contain delta_p_mean " +
                                     general(*t.delta_p_mean));
  return t;
}

ShareEstimate share(const JsonInput& in, const std::string& p) {
  in.keys(p);  // an object
  return {ranged(in, p + "/mean", 0, 1), ranged_interval(in, p + "/ci95", 0, 1)};
}

RateByThreshold rates(const JsonInput& in, const std::string& p) {
  RateByThreshold out;
  for (const auto& k : in.keys(p)) out.emplace_back(k, ranged(in, p + "/" + pointer_key(k), 0, 1));
  return out;
}

ClassCam read_class(const JsonInput& in, const std::string& name, const std::vector<std::string>& regions,
                    bool causal_test, bool natural_test) {
  const std::string p = "/classes/" + pointer_key(name);
  ClassCam c;
  c.name = name;
  c.n_images = count(in, p + "/n_images");
  c.n_tp = count(in, p + "/n_tp");
  c.n_fp = count(in, p + "/n_fp");
  c.n_fn = count(in, p + "/n_fn");
  c.n_maps_with_mass = count(in, p + "/n_maps_with_mass");
  const std::vector<std::string> keys = in.keys(p + "/region_share");
  for (const auto& k : keys)
    if (std::find(regions.begin(), regions.end(), k) == regions.end())
      in.fail(p + "/region_share/" + pointer_key(k), "is not one of /regions/names");
  for (const auto& r : regions) c.region_share.push_back(share(in, p + "/region_share/" + pointer_key(r)));
  c.off_target = share(in, p + "/off_target_share");
  c.shortcut_flag = boolean(in, p + "/shortcut_flag");
  c.shortcut_score = ranged(in, p + "/shortcut_score", 0, 1);

  c.pointing_hit_rate = ranged(in, p + "/pointing_game/hit_rate", 0, 1);
  c.pointing_n = count(in, p + "/pointing_game/n");
  c.pointing_ci95 = ranged_interval(in, p + "/pointing_game/ci95", 0, 1);
  if (c.pointing_hit_rate.has_value() != (c.pointing_n > 0))
    in.fail(p + "/pointing_game", "has a hit_rate without images, or images without a hit_rate");
  c.iobb_hit_rate = ranged(in, p + "/iobb_hit_rate", 0, 1);
  c.localisation_truth = in.string(p + "/localisation/truth");
  c.localisation_n = count(in, p + "/localisation/n");
  c.iou = rates(in, p + "/localisation/iou");
  c.iobb = rates(in, p + "/localisation/iobb");

  for (const auto& layer : in.keys(p + "/sanity/spearman"))
    c.sanity_spearman.emplace_back(layer, ranged(in, p + "/sanity/spearman/" + pointer_key(layer), -1, 1));
  c.sanity_verdict = in.string(p + "/sanity/verdict");
  if (c.sanity_verdict != "PASS" && c.sanity_verdict != "FAIL" && c.sanity_verdict != "n/a")
    in.fail(p + "/sanity/verdict", "is '" + c.sanity_verdict + "', expected PASS, FAIL or n/a");
  c.sanity_threshold = required(in, p + "/sanity/threshold", -1, 1);
  c.sanity_n = count(in, p + "/sanity/n_images");

  c.deletion_auc = ranged(in, p + "/deletion_auc", 0, 1);
  c.random_deletion_auc = ranged(in, p + "/random_deletion_auc", 0, 1);
  c.deletion_n = count(in, p + "/deletion_n");

  const std::string q = p + "/counterfactual";
  if (!is_null(in, q)) {
    if (!causal_test) in.fail(q, "is set, but /counterfactual is null (no causal test was run)");
    MarkerTest m;
    m.delta_p_mean = required(in, q + "/delta_p_mean", -1, 1);
    const auto ci = ranged_interval(in, q + "/delta_p_ci95", -1, 1);
    if (!ci) in.fail(q + "/delta_p_ci95", "is null, expected [lo, hi]");
    m.delta_p_ci95 = *ci;
    m.auroc_with_marker = ranged(in, q + "/auroc_with_marker", 0, 1);
    m.auroc_without_marker = ranged(in, q + "/auroc_without_marker", 0, 1);
    m.n = count(in, q + "/n");
    c.marker_test = m;
  } else if (causal_test) {
    in.fail(q, "is null, but /counterfactual says a causal test was run");
  }
  // The phantom's other causal tests: both per class when the natural-marker test was run; the lesion test
  // may be missing (not run), never there without the other.
  const std::string nat = p + "/counterfactual_natural_markers", les = p + "/counterfactual_lesion_removed",
                    oth = p + "/counterfactual_other_lesions_removed";
  if (natural_test) {
    if (!is_set(in, nat)) in.fail(nat, "is missing or null, but /counterfactual_natural_markers says the test was run");
    c.natural_markers = removal_test(in, nat);
    if (is_set(in, les)) c.lesion_removed = removal_test(in, les);
    if (is_set(in, oth)) c.other_lesions_removed = removal_test(in, oth);
  } else {
    for (const auto& q2 : {nat, les, oth})
      if (is_set(in, q2)) in.fail(q2, "is set, but /counterfactual_natural_markers is null or missing (the test was not run)");
  }

  const std::string o = p + "/overlay";
  c.overlay = in.string_or(o, "");
  if (!c.overlay.empty()) {
    // Only a PNG inside the gradcam folder: the path comes from a file and is read into the page.
    const fs::path rel(c.overlay);
    bool inside = rel.is_relative() && !rel.has_root_name();
    for (const auto& part : rel) inside = inside && part != "..";
    if (!inside) in.fail(o, "is '" + c.overlay + "', expected a path inside the gradcam folder");
    if (rel.extension() != ".png") in.fail(o, "is '" + c.overlay + "', expected a .png file");
  }
  return c;
}

}  // namespace

std::optional<double> ClassCam::sanity_rho(const std::string& layer) const {
  for (const auto& [k, v] : sanity_spearman)
    if (k == layer) return v;
  return std::nullopt;
}

bool GradcamResult::is_marker_class(const std::string& class_name) const {
  return std::any_of(markers.begin(), markers.end(), [&](const PlantedMarker& m) { return m.class_name == class_name; });
}

GradcamResult read_gradcam(const std::string& path) {
  const JsonInput in = JsonInput::read(path, kWriter);
  GradcamResult g;
  g.path = path;
  g.text = read_text_file(path);
  const std::string schema = in.string("/schema");
  if (schema != kCamStatsSchema) in.fail("/schema", "is '" + schema + "', expected '" + kCamStatsSchema + "'");
  g.run_dir = in.string("/run_dir");
  g.checkpoint = in.string("/checkpoint");
  g.split = in.string("/split");
  g.source = in.string("/source");
  g.layer = in.string("/layer");
  g.method = in.string("/method");
  if (in.array_size("/feature_map") != 2) in.fail("/feature_map", "is not [h, w]");
  for (size_t i = 0; i < 2; ++i) {
    g.feature_map[i] = in.integer("/feature_map/" + std::to_string(i));
    if (g.feature_map[i] < 1) in.fail("/feature_map/" + std::to_string(i), "is not a positive size");
  }
  g.image_size = in.integer("/image_size");
  if (g.image_size < 1) in.fail("/image_size", "is not a positive size");

  g.regions_kind = in.string("/regions/kind");
  g.regions_limitation = in.string_or("/regions/limitation", "");
  const size_t n_regions = in.array_size("/regions/names");
  if (n_regions == 0) in.fail("/regions/names", "is empty");
  std::set<std::string> seen;
  for (size_t i = 0; i < n_regions; ++i) {
    const std::string p = "/regions/names/" + std::to_string(i);
    g.region_names.push_back(in.string(p));
    if (!seen.insert(g.region_names.back()).second) in.fail(p, "repeats '" + g.region_names.back() + "'");
  }
  g.per_class = count(in, "/selection/per_class");
  g.selection_rule = in.string_or("/selection/rule", "");
  g.shortcut_rule = in.string_or("/shortcut_rule", "");
  g.reminder = in.string_or("/reminder", "");
  if (in.has("/seconds/total")) g.seconds_total = ranged(in, "/seconds/total", 0, 1e9);

  g.causal_test = !is_null(in, "/counterfactual");
  if (g.causal_test) {
    const size_t n = in.array_size("/counterfactual/shortcuts");
    if (n == 0) in.fail("/counterfactual/shortcuts", "is empty: a causal test needs a planted marker");
    for (size_t i = 0; i < n; ++i) {
      const std::string p = "/counterfactual/shortcuts/" + std::to_string(i);
      PlantedMarker m{in.string(p + "/class"), in.string(p + "/place"), in.integer(p + "/bit")};
      if (!data::class_index(m.class_name)) in.fail(p + "/class", "names no class ('" + m.class_name + "')");
      g.markers.push_back(m);
    }
    g.causal_n_images = count(in, "/counterfactual/n_images");
    g.causal_films = in.string_or("/counterfactual/films", "");
  }
  g.natural_test = is_set(in, "/counterfactual_natural_markers");
  if (g.natural_test) {
    in.keys("/counterfactual_natural_markers");  // an object
    g.natural_n_images = count(in, "/counterfactual_natural_markers/n_images");
    g.natural_films = in.string_or("/counterfactual_natural_markers/films", "");
    g.lesion_films = in.string_or("/counterfactual_natural_markers/lesion_removed", "");
  }

  const std::vector<std::string> names = in.keys("/classes");
  for (const auto& n : names)
    if (!data::class_index(n)) in.fail("/classes/" + pointer_key(n), "is not one of the 14 classes");
  for (int k = 0; k < data::kNumClasses; ++k) {
    const std::string name = data::kClassNames[k];
    if (!in.has("/classes/" + pointer_key(name))) in.fail("/classes/" + name, "is missing (one entry per class)");
    g.classes[static_cast<size_t>(k)] = read_class(in, name, g.region_names, g.causal_test, g.natural_test);
    const auto& natural = g.classes[static_cast<size_t>(k)].natural_markers;
    if (natural && natural->n != g.natural_n_images)  // every class is measured on the same films
      in.fail("/classes/" + pointer_key(name) + "/counterfactual_natural_markers/n",
              "is " + std::to_string(natural->n) + ", but /counterfactual_natural_markers/n_images is " +
                  std::to_string(g.natural_n_images));
  }

  // The overlays the report shows, read now so that a missing one fails before anything is written.
  const fs::path dir = fs::path(path).parent_path();
  for (auto& c : g.classes) {
    if (c.overlay.empty() || !g.overlay_shown(c)) continue;
    const fs::path file = dir / c.overlay;
    const std::string p = "/classes/" + pointer_key(c.name) + "/overlay";
    if (!fs::is_regular_file(file)) in.fail(p, "names '" + file.string() + "', which does not exist");
    c.overlay_png = read_text_file(file);
    if (c.overlay_png.compare(0, kPngSignature.size(), kPngSignature) != 0)
      in.fail(p, "names '" + file.string() + "', which is not a PNG file");
  }
  return g;
}

}  // namespace cxr::report
