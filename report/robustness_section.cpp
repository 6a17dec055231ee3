// Reading robustness.json, the section's tables and statements, and the not-evaluated item (see
// robustness_section.h). Every sentence is built from the numbers it quotes.
#include "report/robustness_section.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "core/fs.h"
#include "core/strings.h"
#include "data/classes.h"
#include "report/format.h"
#include "report/json_input.h"

namespace cxr::report {
namespace {

using json = nlohmann::ordered_json;

constexpr const char* kWriter = "cxrtrain probe-shift --run RUN";

int64_t count(const JsonInput& in, const std::string& p, int64_t min) {
  const int64_t v = in.integer(p);
  if (v < min) in.fail(p, "is " + std::to_string(v) + ", expected at least " + std::to_string(min));
  return v;
}

// A per-class array: 14 objects whose "class" follows cxrtrain's class order.
void check_class_array(const JsonInput& in, const std::string& p) {
  const size_t n = in.array_size(p);
  if (n != static_cast<size_t>(data::kNumClasses))
    in.fail(p, "has " + std::to_string(n) + " entries, expected one per class (14)");
  for (int k = 0; k < data::kNumClasses; ++k) {
    const std::string q = p + "/" + std::to_string(k) + "/class";
    const std::string name = in.string(q);
    if (name != data::kClassNames[k])
      in.fail(q, "is '" + name + "', expected '" + data::kClassNames[k] + "' (the classes in label-column order)");
  }
}

std::string in_class_order(const std::set<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& n : data::class_names())
    if (names.count(n)) out.push_back(n);
  return join(out, ", ");
}

RobustnessSplit read_split(const JsonInput& in, const std::string& name) {
  const std::string p = "/splits/" + pointer_key(name);
  RobustnessSplit s;
  s.name = name;
  s.images = count(in, p + "/images", 1);
  check_class_array(in, p + "/baseline");
  for (int k = 0; k < data::kNumClasses; ++k) {
    const std::string q = p + "/baseline/" + std::to_string(k);
    RobustnessBaseline b;
    b.auroc = in.number_in_or_null(q + "/auroc", 0, 1);
    b.lo = in.number_in_or_null(q + "/lo", 0, 1);
    b.hi = in.number_in_or_null(q + "/hi", 0, 1);
    if (b.lo && b.hi && *b.lo > *b.hi) in.fail(q + "/lo", "is above hi");
    b.positives = count(in, q + "/positives", 0);
    b.negatives = count(in, q + "/negatives", 0);
    if (b.positives + b.negatives > s.images) in.fail(q + "/positives", "and negatives exceed the split's images");
    s.baseline.push_back(b);
  }
  return s;
}

RobustnessCondition read_condition(const JsonInput& in, size_t i, const std::set<std::string>& splits) {
  const std::string p = "/conditions/" + std::to_string(i);
  RobustnessCondition c;
  c.family = in.string(p + "/family");
  static const std::set<std::string> families = {"shift", "scanner", "shortcut", "adversarial"};
  if (!families.count(c.family))
    in.fail(p + "/family", "is '" + c.family + "', expected shift, scanner, shortcut or adversarial");
  c.name = in.string(p + "/name");
  if (c.name.empty()) in.fail(p + "/name", "is empty");
  if (c.family == "adversarial" && c.name != "fgsm" && c.name != "pgd")
    in.fail(p + "/name", "is '" + c.name + "', expected fgsm or pgd for an adversarial condition");
  c.severity = in.integer(p + "/severity");
  if (c.severity < 0 || c.severity > 3) in.fail(p + "/severity", "is " + std::to_string(c.severity) + ", outside [0, 3]");
  c.parameter = in.number_or_null(p + "/parameter");
  if (c.family == "adversarial" && (!c.parameter || *c.parameter < 0))
    in.fail(p + "/parameter", "is not an epsilon >= 0 (grey levels)");
  c.unit = in.at(p + "/unit").is_null() ? std::string() : in.string(p + "/unit");  // required, may be null
  c.split = in.string(p + "/split");
  if (!splits.count(c.split)) in.fail(p + "/split", "is '" + c.split + "', which /splits does not have");
  c.description = in.string(p + "/description");
  check_class_array(in, p + "/per_class");
  for (int k = 0; k < data::kNumClasses; ++k) {
    const std::string q = p + "/per_class/" + std::to_string(k);
    RobustnessCell x;
    x.auroc = in.number_in_or_null(q + "/auroc", 0, 1);
    x.lo = in.number_in_or_null(q + "/lo", 0, 1);
    x.hi = in.number_in_or_null(q + "/hi", 0, 1);
    if (x.lo && x.hi && *x.lo > *x.hi) in.fail(q + "/lo", "is above hi");
    x.difference = in.number_in_or_null(q + "/difference", -1, 1);
    x.p_value = in.number_in_or_null(q + "/p_value", 0, 1);
    x.q_value = in.number_in_or_null(q + "/q_value", 0, 1);
    const json& sig = in.at(q + "/significant");
    if (!sig.is_boolean() && !sig.is_null()) in.fail(q + "/significant", "is not a boolean or null");
    x.significant = sig.is_boolean() && sig.get<bool>();
    if (x.significant && (!x.difference || !x.q_value))
      in.fail(q + "/significant", "is true without a difference and a q_value");
    c.per_class.push_back(x);
  }
  c.macro_auroc = in.number_in_or_null(p + "/macro_auroc", 0, 1);
  c.macro_difference = in.number_in_or_null(p + "/macro_difference", -1, 1);
  std::set<std::string> listed, expected;
  for (size_t k = 0; k < in.array_size(p + "/significant_drops"); ++k) {
    const std::string q = p + "/significant_drops/" + std::to_string(k);
    const std::string name = in.string(q);
    if (!data::class_index(name)) in.fail(q, "is '" + name + "', not one of the 14 class names");
    c.significant_drops.push_back(name);
    listed.insert(name);
  }
  for (int k = 0; k < data::kNumClasses; ++k)
    if (c.per_class[static_cast<size_t>(k)].drop()) expected.insert(data::kClassNames[k]);
  if (listed != expected)
    in.fail(p + "/significant_drops",
            "lists [" + in_class_order(listed) + "], but per_class has significant negative differences for [" +
                in_class_order(expected) + "]");
  return c;
}

}  // namespace

std::optional<double> RobustnessSplit::macro_auroc() const {
  double sum = 0;
  int n = 0;
  for (const auto& b : baseline)
    if (b.auroc) sum += *b.auroc, ++n;
  if (n == 0) return std::nullopt;
  return sum / n;
}

std::string RobustnessCondition::label() const {
  if (severity > 0) return name + " " + std::to_string(severity);
  // An explicit parameter (`--shift NAME=PARAM`) has no severity: the label carries the parameter as given.
  if ((family == "shift" || family == "scanner") && parameter) return name + "=" + general(*parameter);
  return name;
}

std::string RobustnessCondition::parameter_text() const {
  if (!parameter || (*parameter == 0 && unit.empty())) return "";
  return general(*parameter) + (unit.empty() ? std::string() : " " + unit);
}

const RobustnessSplit& RobustnessResult::split(const std::string& name) const {
  for (const auto& s : splits)
    if (s.name == name) return s;
  throw std::logic_error("robustness.json: split '" + name + "' was not checked");
}

bool RobustnessResult::has_family(const std::string& family) const {
  return std::any_of(conditions.begin(), conditions.end(), [&](const auto& c) { return c.family == family; });
}

std::string RobustnessResult::label(const RobustnessCondition& c) const {
  return c.split != main_split ? c.label() + " (" + c.split + ")" : c.label();
}

RobustnessResult read_robustness(const std::string& path) {
  const JsonInput in = JsonInput::read(path, kWriter);
  RobustnessResult r;
  r.path = path;
  r.text = read_text_file(path);
  const std::string schema = in.string("/schema");
  if (schema != kRobustnessSchema) in.fail("/schema", "is '" + schema + "', expected '" + kRobustnessSchema + "'");
  r.run_dir = in.string("/model/run_dir");
  r.checkpoint = in.string("/model/checkpoint");
  r.step = count(in, "/model/step", 0);
  r.pack = in.string("/model/pack");
  r.ranks = count(in, "/model/ranks", 1);
  if (in.array_size("/classes") != static_cast<size_t>(data::kNumClasses))
    in.fail("/classes", "has " + std::to_string(in.array_size("/classes")) + " names, expected 14");
  for (int k = 0; k < data::kNumClasses; ++k) {
    const std::string q = "/classes/" + std::to_string(k);
    if (in.string(q) != data::kClassNames[k])
      in.fail(q, "is '" + in.string(q) + "', expected '" + data::kClassNames[k] + "' (label-column order)");
  }
  r.alpha = in.number_in("/alpha", 0, 1);
  if (r.alpha <= 0 || r.alpha >= 1) in.fail("/alpha", "is " + general(r.alpha) + ", expected a level in (0, 1)");
  r.multiple_testing = in.string("/multiple_testing");
  std::set<std::string> split_names;
  for (const auto& name : in.keys("/splits")) {
    r.splits.push_back(read_split(in, name));
    split_names.insert(name);
  }
  if (r.splits.empty()) in.fail("/splits", "is empty");
  const size_t n = in.array_size("/conditions");
  for (size_t i = 0; i < n; ++i) r.conditions.push_back(read_condition(in, i, split_names));
  r.main_split = r.splits.front().name;
  for (const auto& c : r.conditions)
    if (c.family != "shortcut") {
      r.main_split = c.split;
      break;
    }
  if (in.has("/adversarial") && !in.at("/adversarial").is_null()) {
    AdversarialSettings a;
    a.steps_pgd = count(in, "/adversarial/steps_pgd", 1);
    a.step_size = in.string("/adversarial/step_size");
    a.loss = in.string("/adversarial/loss");
    a.epsilon_unit = in.string("/adversarial/epsilon_unit");
    a.images = count(in, "/adversarial/images", 1);
    r.adversarial = a;
  } else if (r.has_family("adversarial")) {
    in.fail("/adversarial", "is missing, but /conditions holds adversarial attacks");
  }
  r.seconds_total = in.number_in("/seconds/total", 0, 1e9);
  r.seconds_per_condition = in.number_in("/seconds/per_condition", 0, 1e9);
  r.images_per_second = in.number_in("/images_per_second", 0, 1e12);
  r.note = in.string("/note");
  return r;
}

void narrow_not_evaluated(std::vector<std::string>& items, const RobustnessResult& r) {
  const bool shifted = r.has_family("shift") || r.has_family("scanner");
  std::string text = shifted ? "robustness to real scanner and site differences (only simulated shifts" +
                                   std::string(r.has_family("scanner") ? " and re-rendered phantom scanner profiles" : "") +
                                   " were measured, in the Robustness section)"
                             : "robustness to distribution shift (scanner, exposure, noise, resolution: no shift was probed)";
  std::vector<std::string> attacks;
  for (const auto& [name, shown] : {std::pair{"fgsm", "FGSM"}, std::pair{"pgd", "PGD"}})
    if (std::any_of(r.conditions.begin(), r.conditions.end(),
                    [&](const auto& c) { return c.family == "adversarial" && c.name == name; }))
      attacks.push_back(shown);
  if (attacks.empty())
    text += " and to adversarial inputs (no attack was run)";
  else
    text += " and to adaptive adversarial attacks (only " + list_words(attacks) +
            (r.adversarial && std::count(attacks.begin(), attacks.end(), "PGD")
                 ? " with " + std::to_string(r.adversarial->steps_pgd) + " PGD steps"
                 : std::string()) +
            " were run)";
  for (auto& item : items)
    if (starts_with(item, kRobustnessNotEvaluatedPrefix)) {
      item = text;
      return;
    }
  items.push_back(text);
}

namespace {

json texts(const std::vector<std::string>& v) {
  json out = json::array();
  for (const auto& s : v) out.push_back({{"text", s}});
  return out;
}

bool same_file(const std::string& a, const std::string& b) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec);
  return fs::path(a).lexically_normal() == fs::path(b).lexically_normal();
}

std::string q_and_difference(const RobustnessCell& x) {
  if (x.q_value && x.difference) return p_value(*x.q_value) + " (" + signed_fixed(*x.difference) + ")";
  if (x.difference) return "untested (" + signed_fixed(*x.difference) + ")";
  return "n/a";
}

}  // namespace

json robustness_view(const RobustnessResult* r, const std::string& svg_heatmap, const std::string& svg_adversarial,
                     const std::string& run_dir, const std::string& eval_checkpoint) {
  if (!r)
    return {{"robustness", nullptr},
            {"robustness_not_measured", {{"run", run_dir.empty() ? json(nullptr) : json(run_dir)}}}};
  const std::vector<std::string> names = data::class_names();
  const std::string alpha = general(r->alpha);
  json view = {{"path", r->path},
               {"checkpoint", r->checkpoint},
               {"step", std::to_string(r->step)},
               {"ranks", std::to_string(r->ranks)},
               {"alpha", alpha},
               {"multiple_testing", r->multiple_testing},
               {"seconds", fixed(r->seconds_total, 0)},
               {"images_per_second", fixed(r->images_per_second, 0)},
               {"note", r->note}};
  std::vector<std::string> splits;
  for (const auto& s : r->splits) splits.push_back(s.name + " (" + thousands(s.images) + " images)");
  view["splits"] = list_words(splits);
  if (!eval_checkpoint.empty() && !same_file(eval_checkpoint, r->checkpoint))
    view["other_checkpoint"] = {{"text", "The probe scored " + r->checkpoint + " (step " + std::to_string(r->step) +
                                             "), not this evaluation's checkpoint " + eval_checkpoint + "."}};

  // --- the simulated shifts: findings and the table of significant drops ----------------------------------
  struct Drop {
    const RobustnessCondition* c;
    int k;
  };
  std::vector<Drop> drops;
  int64_t tests = 0, tests_all = 0, rises = 0, shifted_conditions = 0;
  std::map<std::string, int> per_family;
  const RobustnessCondition* worst_macro = nullptr;
  for (const auto& c : r->conditions) {
    for (const auto& x : c.per_class) tests_all += x.q_value.has_value();
    if (c.family == "adversarial") continue;
    ++shifted_conditions;
    ++per_family[c.family];
    if (c.macro_difference && (!worst_macro || *c.macro_difference < *worst_macro->macro_difference)) worst_macro = &c;
    for (int k = 0; k < data::kNumClasses; ++k) {
      const RobustnessCell& x = c.per_class[static_cast<size_t>(k)];
      tests += x.q_value.has_value();
      if (x.drop()) drops.push_back({&c, k});
      rises += x.significant && x.difference && *x.difference > 0;
    }
  }
  std::stable_sort(drops.begin(), drops.end(), [](const Drop& a, const Drop& b) {
    return *a.c->per_class[static_cast<size_t>(a.k)].difference < *b.c->per_class[static_cast<size_t>(b.k)].difference;
  });
  json drop_rows = json::array();
  for (const auto& d : drops) {
    const RobustnessCell& x = d.c->per_class[static_cast<size_t>(d.k)];
    const RobustnessBaseline& b = r->split(d.c->split).baseline[static_cast<size_t>(d.k)];
    drop_rows.push_back({{"condition", r->label(*d.c)},
                         {"family", d.c->family},
                         {"parameter", d.c->parameter_text()},
                         {"class", names[static_cast<size_t>(d.k)]},
                         {"change", fixed_or(b.auroc) + " → " + fixed_or(x.auroc)},
                         {"difference", signed_fixed(*x.difference)},
                         {"q", p_value(*x.q_value)}});
  }
  view["drops"] = drop_rows;
  std::vector<std::string> findings;
  if (shifted_conditions > 0) {
    std::vector<std::string> families;
    for (const char* f : {"shift", "scanner", "shortcut"})
      if (per_family.count(f)) families.push_back(std::to_string(per_family[f]) + " " + f);
    std::string t = "Under " + std::to_string(shifted_conditions) + " simulated conditions (" + list_words(families) +
                    "), " + std::to_string(drops.size()) + " of " + std::to_string(tests) +
                    " paired class comparisons show a significant AUROC drop and " + std::to_string(rises) +
                    " a significant rise (q < " + alpha + ", Benjamini-Hochberg over all " + std::to_string(tests_all) +
                    " tests of the file)";
    if (!drops.empty()) {
      const Drop& d = drops.front();
      const RobustnessCell& x = d.c->per_class[static_cast<size_t>(d.k)];
      t += "; the largest drop: " + r->label(*d.c) + ", " + names[static_cast<size_t>(d.k)] + " (" +
           signed_fixed(*x.difference) + ", q " + p_value(*x.q_value) + ")";
    }
    findings.push_back(t + ".");
    if (worst_macro)
      findings.push_back("The largest change of the macro AUROC among them: " + r->label(*worst_macro) +
                         (worst_macro->parameter ? " (" + worst_macro->parameter_text() + ")" : std::string()) + ", " +
                         signed_fixed(*worst_macro->macro_difference) + " (to " + fixed_or(worst_macro->macro_auroc) + ").");
  }
  // The small-shift control: contrast within 5 % of the identity (severity 1's 0.95; study.robustness_extra's
  // 1.05), which a robust model should tolerate: said either way.
  std::vector<std::string> small_params, small_changes;
  for (const auto& c : r->conditions) {
    if (c.family != "shift" || c.name != "contrast" || !c.parameter || *c.parameter == 1.0 ||
        std::fabs(*c.parameter - 1.0) > 0.05 + 1e-9)
      continue;
    small_params.push_back(general(*c.parameter));
    for (int k = 0; k < data::kNumClasses; ++k) {
      const RobustnessCell& x = c.per_class[static_cast<size_t>(k)];
      if (x.significant && x.difference && x.q_value)
        small_changes.push_back(names[static_cast<size_t>(k)] + " " + signed_fixed(*x.difference) + " (q " +
                                p_value(*x.q_value) + ") at " + general(*c.parameter));
    }
  }
  if (!small_params.empty()) {
    const std::string what = "The small-shift control, contrast " + list_words(small_params) + " (within 5 % of the identity)";
    findings.push_back(small_changes.empty()
                           ? what + ", changes no class significantly."
                           : what + ", changes " + list_words(small_changes) +
                                 ": this model responds to a contrast change a robust model would tolerate (the paired "
                                 "test holds its level, so the change is the model's, however small).");
  }
  view["has_heatmap"] = !svg_heatmap.empty();
  view["svg_heatmap"] = svg_heatmap;
  view["no_shifts"] = shifted_conditions == 0;

  // --- the planted shortcut, made label-independent or removed -------------------------------------------
  std::vector<const RobustnessCondition*> shortcut;
  for (const auto& c : r->conditions)
    if (c.family == "shortcut") shortcut.push_back(&c);
  if (!shortcut.empty()) {
    json header = json::array(), rows = json::array();
    for (const auto* c : shortcut) header.push_back({{"name", r->label(*c)}, {"description", c->description}});
    const RobustnessSplit& base = r->split(shortcut.front()->split);
    for (int k = 0; k < data::kNumClasses; ++k) {
      json cells = json::array();
      for (const auto* c : shortcut) {
        const RobustnessCell& x = c->per_class[static_cast<size_t>(k)];
        cells.push_back({{"auroc", fixed_or(x.auroc)}, {"q", q_and_difference(x)}, {"flagged", x.significant}});
      }
      rows.push_back({{"name", names[static_cast<size_t>(k)]},
                      {"baseline", fixed_or(base.baseline[static_cast<size_t>(k)].auroc)},
                      {"cells", cells}});
    }
    view["shortcut"] = {{"header", header}, {"rows", rows}, {"split", base.name}};
  } else {
    view["shortcut"] = nullptr;
  }

  // --- the attacks --------------------------------------------------------------------------------------
  if (r->adversarial && r->has_family("adversarial")) {
    const AdversarialSettings& a = *r->adversarial;
    json rows = json::array();
    for (const auto& [name, shown] : {std::pair{"fgsm", "FGSM"}, std::pair{"pgd", "PGD"}}) {
      std::vector<const RobustnessCondition*> points;
      for (const auto& c : r->conditions)
        if (c.family == "adversarial" && c.name == name) points.push_back(&c);
      std::stable_sort(points.begin(), points.end(), [](auto* x, auto* y) { return *x->parameter < *y->parameter; });
      for (const auto* c : points) {
        int n_drops = 0, n_tested = 0;
        for (const auto& x : c->per_class) n_drops += x.drop(), n_tested += x.q_value.has_value();
        rows.push_back({{"attack", std::string(shown) + (c->split != r->main_split ? " (" + c->split + ")" : "")},
                        {"epsilon", general(*c->parameter)},
                        {"baseline", fixed_or(r->split(c->split).macro_auroc())},
                        {"macro", fixed_or(c->macro_auroc)},
                        {"difference", c->macro_difference ? signed_fixed(*c->macro_difference) : std::string("n/a")},
                        {"drops", std::to_string(n_drops) + " of " + std::to_string(n_tested)}});
      }
      if (!points.empty() && points.back()->macro_auroc)
        findings.push_back(std::string(shown) + " at the largest epsilon, " + general(*points.back()->parameter) +
                           " grey levels, takes the macro AUROC on " + points.back()->split + " from " +
                           fixed_or(r->split(points.back()->split).macro_auroc()) + " to " +
                           fixed(*points.back()->macro_auroc) + ".");
    }
    view["adversarial"] = {{"svg", svg_adversarial},
                           {"rows", rows},
                           {"steps_pgd", std::to_string(a.steps_pgd)},
                           {"step_size", a.step_size},
                           {"loss", a.loss},
                           {"epsilon_unit", a.epsilon_unit},
                           {"images", thousands(a.images)}};
  } else {
    view["adversarial"] = nullptr;
  }
  view["findings"] = texts(findings);
  view["disclaimer"] = "This is a robustness probe, not a security claim: FGSM and PGD are standard white-box "
                       "L-infinity attacks with few steps, and a model that survives them is not shown to be secure "
                       "against an adaptive attacker.";
  return {{"robustness", view}, {"robustness_not_measured", nullptr}};
}

}  // namespace cxr::report
