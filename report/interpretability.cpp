// The interpretability section (see interpretability.h). Every sentence is built from the numbers it quotes.
#include "report/interpretability.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/strings.h"
#include "report/base64.h"
#include "report/format.h"

namespace cxr::report {
namespace {

using json = nlohmann::ordered_json;

std::string share_text(const ShareEstimate& s) {
  return s.mean ? fixed(*s.mean) + (s.ci95 ? " " + interval(s.ci95) : std::string()) : std::string("n/a");
}

// The region with the largest mean share (first in the file's order on ties); -1 when no share is defined.
int top_region(const ClassCam& c) {
  int best = -1;
  for (size_t r = 0; r < c.region_share.size(); ++r)
    if (c.region_share[r].mean && (best < 0 || *c.region_share[r].mean > *c.region_share[static_cast<size_t>(best)].mean))
      best = static_cast<int>(r);
  return best;
}

std::string markers_text(const GradcamResult& g) {
  std::vector<std::string> parts;
  for (const auto& m : g.markers) parts.push_back(m.class_name + " (" + m.place + ")");
  return list_words(parts);
}

std::string change_text(const MarkerTest& m) { return signed_fixed(m.delta_p_mean) + " " + interval(m.delta_p_ci95); }

bool includes_zero(const Interval& ci) { return ci.lo <= 0 && ci.hi >= 0; }
bool includes_zero_interval(const MarkerTest& m) { return includes_zero(m.delta_p_ci95); }

// The rule of marker_effect for a mean change and its interval.
MarkerEffect effect_of(double mean, const Interval& ci) {
  if (includes_zero(ci) || std::fabs(mean) < kNegligibleProbabilityChange) return MarkerEffect::kUnaffected;
  return mean > 0 ? MarkerEffect::kRaises : MarkerEffect::kLowers;
}

// Why a change counts as none: its interval includes 0, or it is too small to matter.
std::string unaffected_reason(const MarkerTest& m) {
  if (includes_zero_interval(m)) return "its 95 % CI includes 0";
  return "smaller than " + fixed(kNegligibleProbabilityChange, 2);
}

std::string auroc_clause(const MarkerTest& m, const std::string& marker) {
  if (!m.auroc_with_marker || !m.auroc_without_marker) return "";
  const std::string with = fixed(*m.auroc_with_marker), without = fixed(*m.auroc_without_marker);
  if (with == without) return "; its AUROC stays at " + with + " with " + marker + " on every film and without it";
  return std::string("; its AUROC ") + (*m.auroc_with_marker < *m.auroc_without_marker ? "falls" : "rises") + " from " +
         without + " without " + marker + " to " + with + " with it on every film";
}

void causal(const GradcamResult& g, CamStatements& out) {
  if (!g.causal_test) return;
  const std::string marker = g.markers.size() == 1 ? "the marker" : "the markers";
  std::vector<std::string> includes_zero, negligible;  // the unaffected other classes, by reason
  // Marker classes first, then any other class the marker moves, then the rest in one sentence.
  std::vector<const ClassCam*> order;
  for (const auto& c : g.classes)
    if (g.is_marker_class(c.name)) order.push_back(&c);
  for (const auto& c : g.classes)
    if (!g.is_marker_class(c.name)) order.push_back(&c);
  for (const ClassCam* c : order) {
    const MarkerTest& m = *c->marker_test;
    const MarkerEffect e = marker_effect(*c);
    const bool own = g.is_marker_class(c->name);
    if (e == MarkerEffect::kUnaffected) {
      if (own)
        out.causal.push_back(c->name + ": adding its marker changes its probability by " + change_text(m) +
                             " on average, " + unaffected_reason(m) + ": unaffected" + auroc_clause(m, marker) +
                             ". The model does not use the marker on these films.");
      else
        (includes_zero_interval(m) ? includes_zero : negligible).push_back(c->name + " " + change_text(m));
      continue;
    }
    // The change as a magnitude with its interval: "lowers by 0.050 [0.030, 0.070]".
    const bool raises = e == MarkerEffect::kRaises;
    const Interval size = raises ? m.delta_p_ci95 : Interval{-m.delta_p_ci95.hi, -m.delta_p_ci95.lo};
    std::string s = c->name + ": adding " + (own ? marker : marker + " planted for " + markers_text(g)) + " " +
                    (raises ? "raises" : "lowers") + " its probability by " + fixed(std::fabs(m.delta_p_mean)) + " " +
                    interval(size) + " on average" + auroc_clause(m, marker) + ".";
    s += own ? " The model uses the marker." : " This class's output responds to the marker too.";
    out.causal.push_back(s);
  }
  std::vector<std::string> parts;
  if (!includes_zero.empty()) parts.push_back("the interval includes 0 for " + join(includes_zero, ", "));
  if (!negligible.empty())
    parts.push_back("the change is smaller than " + fixed(kNegligibleProbabilityChange, 2) + " for " + join(negligible, ", "));
  if (!parts.empty())
    out.causal.push_back("Unaffected by " + marker + " (mean change of the probability, 95 % CI): " + join(parts, "; ") + ".");
}

// --- What the predictions use: the lesion-removal and natural-marker tests --------------------------------

std::string change_text(const RemovalTest& t) { return signed_fixed(*t.delta_p_mean) + " " + interval(t.delta_p_ci95); }
std::string films_text(const RemovalTest& t) { return " (n = " + thousands(t.n) + ")"; }

// The change as a magnitude with its interval, for "lowers ... by" / "raises ... by".
std::string magnitude_text(const RemovalTest& t) {
  const Interval& ci = *t.delta_p_ci95;
  const Interval size = *t.delta_p_mean >= 0 ? ci : Interval{-ci.hi, -ci.lo};
  return fixed(std::fabs(*t.delta_p_mean)) + " " + interval(size);
}

// Which tested marker moves a flagged class's probability, with the numbers; "no tested marker explains the
// flag" when none does.
std::string markers_clause(const GradcamResult& g, const ClassCam& c) {
  const std::string planted = g.markers.size() == 1 ? "the planted marker" : "the planted markers";
  std::vector<std::string> moving, still;
  if (c.marker_test) {
    const std::string what = planted + " " + change_text(*c.marker_test);
    (marker_effect(c) == MarkerEffect::kUnaffected ? still : moving).push_back(what);
  }
  if (natural_marker_effect(c) != MarkerEffect::kNotTested) {
    const std::string what = "the AP tags and electrodes " + change_text(*c.natural_markers);
    (natural_marker_effect(c) == MarkerEffect::kUnaffected ? still : moving).push_back(what);
  }
  if (!moving.empty()) return "; its probability moves with " + list_words(moving);
  if (still.empty()) return "";
  return "; no tested marker explains the flag (" + list_words(still) + ")";
}

// Whether the class's prediction leans on the findings that co-occur with it: its probability falls when every
// other lesion is removed from films that have the class and another ("" when not tested or negligible).
std::string others_clause(const ClassCam& c) {
  if (!c.other_lesions_removed || !c.other_lesions_removed->delta_p_mean) return "";
  const RemovalTest& t = *c.other_lesions_removed;
  if (!(t.delta_p_ci95->lo > kNegligibleProbabilityChange)) return "";
  return "; removing the other findings from its films lowers it by " + magnitude_text(t) + films_text(t) +
         ": it leans on the findings that co-occur with it";
}

// What the tests say about a class Grad-CAM flags as a possible shortcut.
std::string flag_clause(const GradcamResult& g, const ClassCam& c, LesionUse u) {
  const std::string markers = markers_clause(g, c) + others_clause(c);
  switch (u) {
    case LesionUse::kDoesNotUse:
      return " Grad-CAM flags it as a possible shortcut, and the flag is consistent with a prediction that does not "
             "rest on the lesion" + markers + ".";
    case LesionUse::kUses:
      return " Grad-CAM's flag is not borne out: the prediction does use the lesion (its map's off-target mass may be "
             "the coarse map's spill-over)" + markers + ".";
    default:
      return " Grad-CAM flags it as a possible shortcut" + markers + ".";
  }
}

void lesion_statements(const GradcamResult& g, CamStatements& out) {
  const std::string negligible = fixed(kNegligibleProbabilityChange, 2);
  std::vector<std::string> flagged, other, plain, no_films;
  std::string plain_one;  // the sentence when a single class plainly uses its lesion
  for (const auto& c : g.classes) {
    const LesionUse u = lesion_use(c);
    if (u == LesionUse::kNotTested) continue;
    if (u == LesionUse::kNoFilms) {
      no_films.push_back(c.name);
      continue;
    }
    const RemovalTest& t = *c.lesion_removed;
    std::string s;
    switch (u) {
      case LesionUse::kUses:
        s = "Removing the lesion lowers " + c.name + "'s probability by " + magnitude_text(t) + films_text(t) +
            ": the prediction uses the lesion.";
        if (!c.shortcut_flag) {
          plain.push_back(c.name + " by " + magnitude_text(t) + films_text(t));
          plain_one = s;
          continue;
        }
        break;
      case LesionUse::kUsesLittle:
        s = "Removing the lesion lowers " + c.name + "'s probability by " + magnitude_text(t) + films_text(t) +
            ": the prediction uses the lesion, perhaps little (the interval reaches below " + negligible + ").";
        break;
      case LesionUse::kDoesNotUse:
        s = c.name + ": removing the lesion changes its probability by " + change_text(t) + films_text(t) +
            ": the prediction does not rest on the lesion.";
        break;
      case LesionUse::kAgainst:
        s = "Removing the lesion raises " + c.name + "'s probability by " + magnitude_text(t) + films_text(t) +
            ": the lesion counts against the class in this model.";
        break;
      default:
        break;
    }
    if (c.shortcut_flag) s += flag_clause(g, c, u);
    (c.shortcut_flag ? flagged : other).push_back(s);
  }
  out.use.insert(out.use.end(), flagged.begin(), flagged.end());
  out.use.insert(out.use.end(), other.begin(), other.end());
  if (plain.size() == 1) out.use.push_back(plain_one);
  if (plain.size() > 1)
    out.use.push_back("Removing the lesion lowers the probability of " + list_words(plain) +
                      " (mean change, 95 % CI, films): these predictions use the lesion.");
  if (!no_films.empty())
    out.use.push_back("No film of the split truly has " + list_words(no_films) + ": the lesion test had nothing to "
                      "remove (n = 0).");
}

void natural_statements(const GradcamResult& g, CamStatements& out) {
  const std::string negligible = fixed(kNegligibleProbabilityChange, 2);
  if (g.natural_n_images == 0) {
    out.use.push_back("No AP film of the split carries a text tag or ECG electrodes (n = 0): the natural-marker test "
                      "had nothing to remove.");
    return;
  }
  std::vector<std::string> moved;
  bool all_small = true;
  for (const auto& c : g.classes) {
    const MarkerEffect e = natural_marker_effect(c);
    if (e == MarkerEffect::kNotTested) continue;
    if (std::fabs(*c.natural_markers->delta_p_mean) >= kNegligibleProbabilityChange) all_small = false;
    if (e != MarkerEffect::kUnaffected) moved.push_back(c.name + " " + change_text(*c.natural_markers));
  }
  const std::string films = thousands(g.natural_n_images) + " AP films";
  if (moved.empty()) {
    out.use.push_back("No class's probability depends on the AP tags and electrodes (" +
                      (all_small ? "all |change| < " + negligible
                                 : "every change is below " + negligible + " or its 95 % CI includes 0") +
                      "; " + films + ").");
    return;
  }
  out.use.push_back("Moved by the AP tags and electrodes (probability with minus without them, 95 % CI; " + films +
                    "): " + join(moved, ", ") + ". These predictions use the view's marks, a shortcut the films "
                    "carry naturally; the other classes' changes are below " + negligible + " or their 95 % CI "
                    "includes 0.");
}

void what_predictions_use(const GradcamResult& g, CamStatements& out) {
  if (!g.natural_test) return;
  lesion_statements(g, out);
  natural_statements(g, out);
}

void findings(const GradcamResult& g, CamStatements& out) {
  std::vector<std::string> flagged;
  for (const auto& c : g.classes) {
    if (!c.shortcut_flag) continue;
    const int top = top_region(c);
    flagged.push_back(c.name + " puts " + share_text(c.off_target) + " of its maps' mass outside where its disease can be" +
                      (top >= 0 ? ", the largest share in " + g.region_names[static_cast<size_t>(top)] + " (" +
                                      fixed(*c.region_share[static_cast<size_t>(top)].mean) + ")"
                                : std::string()));
  }
  if (flagged.empty())
    out.findings.push_back("No class is flagged as a possible shortcut" +
                           (g.shortcut_rule.empty() ? std::string(".") : " (rule: " + g.shortcut_rule + ")."));
  else
    out.findings.push_back("Flagged as a possible shortcut: " + join(flagged, "; ") +
                           (g.shortcut_rule.empty() ? std::string(".") : " (rule: " + g.shortcut_rule + ")."));

  std::vector<std::string> fail, fail_rho, pass, undecided;
  std::vector<double> pass_rho;
  for (const auto& c : g.classes) {
    const auto rho = c.sanity_rho(g.layer);
    if (c.sanity_verdict == "FAIL") {
      fail.push_back(c.name);
      fail_rho.push_back(c.name + " " + (rho ? fixed(*rho, 2) : std::string("n/a")) + " (threshold " +
                         fixed(c.sanity_threshold, 2) + ")");
    } else if (c.sanity_verdict == "PASS") {
      pass.push_back(c.name);
      if (rho) pass_rho.push_back(*rho);
    } else {
      undecided.push_back(c.name);
    }
  }
  const std::string rho_what = "Spearman rho between the maps before and after randomising the weights down to " + g.layer;
  if (!fail.empty())
    out.findings.push_back("The maps of " + list_words(fail) + " fail the randomisation check (" + rho_what + ": " +
                           join(fail_rho, ", ") + "): they change little when the learned weights are destroyed, so "
                           "they show the image more than the model.");
  if (!pass.empty()) {
    std::string range;
    if (!pass_rho.empty()) {
      const auto [lo, hi] = std::minmax_element(pass_rho.begin(), pass_rho.end());
      range = fixed(*lo, 2) == fixed(*hi, 2) ? " (" + rho_what + ": " + fixed(*lo, 2) + ")"
                                             : " (" + rho_what + ": " + fixed(*lo, 2) + " to " + fixed(*hi, 2) + ")";
    }
    out.findings.push_back(std::to_string(pass.size()) + " of 14 classes pass the randomisation check: their maps change "
                           "when the learned weights are destroyed" + range + ".");
  }
  if (!undecided.empty()) out.findings.push_back("The randomisation check was not decided for " + list_words(undecided) + ".");

  std::vector<std::string> better, not_better;
  for (const auto& c : g.classes) {
    if (!c.deletion_auc || !c.random_deletion_auc) continue;
    if (*c.deletion_auc < *c.random_deletion_auc) better.push_back(c.name);
    else not_better.push_back(c.name + " " + fixed(*c.deletion_auc) + " vs " + fixed(*c.random_deletion_auc));
  }
  if (!not_better.empty())
    out.findings.push_back("Deleting the pixels the maps rank highest lowers the probability no faster than deleting "
                           "random pixels for " + list_words(not_better) + " (deletion AUC vs random): these maps do "
                           "not find what the prediction uses.");
  if (!better.empty())
    out.findings.push_back("Deleting the pixels the maps rank highest lowers the probability faster than random deletion "
                           "(a lower deletion AUC) for " + std::to_string(better.size()) + " class" + (better.size() == 1 ? "" : "es") +
                           ": " + list_words(better) + ".");
}

void limitations(const GradcamResult& g, CamStatements& out) {
  if (!g.regions_limitation.empty()) out.limitations.push_back("Regions (" + g.regions_kind + "): " + g.regions_limitation);
  const double cell = static_cast<double>(g.image_size) / static_cast<double>(std::min(g.feature_map[0], g.feature_map[1]));
  out.limitations.push_back("Grad-CAM on " + g.layer + " has a " + std::to_string(g.feature_map[0]) + " x " +
                            std::to_string(g.feature_map[1]) + " feature map for " + std::to_string(g.image_size) +
                            " px images: a map cell spans about " + fixed(cell, 0) + " px, so region shares, peaks and "
                            "boxes are that coarse.");
  std::set<std::string> thresholds;
  int64_t n_sanity = 0;
  for (const auto& c : g.classes) {
    thresholds.insert(fixed(c.sanity_threshold, 2));
    n_sanity = std::max(n_sanity, c.sanity_n);
  }
  out.limitations.push_back("The randomisation check (Adebayo et al. 2018) passes a class when the Spearman rank correlation "
                            "of its maps before and after randomising the weights down to " + g.layer + " is below " +
                            join(std::vector<std::string>(thresholds.begin(), thresholds.end()), " / ") +
                            ": a convention, not a test, on at most " + std::to_string(n_sanity) + " images per class.");
  out.limitations.push_back("Maps of at most " + thousands(g.per_class) + " images per class" +
                            (g.selection_rule.empty() ? std::string(".") : ": " + g.selection_rule + "."));
  std::vector<std::string> no_truth;
  for (const auto& c : g.classes)
    if (!c.pointing_hit_rate) no_truth.push_back(c.name);
  if (!no_truth.empty())
    out.limitations.push_back("The pointing game and IoBB need the lesion's position; " + list_words(no_truth) +
                              (no_truth.size() == 1 ? " has" : " have") + " none here (n/a).");
}

std::string sanity_cell(const ClassCam& c, const std::string& layer) {
  if (c.sanity_verdict == "n/a") return "n/a";
  const auto rho = c.sanity_rho(layer);
  return c.sanity_verdict + (rho ? " (rho " + fixed(*rho, 2) + ")" : std::string());
}

std::string effect_word(MarkerEffect e, bool own) {
  switch (e) {
    case MarkerEffect::kRaises: return own ? "raised: uses the marker" : "raised";
    case MarkerEffect::kLowers: return own ? "lowered: uses the marker" : "lowered";
    case MarkerEffect::kUnaffected: return "unaffected";
    case MarkerEffect::kNotTested: break;
  }
  return "not tested";
}

std::string lesion_word(LesionUse u) {
  switch (u) {
    case LesionUse::kUses: return "uses the lesion";
    case LesionUse::kUsesLittle: return "uses it, perhaps little";
    case LesionUse::kDoesNotUse: return "does not rest on the lesion";
    case LesionUse::kAgainst: return "the lesion lowers it";
    case LesionUse::kNoFilms: return "no films";
    case LesionUse::kNotTested: break;
  }
  return "not run";
}

// One row of "what the predictions use": the three causal tests of a class, each as with minus without.
json use_row(const ClassCam& c) {
  const LesionUse u = lesion_use(c);
  const bool lesion = u != LesionUse::kNotTested && u != LesionUse::kNoFilms;
  return {{"name", c.name},
          {"flagged", c.shortcut_flag},
          {"lesion", lesion ? change_text(*c.lesion_removed) : std::string("n/a")},
          {"lesion_n", c.lesion_removed ? thousands(c.lesion_removed->n) : std::string("")},
          {"lesion_use", lesion_word(u)},
          {"natural", natural_marker_effect(c) != MarkerEffect::kNotTested ? change_text(*c.natural_markers)
                                                                         : std::string("n/a")},
          {"others", c.other_lesions_removed && c.other_lesions_removed->delta_p_mean
                         ? change_text(*c.other_lesions_removed) : std::string("n/a")},
          {"planted", c.marker_test ? change_text(*c.marker_test) : std::string("not tested")}};
}

json texts(const std::vector<std::string>& v) {
  json out = json::array();
  for (const auto& s : v) out.push_back({{"text", s}});
  return out;
}

}  // namespace

MarkerEffect marker_effect(const ClassCam& c) {
  if (!c.marker_test) return MarkerEffect::kNotTested;
  return effect_of(c.marker_test->delta_p_mean, c.marker_test->delta_p_ci95);
}

MarkerEffect natural_marker_effect(const ClassCam& c) {
  if (!c.natural_markers || !c.natural_markers->delta_p_mean || !c.natural_markers->delta_p_ci95)
    return MarkerEffect::kNotTested;
  return effect_of(*c.natural_markers->delta_p_mean, *c.natural_markers->delta_p_ci95);
}

LesionUse lesion_use(const ClassCam& c) {
  if (!c.lesion_removed) return LesionUse::kNotTested;
  const RemovalTest& t = *c.lesion_removed;
  if (!t.delta_p_mean || !t.delta_p_ci95) return LesionUse::kNoFilms;
  const double mean = *t.delta_p_mean;
  const Interval& ci = *t.delta_p_ci95;
  if (includes_zero(ci) || std::fabs(mean) < kNegligibleProbabilityChange) return LesionUse::kDoesNotUse;
  if (mean < 0) return LesionUse::kAgainst;
  return ci.lo > kNegligibleProbabilityChange ? LesionUse::kUses : LesionUse::kUsesLittle;
}

CamStatements cam_statements(const GradcamResult& g) {
  CamStatements out;
  causal(g, out);
  what_predictions_use(g, out);
  findings(g, out);
  limitations(g, out);
  return out;
}

std::string overlay_report_path(const ClassCam& c) { return "gradcam/" + c.name + ".png"; }

json interpretability_view(const GradcamResult* g, const CamStatements* st, const std::string& svg,
                           const std::string& report_split, const std::string& run_dir) {
  if (!g) return {{"gradcam", nullptr}, {"gradcam_not_run", {{"run", run_dir.empty() ? json(nullptr) : json(run_dir)}}}};
  json rows = json::array(), causal_rows = json::array(), use_rows = json::array(), overlays = json::array();
  for (const auto& c : g->classes) {
    if (g->natural_test) use_rows.push_back(use_row(c));
    const int top = top_region(c);
    rows.push_back(
        {{"name", c.name},
         {"n_images", thousands(c.n_images)},
         {"top_region", top >= 0 ? g->region_names[static_cast<size_t>(top)] : std::string("n/a")},
         {"top_share", top >= 0 ? fixed(*c.region_share[static_cast<size_t>(top)].mean) : std::string("")},
         {"off_target", share_text(c.off_target)},
         {"flagged", c.shortcut_flag},
         {"pointing", c.pointing_hit_rate ? fixed(*c.pointing_hit_rate) + " " + interval(c.pointing_ci95, "") : "n/a"},
         {"pointing_n", thousands(c.pointing_n)},
         {"iobb", fixed_or(c.iobb_hit_rate)},
         {"sanity", sanity_cell(c, g->layer)},
         {"sanity_fail", c.sanity_verdict == "FAIL"},
         {"deletion", c.deletion_auc && c.random_deletion_auc
                          ? fixed(*c.deletion_auc) + " vs " + fixed(*c.random_deletion_auc) + " (n " + thousands(c.deletion_n) + ")"
                          : std::string("not run")}});
    if (c.marker_test) {
      const MarkerTest& m = *c.marker_test;
      const bool own = g->is_marker_class(c.name);
      causal_rows.push_back({{"name", c.name},
                             {"marker", own},
                             {"delta", signed_fixed(m.delta_p_mean)},
                             {"ci", interval(m.delta_p_ci95)},
                             {"auroc_without", fixed_or(m.auroc_without_marker)},
                             {"auroc_with", fixed_or(m.auroc_with_marker)},
                             {"n", thousands(m.n)},
                             {"effect", effect_word(marker_effect(c), own)}});
    }
    if (g->overlay_shown(c)) {
      std::vector<std::string> why;
      if (c.shortcut_flag) why.push_back("flagged as a possible shortcut");
      if (g->is_marker_class(c.name)) why.push_back("a marker was planted for it");
      json o = {{"name", c.name}, {"why", join(why, "; ")}};
      if (c.overlay_png.empty()) {
        o["missing"] = true;
      } else {
        o["data_uri"] = png_data_uri(c.overlay_png);
        o["file"] = overlay_report_path(c);
      }
      overlays.push_back(o);
    }
  }
  std::vector<std::string> markers;
  for (const auto& m : g->markers) markers.push_back(m.class_name + " (" + m.place + ", bit " + std::to_string(m.bit) + ")");
  json view = {
      {"run_dir", g->run_dir},
      {"checkpoint", g->checkpoint},
      {"split", g->split},
      {"source", g->source},
      {"layer", g->layer},
      {"feature_map", std::to_string(g->feature_map[0]) + " x " + std::to_string(g->feature_map[1])},
      {"image_size", std::to_string(g->image_size)},
      {"method", g->method},
      {"regions_kind", g->regions_kind},
      {"seconds", g->seconds_total ? fixed(*g->seconds_total, 1) : std::string("n/a")},
      {"split_note", g->split == report_split ? json(nullptr)
                                              : json({{"text", "The Grad-CAM statistics are for the " + g->split +
                                                                   " split; the rest of this report is for " + report_split + "."}})},
      {"reminder", kCamReminder},
      {"causal", g->causal_test ? json({{"markers", list_words(markers)},
                                        {"n_images", thousands(g->causal_n_images)},
                                        {"films", g->causal_films},
                                        {"rows", causal_rows},
                                        {"statements", texts(st->causal)}})
                                : json(nullptr)},
      {"use", g->natural_test ? json({{"lesion_films", g->lesion_films},
                                      {"natural_n_images", thousands(g->natural_n_images)},
                                      {"natural_films", g->natural_films},
                                      {"rows", use_rows},
                                      {"statements", texts(st->use)}})
                              : json(nullptr)},
      {"rows", rows},
      {"svg", svg},
      {"overlays", overlays},
      {"findings", texts(st->findings)},
      {"limitations", texts(st->limitations)},
  };
  return {{"gradcam", view}, {"gradcam_not_run", nullptr}};
}

}  // namespace cxr::report
