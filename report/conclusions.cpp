// The generated statements (see conclusions.h). Every sentence is built from the numbers it quotes.
#include "report/conclusions.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/strings.h"
#include "eval/evaluation.h"
#include "report/format.h"

namespace cxr::report {
namespace {

std::string auc_text(const ClassResult& c) {
  return c.name + " (" + fixed(*c.auroc) + ", 95 % CI " + interval(c.ci_delong) + ")";
}

void headline(const EvaluationResult& r, Conclusions& out) {
  std::vector<std::string> absent;
  for (const auto& c : r.classes)
    if (!c.auroc) absent.push_back(c.name);
  std::string s = "On the " + r.split + " split (" + thousands(r.n_images) + " images, " + thousands(r.n_patients) +
                  " patients) the macro AUROC is " + fixed_or(r.macro_auroc);
  if (r.macro_ci_bootstrap) s += " (95 % patient-bootstrap CI " + interval(r.macro_ci_bootstrap) + ")";
  s += ", averaged over " + std::to_string(r.macro_classes) + " of 14 classes";
  if (!absent.empty()) s += "; " + list_words(absent) + (absent.size() == 1 ? " has" : " have") + " no AUROC here";
  out.supported.push_back(s + ".");
  if (r.images_in_split) {
    out.unsupported.push_back("Statements about the whole " + r.split + " split: only " + thousands(r.n_images) +
                              " of its " + thousands(*r.images_in_split) +
                              " images were scored (--allow-partial), so every number describes that subset.");
  }
}

void ranking(const EvaluationResult& r, Conclusions& out) {
  std::vector<const ClassResult*> defined;
  for (const auto& c : r.classes)
    if (c.auroc) defined.push_back(&c);
  if (defined.size() < 2) return;
  std::stable_sort(defined.begin(), defined.end(), [](auto* a, auto* b) { return *a->auroc > *b->auroc; });
  out.supported.push_back("The highest AUROC is " + auc_text(*defined.front()) + ", the lowest " +
                          auc_text(*defined.back()) + ".");
  const size_t pairs = r.class_comparisons.size();
  if (pairs == 0) return;
  std::vector<const ClassComparison*> sig;
  for (const auto& c : r.class_comparisons)
    if (c.q_value < kFdrLevel) sig.push_back(&c);
  std::stable_sort(sig.begin(), sig.end(), [](auto* a, auto* b) { return std::fabs(a->difference) > std::fabs(b->difference); });
  if (sig.empty()) {
    out.unsupported.push_back("A ranking of the classes: none of the " + std::to_string(pairs) +
                              " paired class comparisons (DeLong on the same images) survives Benjamini-Hochberg "
                              "control at q < " + fixed(kFdrLevel, 2) + ".");
    return;
  }
  std::vector<std::string> examples;
  for (size_t i = 0; i < std::min<size_t>(3, sig.size()); ++i) {
    const auto& c = *sig[i];
    const bool a_better = c.difference > 0;
    examples.push_back((a_better ? c.a : c.b) + " is separated better than " + (a_better ? c.b : c.a) +
                       " (AUROC difference " + fixed(std::fabs(c.difference)) + ", q " + p_value(c.q_value) + ")");
  }
  out.supported.push_back(std::to_string(sig.size()) + " of " + std::to_string(pairs) +
                          " paired class comparisons (DeLong on the same images) differ after Benjamini-Hochberg "
                          "control at q < " + fixed(kFdrLevel, 2) + "; the largest: " + list_words(examples) + ".");
  if (sig.size() < pairs) {
    // The closest non-significant pair with the largest difference shows what "cannot tell apart" means here.
    const ClassComparison* widest = nullptr;
    for (const auto& c : r.class_comparisons)
      if (c.q_value >= kFdrLevel && (!widest || std::fabs(c.difference) > std::fabs(widest->difference))) widest = &c;
    out.unsupported.push_back("An order among the other " + std::to_string(pairs - sig.size()) +
                              " class pairs: they cannot be told apart at this sample size (e.g. " + widest->a +
                              " vs " + widest->b + ": difference " + signed_fixed(widest->difference) + ", q " +
                              p_value(widest->q_value) + ").");
  }
}

void precision(const EvaluationResult& r, Conclusions& out) {
  std::vector<std::string> wide, none, narrow, unlabelled;
  for (const auto& c : r.classes) {
    if (!c.auroc && c.reason.find("not evaluable") != std::string::npos) {
      unlabelled.push_back(c.name);  // the pack's source never labels it (metrics.json's reason says so)
    } else if (!c.auroc || !c.ci_delong) {
      none.push_back(c.name + " (" + std::to_string(c.n_pos) + " positive" + (c.n_pos == 1 ? "" : "s") + ")");
    } else if (c.ci_delong->width() > kWideInterval || c.n_pos < kFewPositives) {
      wide.push_back(c.name + " (" + std::to_string(c.n_pos) + " positives" +
                     (c.ci_delong->width() > kWideInterval ? ", CI width " + fixed(c.ci_delong->width(), 2) : "") + ")");
    } else if (c.ci_delong->width() <= kWideInterval / 2) {
      narrow.push_back(c.name);
    }
  }
  if (!narrow.empty())
    out.supported.push_back("The AUROCs of " + list_words(narrow) + " are measured to within +/- " +
                            fixed(kWideInterval / 4, 2) + " (95 % DeLong interval no wider than " +
                            fixed(kWideInterval / 2, 2) + ").");
  if (!wide.empty())
    out.unsupported.push_back("Claims about the AUROC of " + list_words(wide) + ": fewer than " +
                              std::to_string(kFewPositives) + " positives or a 95 % interval wider than " +
                              fixed(kWideInterval, 2) + ", too imprecise for a useful statement.");
  if (!none.empty())
    out.unsupported.push_back("Any AUROC for " + list_words(none) + ": undefined on this split.");
  if (!unlabelled.empty())
    out.unsupported.push_back("Any statement about " + list_words(unlabelled) +
                              ": not evaluable, the pack's source has no label for them.");
}

// Subgroup gaps that survive FDR control. With two groups (sex, view) each comparison appears twice, as
// mirror images (F vs rest = -(M vs rest)); only the group doing worse is quoted.
void subgroups(const EvaluationResult& r, Conclusions& out) {
  if (r.subgroups.empty()) return;
  std::map<std::string, std::set<std::string>> groups_of;
  for (const auto& s : r.subgroups) groups_of[s.attribute].insert(s.group);
  struct Found {
    double size;  // |gap|, for ordering
    std::string text;
  };
  std::vector<Found> found;
  std::map<std::string, int> per_kind;
  int64_t tested_auc = 0, tested_tpr = 0, tested_fpr = 0;
  std::vector<double> half_widths;
  // worse_if_negative: a negative gap means the group does worse (AUROC, sensitivity); else a positive one.
  auto consider = [&](const std::string& attribute, const std::string& where, const std::string& kind,
                      const std::optional<double>& gap, const std::optional<double>& q, bool worse_if_negative,
                      const std::string& text) {
    if (!gap || !q || *q >= kFdrLevel) return;
    if (groups_of[attribute].size() == 2 && (worse_if_negative ? *gap > 0 : *gap < 0)) return;  // the mirror
    ++per_kind[kind];
    found.push_back({std::fabs(*gap), where + ": " + text + " (q " + p_value(*q) + ")"});
  };
  for (const auto& s : r.subgroups) {
    const std::string where = s.attribute + " " + s.group + ", " + s.class_name;
    tested_auc += s.q_value.has_value();
    tested_tpr += s.tpr_q_value.has_value();
    tested_fpr += s.fpr_q_value.has_value();
    if (s.gap && s.auroc)
      consider(s.attribute, where, "AUROC", s.gap, s.q_value, true,
               "AUROC " + fixed(*s.auroc) + ", " + signed_fixed(*s.gap) + " against the rest");
    if (s.tpr_gap)
      consider(s.attribute, where, "sensitivity", s.tpr_gap, s.tpr_q_value, true,
               "sensitivity " + signed_fixed(*s.tpr_gap, 2) + " against the rest");
    if (s.fpr_gap)
      consider(s.attribute, where, "false-positive rate", s.fpr_gap, s.fpr_q_value, false,
               "false-positive rate " + signed_fixed(*s.fpr_gap, 2) + " against the rest");
    if (s.ci_delong) half_widths.push_back(s.ci_delong->width() / 2);
  }
  for (const auto& u : r.underdiagnosis)
    if (u.rate && u.gap)
      consider(u.attribute, u.attribute + " " + u.group, "underdiagnosis", u.gap, u.q_value, false,
               "underdiagnosis " + percent(*u.rate) + ", " + signed_fixed(100 * *u.gap, 1) + " points against the rest");
  const std::string tests = std::to_string(tested_auc) + " AUROC, " + std::to_string(tested_tpr) + " sensitivity and " +
                            std::to_string(tested_fpr) + " false-positive-rate comparisons of a group with the rest, "
                            "and underdiagnosis";
  if (found.empty()) {
    out.supported.push_back("No subgroup gap survives Benjamini-Hochberg control at q < " + fixed(kFdrLevel, 2) + " (" +
                            tests + ").");
  } else {
    std::stable_sort(found.begin(), found.end(), [](const Found& a, const Found& b) { return a.size > b.size; });
    std::vector<std::string> kinds, largest;
    for (const auto& [kind, count] : per_kind) kinds.push_back(std::to_string(count) + " in " + kind);
    for (size_t i = 0; i < std::min<size_t>(4, found.size()); ++i) largest.push_back(found[i].text);
    out.supported.push_back(std::to_string(found.size()) + " subgroup gap" + (found.size() == 1 ? "" : "s") +
                            " survive Benjamini-Hochberg control at q < " + fixed(kFdrLevel, 2) + " (" + list_words(kinds) +
                            "; of " + tests + "; with two groups only the one doing worse is counted). The largest: " +
                            list_words(largest) + ". The subgroup tables list them all.");
  }
  if (!half_widths.empty()) {
    std::nth_element(half_widths.begin(), half_widths.begin() + static_cast<std::ptrdiff_t>(half_widths.size() / 2),
                     half_widths.end());
    out.unsupported.push_back("That the model performs equally across sex, age and view: a typical subgroup AUROC is "
                              "known only to +/- " + fixed(half_widths[half_widths.size() / 2], 2) +
                              " (median 95 % half-width), so smaller gaps would go unseen; groups with fewer than 10 "
                              "positives or negatives are not tested at all.");
  }
}

void calibration(const EvaluationResult& r, Conclusions& out) {
  // Brier skill against always predicting the prevalence: > 0 means the probabilities carry information.
  std::vector<std::string> no_skill;
  double worst_gap = -1;
  std::string worst;
  double max_ece = -1, sum_ece = 0;
  std::string max_ece_class;
  for (const auto& c : r.classes) {
    sum_ece += c.ece;
    if (c.ece > max_ece) {
      max_ece = c.ece;
      max_ece_class = c.name;
    }
    const double base = c.prevalence * (1 - c.prevalence);
    if (base > 0 && 1 - c.brier / base <= 0) no_skill.push_back(c.name);
    for (const auto& b : c.reliability) {
      if (b.count < kMinCalibrationBin || !b.mean_predicted || !b.observed_rate) continue;
      const double gap = std::fabs(*b.observed_rate - *b.mean_predicted);
      if (gap > worst_gap) {
        worst_gap = gap;
        worst = c.name + ": among " + std::to_string(b.count) + " images predicted " + fixed(*b.mean_predicted, 2) +
                " on average, " + percent(*b.observed_rate) + " were positive";
      }
    }
  }
  std::string s = "Calibration: expected calibration error (15 equal-width bins) averages " +
                  fixed(sum_ece / data::kNumClasses) + " over the classes, at most " + fixed(max_ece) + " (" +
                  max_ece_class + ")";
  if (worst_gap >= 0) s += "; the largest miscalibration in a bin of at least " + std::to_string(kMinCalibrationBin) +
                           " images is " + worst;
  out.supported.push_back(s + ".");
  if (!no_skill.empty())
    out.unsupported.push_back("That the probabilities of " + list_words(no_skill) +
                              " are informative as probabilities: their Brier score is no better than always "
                              "predicting the prevalence.");
  out.unsupported.push_back("Calibration on other populations: a low ECE at this split's prevalence says nothing "
                            "about a population with more or less disease.");
}

void operating_points(const EvaluationResult& r, Conclusions& out) {
  double lo_sens = 2, hi_sens = -1, lo_spec = 2, hi_spec = -1;
  for (const auto& c : r.classes) {
    if (c.sensitivity) lo_sens = std::min(lo_sens, *c.sensitivity), hi_sens = std::max(hi_sens, *c.sensitivity);
    if (c.specificity) lo_spec = std::min(lo_spec, *c.specificity), hi_spec = std::max(hi_spec, *c.specificity);
  }
  if (r.thresholds_chosen_on.empty() || hi_sens < 0) {
    out.unsupported.push_back("Sensitivity, specificity or underdiagnosis at an operating point: no threshold split "
                              "was available to choose one on.");
    return;
  }
  out.supported.push_back("Operating points chosen on " + r.thresholds_chosen_on + " (" + r.threshold_rule +
                          ") and applied unchanged to " + r.split + " give sensitivities from " + fixed(lo_sens, 2) +
                          " to " + fixed(hi_sens, 2) + " and specificities from " + fixed(lo_spec, 2) + " to " +
                          fixed(hi_spec, 2) + ".");
}

void expert(const EvaluationResult& r, const DataContext& d, Conclusions& out) {
  if (!r.expert_reason.empty()) {
    out.unsupported.push_back("Agreement with radiologists: " + r.expert_reason + ".");
    return;
  }
  const std::string truth = d.phantom ? "the true labels (the phantom's expert_labels)" : "the radiologists' labels";
  for (const auto& e : r.expert) {
    if (!e.auroc_expert) {
      out.unsupported.push_back(e.expert_label + " against " + truth + ": " +
                                (e.reason.empty() ? std::string("undefined") : e.reason) + ".");
      continue;
    }
    const std::string score = e.model_score.empty() || e.model_score == e.expert_label ? "" : " (" + e.model_score + ")";
    std::string s = e.expert_label + score + " against " + truth + ": AUROC " +
                    fixed(*e.auroc_expert) + " " + interval(e.ci_delong) + " on " + thousands(e.n_reviewed) +
                    " reviewed images";
    if (e.auroc_nih_labels) {
      const double diff = *e.auroc_expert - *e.auroc_nih_labels;
      s += ", against the text-mined labels " + fixed(*e.auroc_nih_labels) + " on the same images: the text-mined "
           "labels " + (diff > 0 ? "understate" : diff < 0 ? "overstate" : "match") + " it" +
           (diff != 0 ? " by " + fixed(std::fabs(diff)) : "");
    }
    if (e.kappa) s += " (Cohen's kappa between the label sets " + fixed(*e.kappa, 2) + ")";
    out.supported.push_back(s + ".");
  }
  if (d.phantom && d.label_noise > 0)
    out.supported.push_back("The training, validation and test labels were made noisy on purpose (synth --label-noise " +
                            fixed(d.label_noise, 2) + "): the AUROCs in the per-class table are measured against "
                            "noisy labels, those above against the truth.");
}

void comparison(const EvaluationResult& r, Conclusions& out) {
  if (r.compared_with.empty()) return;
  std::vector<std::string> differ;
  for (const auto& c : r.comparison)
    if (c.q_value && *c.q_value < kFdrLevel)
      differ.push_back(c.class_name + " (" + signed_fixed(*c.difference) + ", q " + p_value(*c.q_value) + ")");
  if (differ.empty())
    out.unsupported.push_back("That this model and " + r.compared_with + " differ: no class's paired DeLong test "
                              "survives Benjamini-Hochberg control at q < " + fixed(kFdrLevel, 2) + ".");
  else
    out.supported.push_back("Against " + r.compared_with + " (paired DeLong, same images), " + list_words(differ) +
                            " differ after Benjamini-Hochberg control.");
}

}  // namespace

Conclusions conclusions(const EvaluationResult& r, const DataContext& d) {
  Conclusions out;
  headline(r, out);
  ranking(r, out);
  precision(r, out);
  subgroups(r, out);
  calibration(r, out);
  operating_points(r, out);
  expert(r, d, out);
  comparison(r, out);
  if (d.phantom) {
    out.unsupported.push_back("Anything about chest radiographs: the films are synthetic phantoms (cxrtrain synth); "
                              "these results test the method and the code.");
    out.unsupported.push_back("A comparison with the published NIH numbers shown beside these: different data.");
  } else {
    out.unsupported.push_back("That this model is better or worse than a published one: the published numbers come "
                              "from other splits, initialisations and label versions, and no test compares them.");
  }
  out.unsupported.push_back("Seed-to-seed variation: this is one training run; its intervals cover the test sample, "
                            "not the training randomness.");
  out.not_evaluated = r.not_evaluated;
  out.cannot_conclude = eval::cannot_conclude();
  return out;
}

}  // namespace cxr::report
