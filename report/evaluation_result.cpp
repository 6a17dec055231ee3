// Reading an evaluation folder into typed values (see evaluation_result.h).
#include "report/evaluation_result.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "report/json_input.h"

namespace cxr::report {
namespace {

namespace fs = std::filesystem;

std::optional<double> optional_number(const JsonInput& in, const std::string& p) {
  return in.has(p) ? in.number_or_null(p) : std::nullopt;
}

std::optional<Interval> interval(const JsonInput& in, const std::string& p) {
  if (!in.has(p)) return std::nullopt;
  const auto v = in.interval_or_null(p);
  if (!v) return std::nullopt;
  return Interval{v->first, v->second};
}

void check_probability(const JsonInput& in, const std::string& p, const std::optional<double>& v) {
  if (v && (*v < 0 || *v > 1)) in.fail(p, "is " + std::to_string(*v) + ", outside [0, 1]");
}

ClassResult read_class(const JsonInput& in, const std::string& name) {
  const std::string p = "/classes/" + pointer_key(name);
  ClassResult c;
  c.name = name;
  c.n_pos = in.integer(p + "/n_pos");
  c.n_neg = in.integer(p + "/n_neg");
  if (c.n_pos < 0 || c.n_neg < 0) in.fail(p, "has a negative count");
  c.prevalence = in.number(p + "/prevalence");
  c.auroc = in.number_or_null(p + "/auroc");
  c.auroc_se = in.number_or_null(p + "/auroc_se_delong");
  c.ci_delong = interval(in, p + "/auroc_ci95_delong");
  c.ci_bootstrap = interval(in, p + "/auroc_ci95_bootstrap");
  c.average_precision = in.number_or_null(p + "/average_precision");
  c.brier = in.number(p + "/brier");
  c.ece = in.number(p + "/ece");
  for (const char* k : {"/auroc", "/average_precision"}) check_probability(in, p + k, in.number_or_null(p + k));
  const size_t bins = in.array_size(p + "/reliability");
  for (size_t b = 0; b < bins; ++b) {
    const std::string q = p + "/reliability/" + std::to_string(b);
    ReliabilityPoint r;
    r.lo = in.number(q + "/lo");
    r.hi = in.number(q + "/hi");
    r.count = in.integer(q + "/count");
    r.mean_predicted = in.number_or_null(q + "/mean_predicted");
    r.observed_rate = in.number_or_null(q + "/observed_rate");
    check_probability(in, q + "/mean_predicted", r.mean_predicted);
    check_probability(in, q + "/observed_rate", r.observed_rate);
    c.reliability.push_back(r);
  }
  c.threshold = in.number_or_null(p + "/threshold");
  for (auto [key, field] : {std::pair{"/sensitivity", &c.sensitivity}, std::pair{"/specificity", &c.specificity},
                            std::pair{"/ppv", &c.ppv}, std::pair{"/npv", &c.npv}}) {
    *field = in.number_or_null(p + key);
    check_probability(in, p + key, *field);
  }
  c.reason = in.string_or(p + "/reason", "");
  return c;
}

TemporalResult read_temporal(const JsonInput& in) {
  TemporalResult t;
  for (size_t i = 0, n = in.array_size("/temporal/bands"); i < n; ++i) {
    const std::string p = "/temporal/bands/" + std::to_string(i);
    t.bands.push_back({in.string(p + "/name"), in.string(p + "/films"), in.integer(p + "/n_images"),
                       in.integer(p + "/n_patients")});
  }
  if (t.bands.empty()) in.fail("/temporal/bands", "is empty (the first band is the reference)");
  for (size_t i = 0, n = in.array_size("/temporal/rows"); i < n; ++i) {
    const std::string p = "/temporal/rows/" + std::to_string(i);
    TemporalRow r;
    r.band = in.string(p + "/band");
    if (std::none_of(t.bands.begin(), t.bands.end(), [&](const TemporalBand& b) { return b.name == r.band; }))
      in.fail(p + "/band", "names no band of /temporal/bands ('" + r.band + "')");
    r.class_name = in.string(p + "/class");
    if (!data::class_index(r.class_name)) in.fail(p + "/class", "names no class ('" + r.class_name + "')");
    r.n_pos = in.integer(p + "/n_pos");
    r.n_neg = in.integer(p + "/n_neg");
    r.auroc = in.number_or_null(p + "/auroc");
    check_probability(in, p + "/auroc", r.auroc);
    r.ci_delong = interval(in, p + "/auroc_ci95_delong");
    r.gap = in.number_or_null(p + "/gap");
    r.p_value = in.number_or_null(p + "/p_value");
    r.q_value = in.number_or_null(p + "/q_value");
    check_probability(in, p + "/q_value", r.q_value);
    r.reason = in.string_or(p + "/reason", "");
    t.rows.push_back(r);
  }
  t.images_without_follow_up = in.integer("/temporal/images_without_follow_up");
  t.min_cases = in.integer("/temporal/tests/min_cases");
  t.caveat = in.string("/temporal/caveat");
  return t;
}

}  // namespace

EvaluationResult read_evaluation(const std::string& dir) {
  const fs::path metrics_path = fs::path(dir) / "metrics.json";
  if (!fs::exists(metrics_path))
    throw UserError("'" + dir + "' holds no metrics.json",
                    "run `cxrtrain evaluate --run RUN` (writes RUN/eval/<split>/) or `cxrtrain evaluate "
                    "--predictions FILE --out DIR` first");
  const JsonInput in = JsonInput::read(metrics_path.string());
  EvaluationResult r;
  r.dir = dir;
  r.split = in.string("/split");
  r.n_images = in.integer("/n_images");
  r.n_patients = in.integer("/n_patients");
  if (r.n_images < 1 || r.n_patients < 1 || r.n_patients > r.n_images)
    in.fail("/n_images", "and /n_patients are inconsistent");
  if (in.has("/partial")) r.images_in_split = in.integer("/partial/images_in_split");
  r.bootstrap_resamples = in.integer("/bootstrap/resamples");
  r.threshold_rule = in.string("/operating_points/rule");
  r.thresholds_chosen_on = in.string_or("/operating_points/chosen_on", "");

  const std::vector<std::string> names = in.keys("/classes");
  for (int k = 0; k < data::kNumClasses; ++k) {
    const std::string name = data::kClassNames[k];
    if (!in.has("/classes/" + pointer_key(name))) in.fail("/classes/" + name, "is missing (one entry per class)");
    r.classes[static_cast<size_t>(k)] = read_class(in, name);
  }
  if (names.size() != static_cast<size_t>(data::kNumClasses))
    in.fail("/classes", "has " + std::to_string(names.size()) + " entries, expected the 14 classes");

  r.macro_auroc = in.number_or_null("/macro/auroc");
  r.macro_ci_bootstrap = interval(in, "/macro/auroc_ci95_bootstrap");
  r.macro_classes = in.integer("/macro/classes_averaged");
  r.micro_auroc = in.number_or_null("/micro/auroc");

  for (size_t i = 0, n = in.array_size("/class_comparisons"); i < n; ++i) {
    const std::string p = "/class_comparisons/" + std::to_string(i);
    r.class_comparisons.push_back({in.string(p + "/a"), in.string(p + "/b"), in.number(p + "/difference"),
                                   in.number(p + "/se"), in.number(p + "/p_value"), in.number(p + "/q_value")});
  }
  for (size_t i = 0, n = in.array_size("/subgroups"); i < n; ++i) {
    const std::string p = "/subgroups/" + std::to_string(i);
    SubgroupResult s;
    s.attribute = in.string(p + "/attribute");
    s.group = in.string(p + "/group");
    s.class_name = in.string(p + "/class");
    if (!data::class_index(s.class_name)) in.fail(p + "/class", "names no class ('" + s.class_name + "')");
    s.n_pos = in.integer(p + "/n_pos");
    s.n_neg = in.integer(p + "/n_neg");
    s.auroc = in.number_or_null(p + "/auroc");
    s.ci_delong = interval(in, p + "/auroc_ci95_delong");
    s.gap = in.number_or_null(p + "/gap");
    s.p_value = in.number_or_null(p + "/p_value");
    s.q_value = in.number_or_null(p + "/q_value");
    s.tpr = optional_number(in, p + "/tpr");
    s.fpr = optional_number(in, p + "/fpr");
    s.tpr_gap = optional_number(in, p + "/tpr_gap");
    s.tpr_q_value = optional_number(in, p + "/tpr_q_value");
    s.fpr_gap = optional_number(in, p + "/fpr_gap");
    s.fpr_q_value = optional_number(in, p + "/fpr_q_value");
    s.reason = in.string_or(p + "/reason", "");
    r.subgroups.push_back(s);
  }
  if (in.at("/underdiagnosis").is_array()) {
    for (size_t i = 0, n = in.array_size("/underdiagnosis"); i < n; ++i) {
      const std::string p = "/underdiagnosis/" + std::to_string(i);
      UnderdiagnosisResult u;
      u.attribute = in.string(p + "/attribute");
      u.group = in.string(p + "/group");
      u.with_finding = in.integer(p + "/with_finding");
      u.missed = in.integer(p + "/missed");
      u.rate = in.number_or_null(p + "/rate");
      u.gap = optional_number(in, p + "/gap");
      u.p_value = optional_number(in, p + "/p_value");
      u.q_value = optional_number(in, p + "/q_value");
      r.underdiagnosis.push_back(u);
    }
    if (in.has("/underdiagnosis_classes_without_threshold"))
      for (size_t i = 0, n = in.array_size("/underdiagnosis_classes_without_threshold"); i < n; ++i)
        r.underdiagnosis_excluded.push_back(in.string("/underdiagnosis_classes_without_threshold/" + std::to_string(i)));
  } else {
    r.underdiagnosis_reason = in.string("/underdiagnosis/reason");
  }
  if (in.at("/expert").is_array()) {
    for (size_t i = 0, n = in.array_size("/expert"); i < n; ++i) {
      const std::string p = "/expert/" + std::to_string(i);
      ExpertResult e;
      e.expert_label = in.string(p + "/expert_label");
      e.model_score = in.string_or(p + "/model_score", "");
      e.n_reviewed = in.has(p + "/n_reviewed") ? in.integer(p + "/n_reviewed") : 0;
      e.n_pos = in.has(p + "/n_pos") ? in.integer(p + "/n_pos") : 0;
      e.auroc_expert = in.number_or_null(p + "/auroc_expert");
      e.auroc_nih_labels = optional_number(in, p + "/auroc_nih_labels");
      e.ci_delong = interval(in, p + "/auroc_expert_ci95_delong");
      e.kappa = optional_number(in, p + "/kappa_nih_vs_expert");
      e.reason = in.string_or(p + "/reason", "");
      r.expert.push_back(e);
    }
  } else {
    r.expert_reason = in.string("/expert/reason");
  }
  if (in.has("/comparison")) {
    r.compared_with = in.string("/comparison/other");
    for (size_t i = 0, n = in.array_size("/comparison/classes"); i < n; ++i) {
      const std::string p = "/comparison/classes/" + std::to_string(i);
      r.comparison.push_back({in.string(p + "/class"), in.number_or_null(p + "/auroc_other"),
                              in.number_or_null(p + "/difference"), in.number_or_null(p + "/p_value"),
                              in.number_or_null(p + "/q_value")});
    }
  }
  for (size_t i = 0, n = in.array_size("/not_evaluated"); i < n; ++i)
    r.not_evaluated.push_back(in.string("/not_evaluated/" + std::to_string(i)));
  if (in.has("/temporal")) r.temporal = read_temporal(in);
  r.run_dir = in.string_or("/model/run_dir", "");
  r.checkpoint = in.string_or("/model/checkpoint", "");
  r.predictions_file = in.string_or("/model/predictions", "");
  r.pack = in.string_or("/model/pack", "");
  if (in.has("/model/step")) r.checkpoint_step = in.integer("/model/step");
  if (in.has("/model/ranks")) r.ranks = in.integer("/model/ranks");

  const fs::path curves_path = fs::path(dir) / "curves.json";
  if (fs::exists(curves_path)) {
    const JsonInput cv = JsonInput::read(curves_path.string());
    if (cv.string("/split") != r.split)
      cv.fail("/split", "is '" + cv.string("/split") + "' but metrics.json is for '" + r.split + "'");
    for (auto& c : r.classes) {
      const std::string p = "/classes/" + pointer_key(c.name);
      if (cv.at(p + "/fpr").is_null()) continue;
      const size_t n = cv.array_size(p + "/fpr");
      if (cv.array_size(p + "/tpr") != n || n < 2) cv.fail(p, "has fpr and tpr of different lengths");
      for (size_t i = 0; i < n; ++i) {
        const double x = cv.number(p + "/fpr/" + std::to_string(i)), y = cv.number(p + "/tpr/" + std::to_string(i));
        if (x < 0 || x > 1 || y < 0 || y > 1) cv.fail(p + "/fpr/" + std::to_string(i), "is outside the unit square");
        c.roc_fpr.push_back(x);
        c.roc_tpr.push_back(y);
      }
    }
    r.has_curves = true;
  }
  return r;
}

}  // namespace cxr::report
