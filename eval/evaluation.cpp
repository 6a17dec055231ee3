// metrics.json of one split (see evaluation.h).
#include "eval/evaluation.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>

#include "core/strings.h"
#include "data/classes.h"
#include "eval/auroc.h"
#include "eval/average_precision.h"
#include "eval/bootstrap.h"
#include "eval/calibration.h"
#include "eval/delong.h"
#include "eval/multiple_testing.h"
#include "eval/operating_point.h"
#include "eval/roc_curve.h"
#include "eval/temporal.h"

namespace cxr::eval {
namespace {

using json = nlohmann::ordered_json;
constexpr int K = data::kNumClasses;

json value(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

// Sets key to the value, or to null and records why (the object's "reason" lists every null's cause).
void put(json& obj, const std::string& key, const std::optional<double>& v, const std::string& why) {
  obj[key] = value(v);
  if (!v) {
    std::string& reason = obj["reason"].is_string() ? obj["reason"].get_ref<std::string&>()
                                                    : (obj["reason"] = std::string()).get_ref<std::string&>();
    reason += (reason.empty() ? "" : "; ") + key + ": " + why;
  }
}

std::vector<double> column(const std::vector<double>& p, int c) {
  std::vector<double> out(p.size() / K);
  for (size_t i = 0; i < out.size(); ++i) out[i] = p[i * K + static_cast<size_t>(c)];
  return out;
}

std::vector<uint8_t> labels_of(const std::vector<data::SampleMeta>& meta, int c) {
  std::vector<uint8_t> out(meta.size());
  for (size_t i = 0; i < meta.size(); ++i) out[i] = meta[i].labels[static_cast<size_t>(c)] ? 1 : 0;
  return out;
}

template <class T>
std::vector<T> subset(const std::vector<T>& v, const std::vector<size_t>& rows) {
  std::vector<T> out;
  out.reserve(rows.size());
  for (size_t r : rows) out.push_back(v[r]);
  return out;
}

std::string why_no_auroc(int64_t pos, int64_t neg) {
  if (pos == 0) return "no positive images";
  if (neg == 0) return "no negative images";
  return "fewer than 2 positive or negative images: no DeLong variance";
}

struct Group {
  std::string attribute, name;
  std::vector<size_t> rows, rest;
};

std::vector<Group> subgroups(const std::vector<data::SampleMeta>& meta, const std::vector<int>& edges) {
  auto band = [&](int age) -> std::string {
    if (age < 0) return "";
    int lo = 0;
    for (int e : edges) {
      if (age < e) return std::to_string(lo) + "-" + std::to_string(e - 1);
      lo = e;
    }
    return std::to_string(lo) + "+";
  };
  auto sex = [](int8_t s) -> std::string { return s == data::kSexFemale ? "F" : s == data::kSexMale ? "M" : ""; };
  auto view = [](int8_t v) -> std::string { return v == data::kViewPA ? "PA" : v == data::kViewAP ? "AP" : ""; };
  std::vector<std::pair<std::string, std::function<std::string(const data::SampleMeta&)>>> attributes = {
      {"sex", [&](const data::SampleMeta& m) { return sex(m.sex); }},
      {"age", [&](const data::SampleMeta& m) { return band(m.age); }},
      {"view", [&](const data::SampleMeta& m) { return view(m.view); }},
      {"sex x age", [&](const data::SampleMeta& m) {
         const std::string s = sex(m.sex), a = band(m.age);
         return s.empty() || a.empty() ? std::string() : s + " " + a;
       }}};
  std::vector<Group> out;
  for (const auto& [attribute, key] : attributes) {
    std::map<std::string, std::vector<size_t>> members;
    for (size_t i = 0; i < meta.size(); ++i) {
      const std::string g = key(meta[i]);
      if (!g.empty()) members[g].push_back(i);
    }
    for (const auto& [name, rows] : members) {
      Group g{attribute, name, rows, {}};
      std::vector<uint8_t> in(meta.size(), 0);
      for (size_t r : rows) in[r] = 1;
      for (size_t i = 0; i < meta.size(); ++i)
        if (!in[i]) g.rest.push_back(i);
      out.push_back(std::move(g));
    }
  }
  return out;
}

}  // namespace

json roc_curves(const ScoredSplit& ev, const std::string& split) {
  json classes = json::object();
  for (int c = 0; c < K; ++c) {
    json j;
    const std::vector<uint8_t> y = labels_of(ev.meta, c);
    const auto curve = roc_curve(column(ev.probability, c), y);
    if (curve) {
      j = {{"fpr", curve->fpr}, {"tpr", curve->tpr}, {"threshold", curve->threshold}};
    } else {
      const auto pos = static_cast<int64_t>(std::count(y.begin(), y.end(), uint8_t{1}));
      j = {{"fpr", nullptr}, {"tpr", nullptr}, {"reason", why_no_auroc(pos, static_cast<int64_t>(y.size()) - pos)}};
    }
    classes[data::kClassNames[c]] = j;
  }
  return {{"split", split},
          {"curve", "ROC as scikit-learn's roc_curve(drop_intermediate=True): (0, 0), then one point per distinct "
                    "score at which the curve turns, threshold[i] belonging to point i + 1"},
          {"classes", classes}};
}

std::vector<std::string> not_evaluated() {
  return {"other chest X-ray datasets and hospitals (CheXpert, MIMIC-CXR, PadChest): external validity",
          "robustness to distribution shift (scanner, exposure, noise, resolution) and to adversarial inputs",
          "temporal stability in calendar time (only the follow-up proxy is measured)",
          "clinical validity: effect on diagnoses, workflow or outcomes; comparison with radiologists' reads "
          "beyond the adjudicated labels where the pack has them"};
}

std::vector<std::string> cannot_conclude() {
  return {"that the model reasons in a clinically valid way (AUROC measures ranking, not reasoning)",
          "that it generalises to other hospitals, scanners or populations",
          "that a plausible Grad-CAM heatmap validates the model (heatmaps show association, not cause)",
          "that it is safe to deploy"};
}

json evaluate_split(const ScoredSplit& ev, const ScoredSplit& th, const EvaluationOptions& o,
                    const std::vector<double>& other, const std::string& other_name) {
  const size_t n = ev.meta.size();
  if (n == 0) throw std::invalid_argument("evaluate_split: no images");
  if (ev.probability.size() != n * K) throw std::invalid_argument("evaluate_split: probabilities are not [n, 14]");
  if (!other.empty() && other.size() != n * K) throw std::invalid_argument("evaluate_split: other model's shape");
  std::vector<uint8_t> labels(n * K);
  std::vector<int64_t> patient(n);
  std::set<int32_t> patients;
  for (size_t i = 0; i < n; ++i) {
    for (int c = 0; c < K; ++c) labels[i * K + static_cast<size_t>(c)] = ev.meta[i].labels[static_cast<size_t>(c)] ? 1 : 0;
    patient[i] = ev.meta[i].patient_id;
    patients.insert(ev.meta[i].patient_id);
  }

  json out;
  out["split"] = o.split;
  out["n_images"] = n;
  out["n_patients"] = patients.size();
  if (o.images_in_split > 0 && o.images_in_split != static_cast<int64_t>(n)) {
    out["partial"] = {{"images_scored", n}, {"images_in_split", o.images_in_split},
                      {"reason", "--allow-partial: the predictions cover only part of the split"}};
  }
  BootstrapOptions bo;
  bo.resamples = o.resamples;
  bo.seed = o.seed;
  bo.threads = o.threads;
  const BootstrapAuroc boot = cluster_bootstrap_auroc(ev.probability, labels, K, patient, bo);
  out["bootstrap"] = {{"resamples", o.resamples}, {"seed", o.seed}, {"unit", "patient"},
                      {"interval", "percentile, 95 %"}};
  const std::string rule = o.target_sensitivity ? "sensitivity >= " + std::to_string(*o.target_sensitivity) : "youden";
  out["operating_points"] = {{"chosen_on", th.meta.empty() ? json(nullptr) : json(o.threshold_split)},
                             {"rule", rule},
                             {"applied_to", o.split},
                             {"call", "positive when the probability is >= the threshold"}};

  // --- per class ----------------------------------------------------------------------------------
  json classes = json::object();
  std::vector<double> thresholds(K, std::nan(""));
  std::vector<std::optional<double>> class_auroc(K);
  for (int c = 0; c < K; ++c) {
    const std::vector<double> s = column(ev.probability, c);
    const std::vector<uint8_t> y = labels_of(ev.meta, c);
    const auto pos = static_cast<int64_t>(std::count(y.begin(), y.end(), uint8_t{1}));
    const auto neg = static_cast<int64_t>(n) - pos;
    json j;
    j["n_pos"] = pos;
    j["n_neg"] = neg;
    j["prevalence"] = static_cast<double>(pos) / static_cast<double>(n);
    // A class the pack's source never labels has only 0 labels, meaning "not recorded": no AUROC, said so.
    const bool evaluable = !ev.not_evaluable[static_cast<size_t>(c)];
    if (!evaluable) j["evaluable"] = false;
    class_auroc[c] = evaluable ? auroc(s, y) : std::nullopt;
    put(j, "auroc", class_auroc[c],
        evaluable ? why_no_auroc(pos, neg)
                  : "not evaluable: the pack's source has no label for this class (manifest classes_not_evaluable)");
    const auto ci = delong_ci(s, y, 0.05);
    put(j, "auroc_se_delong", ci ? std::optional<double>(ci->se) : std::nullopt, why_no_auroc(pos, neg));
    j["auroc_ci95_delong"] = ci ? json::array({ci->lo, ci->hi}) : json(nullptr);
    const auto bci = percentile_interval(boot.per_class[static_cast<size_t>(c)], 0.05);
    j["auroc_ci95_bootstrap"] = bci ? json::array({bci->first, bci->second}) : json(nullptr);
    if (!bci) put(j, "auroc_ci95_bootstrap", std::nullopt, "most resamples lack a positive or a negative image");
    put(j, "average_precision", average_precision(s, y), "no positive images");
    j["brier"] = brier_score(s, y);
    const Calibration cal = calibration(s, y, 15);
    j["ece"] = cal.ece;
    json bins = json::array();
    for (const auto& b : cal.bins) {
      json bin = {{"lo", b.lo}, {"hi", b.hi}, {"count", b.count}};
      const bool empty = b.count == 0;
      put(bin, "mean_predicted", empty ? std::nullopt : std::optional<double>(b.mean_predicted), "empty bin");
      put(bin, "observed_rate", empty ? std::nullopt : std::optional<double>(b.observed_rate), "empty bin");
      bins.push_back(bin);
    }
    j["reliability"] = bins;
    std::optional<double> t;
    std::string no_threshold = "no " + o.threshold_split + " split to choose it on";
    if (!th.meta.empty()) {
      const std::vector<double> ts = column(th.probability, c);
      const std::vector<uint8_t> ty = labels_of(th.meta, c);
      t = o.target_sensitivity ? sensitivity_threshold(ts, ty, *o.target_sensitivity) : youden_threshold(ts, ty);
      no_threshold = "the " + o.threshold_split + " split lacks positive or negative images of this class";
    }
    put(j, "threshold", t, no_threshold);
    if (t) {
      thresholds[static_cast<size_t>(c)] = *t;
      const Confusion cm = confusion_at(s, y, *t);
      j["tp"] = cm.tp;
      j["fp"] = cm.fp;
      j["tn"] = cm.tn;
      j["fn"] = cm.fn;
      put(j, "sensitivity", cm.sensitivity(), "no positive images");
      put(j, "specificity", cm.specificity(), "no negative images");
      put(j, "ppv", cm.ppv(), "no positive calls");
      put(j, "npv", cm.npv(), "no negative calls");
    } else {
      for (const char* k : {"sensitivity", "specificity", "ppv", "npv"}) put(j, k, std::nullopt, "no threshold");
    }
    classes[data::kClassNames[c]] = j;
  }
  out["classes"] = classes;

  // --- macro and micro ----------------------------------------------------------------------------
  double sum = 0;
  int defined = 0;
  for (const auto& a : class_auroc)
    if (a) {
      sum += *a;
      ++defined;
    }
  json macro;
  put(macro, "auroc", defined ? std::optional<double>(sum / defined) : std::nullopt, "no class is defined");
  macro["classes_averaged"] = defined;
  const auto mci = percentile_interval(boot.macro, 0.05);
  macro["auroc_ci95_bootstrap"] = mci ? json::array({mci->first, mci->second}) : json(nullptr);
  out["macro"] = macro;
  json micro;
  put(micro, "auroc", auroc(ev.probability, labels), "no positive or no negative label in the split");
  out["micro"] = micro;

  // --- paired comparisons between classes -----------------------------------------------------------
  {
    json rows = json::array();
    std::vector<double> p;
    for (int a = 0; a < K; ++a) {
      for (int b = a + 1; b < K; ++b) {
        if (!class_auroc[a] || !class_auroc[b]) continue;
        const auto t = delong_between(column(ev.probability, a), labels_of(ev.meta, a), column(ev.probability, b),
                                      labels_of(ev.meta, b));
        if (!t) continue;
        rows.push_back({{"a", data::kClassNames[a]}, {"b", data::kClassNames[b]}, {"difference", t->difference},
                        {"se", t->se}, {"p_value", t->p_value}});
        p.push_back(t->p_value);
      }
    }
    const std::vector<double> q = benjamini_hochberg(p);
    for (size_t i = 0; i < rows.size(); ++i) rows[i]["q_value"] = q[i];
    out["class_comparisons"] = rows;
  }
  if (!other.empty()) {
    json rows = json::array();
    std::vector<double> p;
    for (int c = 0; c < K; ++c) {
      const auto t = delong_paired(column(ev.probability, c), column(other, c), labels_of(ev.meta, c));
      json r = {{"class", data::kClassNames[c]}};
      put(r, "auroc_other", auroc(column(other, c), labels_of(ev.meta, c)), "undefined");
      put(r, "difference", t ? std::optional<double>(t->difference) : std::nullopt, "no paired DeLong test");
      put(r, "p_value", t ? std::optional<double>(t->p_value) : std::nullopt, "no paired DeLong test");
      p.push_back(t ? t->p_value : std::nan(""));
      rows.push_back(r);
    }
    const std::vector<double> q = benjamini_hochberg(p);
    for (size_t i = 0; i < rows.size(); ++i) rows[i]["q_value"] = std::isnan(q[i]) ? json(nullptr) : json(q[i]);
    out["comparison"] = {{"other", other_name}, {"test", "paired DeLong, same images"}, {"classes", rows}};
  }

  // --- subgroups and underdiagnosis ----------------------------------------------------------------
  const std::vector<Group> groups = subgroups(ev.meta, o.age_edges);
  json sub = json::array();
  std::vector<double> auc_p, tpr_p, fpr_p;
  for (const Group& g : groups) {
    for (int c = 0; c < K; ++c) {
      const std::vector<double> s = column(ev.probability, c);
      const std::vector<uint8_t> y = labels_of(ev.meta, c);
      const std::vector<double> sg = subset(s, g.rows), sr = subset(s, g.rest);
      const std::vector<uint8_t> yg = subset(y, g.rows), yr = subset(y, g.rest);
      const auto pos = static_cast<int64_t>(std::count(yg.begin(), yg.end(), uint8_t{1}));
      const auto neg = static_cast<int64_t>(yg.size()) - pos;
      json r = {{"attribute", g.attribute}, {"group", g.name}, {"class", data::kClassNames[c]},
                {"n_pos", pos}, {"n_neg", neg}};
      const auto cg = delong_ci(sg, yg, 0.05), cr = delong_ci(sr, yr, 0.05);
      const auto rest_pos = static_cast<int64_t>(std::count(yr.begin(), yr.end(), uint8_t{1}));
      const auto rest_neg = static_cast<int64_t>(yr.size()) - rest_pos;
      put(r, "auroc", auroc(sg, yg), why_no_auroc(pos, neg));
      r["auroc_ci95_delong"] = cg ? json::array({cg->lo, cg->hi}) : json(nullptr);
      std::optional<PairedTest> gap;
      if (cg && cr) gap = unpaired_auc_test(cg->auc, cg->se * cg->se, cr->auc, cr->se * cr->se);
      put(r, "gap", gap ? std::optional<double>(gap->difference) : std::nullopt,
          "AUROC undefined in the group or in the rest");
      const bool testable = std::min({pos, neg, rest_pos, rest_neg}) >= kMinCasesForTest;
      put(r, "p_value", gap && testable ? std::optional<double>(gap->p_value) : std::nullopt,
          gap ? "fewer than " + std::to_string(kMinCasesForTest) + " positives or negatives in the group or the rest"
              : "no gap");
      auc_p.push_back(gap && testable ? gap->p_value : std::nan(""));
      const double t = thresholds[static_cast<size_t>(c)];
      if (!std::isnan(t)) {
        const Confusion in = confusion_at(sg, yg, t), rest = confusion_at(sr, yr, t);
        put(r, "tpr", in.sensitivity(), "no positive images");
        put(r, "fpr", in.specificity() ? std::optional<double>(1 - *in.specificity()) : std::nullopt,
            "no negative images");
        const auto tt = two_proportion_test(in.tp, in.tp + in.fn, rest.tp, rest.tp + rest.fn);
        const auto ft = two_proportion_test(in.fp, in.fp + in.tn, rest.fp, rest.fp + rest.tn);
        const bool tpr_testable = std::min(pos, rest_pos) >= kMinCasesForTest;
        const bool fpr_testable = std::min(neg, rest_neg) >= kMinCasesForTest;
        const std::string few = "fewer than " + std::to_string(kMinCasesForTest) + " cases in the group or the rest";
        put(r, "tpr_gap", tt ? std::optional<double>(tt->difference) : std::nullopt, "no two-proportion test");
        put(r, "tpr_p_value", tt && tpr_testable ? std::optional<double>(tt->p_value) : std::nullopt,
            tt ? few : "no two-proportion test");
        put(r, "fpr_gap", ft ? std::optional<double>(ft->difference) : std::nullopt, "no two-proportion test");
        put(r, "fpr_p_value", ft && fpr_testable ? std::optional<double>(ft->p_value) : std::nullopt,
            ft ? few : "no two-proportion test");
        tpr_p.push_back(tt && tpr_testable ? tt->p_value : std::nan(""));
        fpr_p.push_back(ft && fpr_testable ? ft->p_value : std::nan(""));
      } else {
        for (const char* k : {"tpr", "fpr"}) put(r, k, std::nullopt, "no threshold");
        tpr_p.push_back(std::nan(""));
        fpr_p.push_back(std::nan(""));
      }
      sub.push_back(r);
    }
  }
  // Benjamini-Hochberg over every subgroup comparison of a kind (all groups x classes).
  const std::vector<double> qa = benjamini_hochberg(auc_p), qt = benjamini_hochberg(tpr_p),
                            qf = benjamini_hochberg(fpr_p);
  for (size_t i = 0; i < sub.size(); ++i) {
    sub[i]["q_value"] = std::isnan(qa[i]) ? json(nullptr) : json(qa[i]);
    if (sub[i].contains("tpr_p_value")) {
      sub[i]["tpr_q_value"] = std::isnan(qt[i]) ? json(nullptr) : json(qt[i]);
      sub[i]["fpr_q_value"] = std::isnan(qf[i]) ? json(nullptr) : json(qf[i]);
    }
  }
  out["subgroups"] = sub;
  out["subgroup_tests"] = {{"auroc_gap", "group against the rest of the split, unpaired DeLong, two-sided"},
                           {"tpr_fpr_gap", "two-proportion z test, pooled, two-sided"},
                           {"q_value", "Benjamini-Hochberg over all groups x classes of the same kind"},
                           {"min_cases", kMinCasesForTest},
                           {"untested", "a gap with fewer than min_cases positives (AUROC, TPR) or negatives (AUROC, "
                                        "FPR) in the group or the rest has no p- or q-value"}};

  // Underdiagnosis (Seyyed-Kalantari et al. 2021): among images with at least one finding, the share for
  // which no class crosses its threshold. Over the classes that have an operating point (a class whose
  // threshold split lacks positives has none); the others are listed.
  std::vector<int> with_threshold;
  json without = json::array();
  for (int c = 0; c < K; ++c) {
    if (std::isnan(thresholds[static_cast<size_t>(c)])) without.push_back(data::kClassNames[c]);
    else with_threshold.push_back(c);
  }
  json under = json::array();
  if (!with_threshold.empty()) {
    std::vector<uint8_t> finding(n, 0), missed(n, 0);
    for (size_t i = 0; i < n; ++i) {
      bool any = false, called = false;
      for (int c : with_threshold) {
        any = any || labels[i * K + static_cast<size_t>(c)];
        called = called || ev.probability[i * K + static_cast<size_t>(c)] >= thresholds[static_cast<size_t>(c)];
      }
      finding[i] = any;
      missed[i] = any && !called;
    }
    auto count = [&](const std::vector<size_t>& rows, int64_t& f, int64_t& m) {
      f = m = 0;
      for (size_t r : rows) {
        f += finding[r];
        m += missed[r];
      }
    };
    std::vector<size_t> everyone(n);
    for (size_t i = 0; i < n; ++i) everyone[i] = i;
    int64_t f = 0, m = 0;
    count(everyone, f, m);
    json all = {{"attribute", "all"}, {"group", "all"}, {"with_finding", f}, {"missed", m}};
    put(all, "rate", f ? std::optional<double>(static_cast<double>(m) / f) : std::nullopt, "no image with a finding");
    under.push_back(all);
    std::vector<double> p;
    for (const Group& g : groups) {
      int64_t fg = 0, mg = 0, fr = 0, mr = 0;
      count(g.rows, fg, mg);
      count(g.rest, fr, mr);
      json r = {{"attribute", g.attribute}, {"group", g.name}, {"with_finding", fg}, {"missed", mg}};
      put(r, "rate", fg ? std::optional<double>(static_cast<double>(mg) / fg) : std::nullopt, "no image with a finding");
      const auto t = two_proportion_test(mg, fg, mr, fr);
      const bool testable = std::min(fg, fr) >= kMinCasesForTest;
      put(r, "gap", t ? std::optional<double>(t->difference) : std::nullopt, "no two-proportion test");
      put(r, "p_value", t && testable ? std::optional<double>(t->p_value) : std::nullopt,
          t ? "fewer than " + std::to_string(kMinCasesForTest) + " images with a finding in the group or the rest"
            : "no two-proportion test");
      p.push_back(t && testable ? t->p_value : std::nan(""));
      under.push_back(r);
    }
    const std::vector<double> q = benjamini_hochberg(p);
    for (size_t i = 0; i < q.size(); ++i) under[i + 1]["q_value"] = std::isnan(q[i]) ? json(nullptr) : json(q[i]);
    out["underdiagnosis"] = under;
    out["underdiagnosis_classes_without_threshold"] = without;
  } else {
    out["underdiagnosis"] = {{"reason", "no class has an operating point"}};
  }

  // --- radiologists' labels --------------------------------------------------------------------------
  if (ev.has_expert_labels) {
    struct Mapping {
      const char* expert;
      int column;
      std::vector<int> classes;  // score = max of their probabilities; NIH label = any of them
    };
    const std::vector<Mapping> mappings = {
        {"Pneumothorax", 1, {*data::class_index("Pneumothorax")}},
        {"Nodule or mass", 3, {*data::class_index("Nodule"), *data::class_index("Mass")}},
        {"Airspace opacity", 2,
         {*data::class_index("Consolidation"), *data::class_index("Infiltration"), *data::class_index("Pneumonia")}}};
    json ex = json::array();
    for (const Mapping& mp : mappings) {
      std::vector<double> s;
      std::vector<uint8_t> truth, nih;
      for (size_t i = 0; i < n; ++i) {
        const int8_t e = ev.meta[i].expert_labels[static_cast<size_t>(mp.column)];
        if (e < 0) continue;
        double best = 0;
        bool any = false;
        for (int c : mp.classes) {
          best = std::max(best, ev.probability[i * K + static_cast<size_t>(c)]);
          any = any || ev.meta[i].labels[static_cast<size_t>(c)];
        }
        s.push_back(best);
        truth.push_back(e == 1);
        nih.push_back(any);
      }
      std::vector<std::string> from;
      for (int c : mp.classes) from.push_back(data::kClassNames[c]);
      json r = {{"expert_label", mp.expert},
                {"model_score", from.size() == 1 ? from[0] : "max(" + join(from, ", ") + ")"},
                {"n_reviewed", s.size()}};
      const auto pos = static_cast<int64_t>(std::count(truth.begin(), truth.end(), uint8_t{1}));
      const auto neg = static_cast<int64_t>(truth.size()) - pos;
      r["n_pos"] = pos;
      put(r, "auroc_expert", s.empty() ? std::nullopt : auroc(s, truth), why_no_auroc(pos, neg));
      put(r, "auroc_nih_labels", s.empty() ? std::nullopt : auroc(s, nih), "undefined on the reviewed images");
      const auto ci = s.empty() ? std::nullopt : delong_ci(s, truth, 0.05);
      r["auroc_expert_ci95_delong"] = ci ? json::array({ci->lo, ci->hi}) : json(nullptr);
      put(r, "kappa_nih_vs_expert", s.empty() ? std::nullopt : cohens_kappa(nih, truth), "no reviewed images");
      ex.push_back(r);
    }
    ex.push_back({{"expert_label", "Fracture"}, {"auroc_expert", nullptr},
                  {"reason", "not evaluable: the model has no fracture output"}});
    out["expert"] = ex;
  } else {
    out["expert"] = {{"reason", "the pack has no expert labels for this split"}};
  }
  out["not_evaluated"] = not_evaluated();
  out["temporal"] = temporal_proxy(ev);  // last: older readers see the keys they knew, in their order
  return out;
}

}  // namespace cxr::eval
