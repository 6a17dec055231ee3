// Report assembly and rendering (see report.h): the method card from the run's files, the tables and
// plots from the evaluation, the generated conclusions, then the templates.
#include "report/report.h"

#include <kainjow/mustache.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/config.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/run_dir.h"
#include "core/strings.h"
#include "core/version.h"
#include "data/manifest.h"
#include "report/conclusions.h"
#include "report/evaluation_result.h"
#include "report/format.h"
#include "report/gradcam_result.h"
#include "report/interpretability.h"
#include "report/json_input.h"
#include "report/plots.h"
#include "report/published.h"
#include "report/robustness_section.h"
#include "report/seed_section.h"
#include "report/temporal_section.h"
#include "report/templates.h"

namespace cxr::report {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using mustache = kainjow::mustache::mustache;
using mdata = kainjow::mustache::data;

mdata to_mustache(const json& v) {
  if (v.is_object()) {
    mdata d{mdata::type::object};
    for (auto it = v.begin(); it != v.end(); ++it) d.set(it.key(), to_mustache(it.value()));
    return d;
  }
  if (v.is_array()) {
    mdata d{mdata::type::list};
    for (const auto& e : v) d.push_back(to_mustache(e));
    return d;
  }
  if (v.is_string()) return mdata(v.get<std::string>());
  if (v.is_boolean()) return mdata(v.get<bool>());
  if (v.is_null()) return mdata(false);
  return mdata(v.dump());  // numbers are formatted before they get here; this is a fallback
}

// Markdown table cells and text: characters that would start markup are escaped, HTML is neutralised.
std::string markdown_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '|': case '\\': case '*': case '_': case '`': case '[': case ']': case '#':
        out += '\\';
        out += c;
        break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '\n': case '\r': out += ' '; break;
      default: out += c;
    }
  }
  return out;
}

std::string render(const std::string& name, const char* text, const json& view, bool markdown = false) {
  mustache tmpl{std::string(text)};
  if (!tmpl.is_valid()) throw std::logic_error("report template " + name + ": " + tmpl.error_message());
  if (markdown) tmpl.set_custom_escape(markdown_escape);
  std::string out = tmpl.render(to_mustache(view));
  if (!tmpl.is_valid()) throw std::logic_error("report template " + name + ": " + tmpl.error_message());
  return out;
}

// --- the method card ----------------------------------------------------------------------------------

struct Session {
  std::string started, config, resumed_from, backend, device, hardware, host, precision, cxrtrain, libtorch;
  int64_t step = 0, ranks = 0;
};

std::vector<Session> read_sessions(const std::string& run_dir) {
  std::vector<Session> out;
  const fs::path path = fs::path(run_dir) / kEnvironmentFile;
  if (!fs::exists(path)) return out;
  std::ifstream in(path);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (trim(line).empty()) continue;
    json j;
    try {
      j = json::parse(line);
    } catch (const json::parse_error&) {
      throw UserError(path.string() + ":" + std::to_string(n) + ": not a JSON line",
                      "the file is damaged; delete the line (the report then lacks that session)");
    }
    const JsonInput e(path.string() + ":" + std::to_string(n), j);
    Session s;
    s.started = e.string("/started_utc");
    s.config = e.string("/config");
    s.resumed_from = e.string_or("/resumed_from", "");
    s.step = e.integer("/step");
    s.ranks = e.integer("/ranks");
    s.backend = e.string("/backend");
    s.device = e.string("/device");
    s.hardware = e.string("/hardware");
    s.host = e.string("/host");
    s.precision = e.string("/precision");
    s.cxrtrain = e.string("/cxrtrain");
    s.libtorch = e.string("/libtorch");
    out.push_back(s);
  }
  return out;
}

struct PackInfo {
  bool read = false;
  std::string problem;  // why the manifest could not be read
  data::Manifest manifest;
  DataContext context;
  std::vector<std::string> shortcuts;
  std::string generator;  // "n 8000, 64 px, seed 0"
  std::string label_map;  // a labelled-CSV pack's label map name (manifest label_map.name)
};

PackInfo read_pack(const std::string& pack) {
  PackInfo p;
  if (pack.empty()) {
    p.problem = "no pack recorded";
    return p;
  }
  try {
    p.manifest = data::read_manifest(pack);
    const JsonInput raw = JsonInput::read((fs::path(pack) / "manifest.json").string());
    p.context.phantom = p.manifest.source == "phantom";
    if (raw.has("/label_noise/scale")) p.context.label_noise = raw.number("/label_noise/scale");
    if (raw.has("/shortcuts") && raw.at("/shortcuts").is_array())
      for (size_t i = 0; i < raw.array_size("/shortcuts"); ++i) {
        const json& s = raw.at("/shortcuts/" + std::to_string(i));
        p.shortcuts.push_back(s.is_object() && s.contains("spec") && s["spec"].is_string() ? s["spec"].get<std::string>()
                                                                                            : s.dump());
      }
    if (raw.has("/label_map/name")) p.label_map = raw.string("/label_map/name");
    if (p.context.phantom && raw.has("/options/n")) {
      p.generator = "cxrtrain synth, " + thousands(raw.integer("/options/n")) + " films, seed " +
                    std::to_string(raw.integer("/options/seed"));
      if (raw.has("/options/findings") && raw.string("/options/findings") == "independent")
        p.generator += "; findings drawn independently: no co-occurrence, AP films no sicker";
    }
    p.read = true;
  } catch (const UserError& e) {
    const std::string what = e.what();
    p.problem = what.substr(0, what.find('\n'));
  }
  return p;
}

json card_row(const std::string& key, const std::string& value) { return {{"key", key}, {"value", value}}; }

json method_card(const EvaluationResult& r, const Config* cfg, const std::vector<Session>& sessions,
                 const PackInfo& pack, const std::string& config_file) {
  json rows = json::array();
  std::string data = r.pack.empty() ? std::string("(not recorded)") : r.pack;
  if (pack.read) {
    if (pack.context.phantom) data += " - phantom films (" + pack.generator + ")";
    else if (pack.manifest.source == "labelled-csv") data += " - labelled CSV via label map " + (pack.label_map.empty() ? "(not recorded)" : pack.label_map);
    else data += " - NIH ChestX-ray14 (" + pack.manifest.source + ")";
    data += ", " + std::to_string(pack.manifest.image_size) + " px";
    std::vector<std::string> parts;
    for (const auto& s : pack.manifest.splits)
      parts.push_back(s.name + " " + thousands(s.count) + " images / " + thousands(s.patients) + " patients");
    data += "; " + join(parts, ", ");
    if (pack.context.label_noise > 0) data += "; label noise x" + fixed(pack.context.label_noise, 2) + " (synth --label-noise)";
    if (!pack.shortcuts.empty()) data += "; planted shortcuts " + join(pack.shortcuts, ", ");
    if (!pack.manifest.classes_not_evaluable.empty())
      data += "; not evaluable (no source label): " + join(pack.manifest.classes_not_evaluable, ", ");
  } else {
    data += " (manifest not read: " + pack.problem + ")";
  }
  rows.push_back(card_row("Data", data));
  std::string split = r.split + ": " + thousands(r.n_images) + " images, " + thousands(r.n_patients) + " patients";
  if (r.images_in_split) split += " (partial: " + thousands(*r.images_in_split) + " images in the split)";
  rows.push_back(card_row("Evaluated split", split));
  if (!cfg) {
    rows.push_back(card_row("Model", "predictions file " + r.predictions_file + " (no training record: the model, its "
                                     "training and hardware are whatever produced the file)"));
  } else {
    const auto& m = cfg->model;
    rows.push_back(card_row("Model", "ResNet-" + std::to_string(m.depth) + (m.width != 1 ? " (width x" + fixed(m.width, 2) + ")" : "") +
                                         ", " + std::to_string(m.in_channels) + " input channel" + (m.in_channels == 1 ? "" : "s") +
                                         ", norm " + m.norm + ", 14 sigmoid outputs"));
    rows.push_back(card_row("Initialisation", std::string("random (He, as torchvision), seed ") + std::to_string(cfg->seed) +
                                                  (m.zero_init_residual ? ", residual branches zero-initialised" : "")));
    const auto& t = cfg->train;
    std::string opt = "Adam, learning rate " + general(t.lr) + " (" + t.schedule +
                      (t.warmup_steps ? ", " + std::to_string(t.warmup_steps) + " warm-up steps" : "") + "), weight decay " +
                      general(t.weight_decay) + ", global batch " + std::to_string(t.global_batch) + ", " +
                      std::to_string(t.epochs) + " epoch" + (t.epochs == 1 ? "" : "s") +
                      (t.max_steps ? " (at most " + std::to_string(t.max_steps) + " steps)" : "") +
                      ", loss: binary cross-entropy" + (t.pos_weight == "none" ? "" : " with " + t.pos_weight + " positive weights") +
                      (t.grad_clip > 0 ? ", gradient norm clipped at " + general(t.grad_clip) : "");
    rows.push_back(card_row("Optimiser", opt));
    rows.push_back(card_row("Augmentation", cfg->data.augment + "; centre crop fraction " + general(cfg->data.crop_fraction) +
                                                ", input " + (cfg->data.image_size ? std::to_string(cfg->data.image_size) + " px" : "the pack's size") +
                                                ", normalised (x - " + general(cfg->data.mean) + ") / " + general(cfg->data.std)));
    rows.push_back(card_row("Precision", t.precision + (t.channels_last ? ", channels_last" : "")));
    rows.push_back(card_row("Seeds", std::to_string(cfg->seed) + " (one training run)"));
    rows.push_back(card_row("Configuration", config_file));
  }
  if (!r.checkpoint.empty())
    rows.push_back(card_row("Checkpoint", r.checkpoint + (r.checkpoint_step ? " (step " + std::to_string(*r.checkpoint_step) + ")" : "")));
  if (cfg) {
    if (sessions.empty()) {
      rows.push_back(card_row("Ranks and hardware", "not recorded (the run has no " + std::string(kEnvironmentFile) + ")"));
    } else {
      std::vector<std::string> parts;
      for (const auto& s : sessions)
        parts.push_back((s.resumed_from.empty() ? "started " : "resumed at step " + std::to_string(s.step) + " ") +
                        s.started + ": " + std::to_string(s.ranks) + " rank" + (s.ranks == 1 ? "" : "s") +
                        ", gradients over " + s.backend + ", " + s.device + " - " + s.hardware + " on " + s.host);
      rows.push_back(card_row("Training ranks and hardware", join(parts, "; ")));
      rows.push_back(card_row("Software", "cxrtrain " + sessions.back().cxrtrain + ", LibTorch " + sessions.back().libtorch));
    }
  }
  if (r.ranks) rows.push_back(card_row("Scored on", std::to_string(*r.ranks) + " rank" + (*r.ranks == 1 ? "" : "s")));
  rows.push_back(card_row("Statistics", "DeLong 95 % intervals (Sun & Xu), patient-level bootstrap (" +
                                            thousands(r.bootstrap_resamples) + " resamples, percentile); operating points " +
                                            (r.thresholds_chosen_on.empty() ? std::string("none (no threshold split)")
                                                                            : r.threshold_rule + " on " + r.thresholds_chosen_on) +
                                            "; Benjamini-Hochberg q-values; cxrtrain " CXR_VERSION));
  return rows;
}

// --- tables --------------------------------------------------------------------------------------------

json class_table(const EvaluationResult& r) {
  std::vector<const ClassResult*> order;
  for (const auto& c : r.classes) order.push_back(&c);
  std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) {
    if (a->auroc.has_value() != b->auroc.has_value()) return a->auroc.has_value();
    return a->auroc && *a->auroc > *b->auroc;
  });
  json rows = json::array();
  for (const auto* c : order) {
    rows.push_back({{"name", c->name},
                    {"n_pos", thousands(c->n_pos)},
                    {"n_neg", thousands(c->n_neg)},
                    {"prevalence", percent(c->prevalence)},
                    // metrics.json's reason for a class the pack's source never labels (classes_not_evaluable)
                    {"auroc", fixed_or(c->auroc, c->reason.find("auroc: not evaluable") != std::string::npos
                                                     ? "not evaluable" : "n/a")},
                    {"ci_delong", interval(c->ci_delong)},
                    {"ci_bootstrap", interval(c->ci_bootstrap)},
                    {"ap", fixed_or(c->average_precision)},
                    {"brier", fixed(c->brier, 4)},
                    {"ece", fixed(c->ece, 4)},
                    {"threshold", fixed_or(c->threshold)},
                    {"sensitivity", fixed_or(c->sensitivity, "n/a", 2)},
                    {"specificity", fixed_or(c->specificity, "n/a", 2)},
                    {"ppv", fixed_or(c->ppv, "n/a", 2)},
                    {"npv", fixed_or(c->npv, "n/a", 2)},
                    {"note", c->reason}});
  }
  return rows;
}

json significant_subgroups(const EvaluationResult& r) {
  json rows = json::array();
  for (const auto& s : r.subgroups) {
    auto add = [&](const std::string& metric, const std::optional<double>& value, const std::optional<double>& gap,
                   const std::optional<double>& q) {
      if (!gap || !q || *q >= kFdrLevel) return;
      rows.push_back({{"group", s.attribute + " " + s.group}, {"class", s.class_name}, {"metric", metric},
                      {"value", fixed_or(value)}, {"gap", signed_fixed(*gap)}, {"q", p_value(*q)},
                      {"n", std::to_string(s.n_pos) + " / " + std::to_string(s.n_neg)}});
    };
    add("AUROC", s.auroc, s.gap, s.q_value);
    add("sensitivity", s.tpr, s.tpr_gap, s.tpr_q_value);
    add("false-positive rate", s.fpr, s.fpr_gap, s.fpr_q_value);
  }
  return rows;
}

json underdiagnosis_table(const EvaluationResult& r) {
  json rows = json::array();
  for (const auto& u : r.underdiagnosis)
    rows.push_back({{"group", u.attribute == "all" ? std::string("all images") : u.attribute + " " + u.group},
                    {"with_finding", thousands(u.with_finding)}, {"missed", thousands(u.missed)},
                    {"rate", u.rate ? percent(*u.rate) : std::string("n/a")},
                    {"gap", u.gap ? signed_fixed(100 * *u.gap, 1) + " points" : std::string("")},
                    {"q", u.q_value ? p_value(*u.q_value) : std::string("")},
                    {"flagged", u.q_value && *u.q_value < kFdrLevel}});
  return rows;
}

json expert_table(const EvaluationResult& r) {
  json rows = json::array();
  for (const auto& e : r.expert) {
    std::string diff;
    if (e.auroc_expert && e.auroc_nih_labels) diff = signed_fixed(*e.auroc_expert - *e.auroc_nih_labels);
    rows.push_back({{"label", e.expert_label}, {"score", e.model_score},
                    {"n_reviewed", e.auroc_expert ? thousands(e.n_reviewed) : std::string("")},
                    {"n_pos", e.auroc_expert ? thousands(e.n_pos) : std::string("")},
                    {"auroc_expert", fixed_or(e.auroc_expert)}, {"ci", interval(e.ci_delong, "")},
                    {"auroc_nih", fixed_or(e.auroc_nih_labels, "")}, {"difference", diff},
                    {"kappa", fixed_or(e.kappa, "", 2)}, {"note", e.reason}});
  }
  return rows;
}

json published_table(const EvaluationResult& r, json& data) {
  const auto& pubs = published_results();
  json header = json::array(), rows = json::array(), caveats = json::array();
  for (const auto& p : pubs) header.push_back({{"name", p.name}});
  data = json::object();
  data["this_run"] = json::object();
  for (int k = 0; k < data::kNumClasses; ++k) {
    const ClassResult& c = r.classes[static_cast<size_t>(k)];
    json cells = json::array();
    for (const auto& p : pubs) cells.push_back({{"value", fixed_or(p.auroc[static_cast<size_t>(k)], "-")}});
    rows.push_back({{"name", c.name}, {"ours", fixed_or(c.auroc)}, {"ci", interval(c.ci_delong, "")}, {"cells", cells}});
    data["this_run"][c.name] = c.auroc ? json(*c.auroc) : json(nullptr);
  }
  json cells = json::array();
  for (const auto& p : pubs) cells.push_back({{"value", fixed_or(p.mean, "-")}});
  rows.push_back({{"name", "mean (macro)"}, {"ours", fixed_or(r.macro_auroc)}, {"ci", interval(r.macro_ci_bootstrap, "")},
                  {"cells", cells}, {"mean", true}});
  data["this_run"]["macro"] = r.macro_auroc ? json(*r.macro_auroc) : json(nullptr);
  for (const auto& p : pubs) {
    caveats.push_back({{"name", p.name}, {"citation", p.citation}, {"text", join(p.caveats, "; ")}});
    json values = json::object();
    for (int k = 0; k < data::kNumClasses; ++k)
      values[data::kClassNames[k]] = p.auroc[static_cast<size_t>(k)] ? json(*p.auroc[static_cast<size_t>(k)]) : json(nullptr);
    data[p.key] = {{"name", p.name}, {"citation", p.citation}, {"auroc", values}, {"mean", p.mean ? json(*p.mean) : json(nullptr)},
                   {"caveats", p.caveats}};
  }
  return {{"header", header}, {"rows", rows}, {"caveats", caveats}};
}

// The run folder of the report: --run, or RUN for an evaluation folder RUN/eval/<split>; "" when unknown.
std::string report_run_dir(const std::string& run_dir, const std::string& eval_dir) {
  if (!run_dir.empty()) return run_dir;
  fs::path e = fs::path(eval_dir).lexically_normal();
  if (!e.has_filename()) e = e.parent_path();  // "RUN/eval/test/"
  if (e.parent_path().filename() != "eval") return "";
  const fs::path run = e.parent_path().parent_path();
  return run.empty() ? std::string(".") : run.string();
}

json texts(const std::vector<std::string>& v) {
  json out = json::array();
  for (const auto& s : v) out.push_back({{"text", s}});
  return out;
}

}  // namespace

ReportFiles write_report(const ReportOptions& o) {
  // --- inputs, all read and checked before anything is written --------------------------------------
  std::optional<Config> cfg;
  std::string config_file;
  if (!o.run_dir.empty()) {
    config_file = latest_run_config(o.run_dir);
    cfg = load_config(config_file, {});
  }
  if (o.run_dir.empty() && o.eval_dir.empty())
    throw UserError("nothing to report on", "pass --run RUN_DIR (after `cxrtrain evaluate --run`) or --eval DIR");
  const std::string split = !o.split.empty() ? o.split : cfg ? cfg->eval.split : std::string("test");
  const std::string eval_dir = !o.eval_dir.empty() ? o.eval_dir : (fs::path(o.run_dir) / "eval" / split).string();
  const EvaluationResult r = read_evaluation(eval_dir);
  if (!o.split.empty() && r.split != o.split)
    throw UserError(eval_dir + "/metrics.json is for split '" + r.split + "', not '" + o.split + "'",
                    "pass the folder of that split's evaluation");
  const std::vector<Session> sessions = o.run_dir.empty() ? std::vector<Session>{} : read_sessions(o.run_dir);
  const PackInfo pack = read_pack(!r.pack.empty() ? r.pack : cfg ? cfg->data.pack : std::string());
  // Grad-CAM statistics, when `cxrtrain gradcam` has run: checked in full (with the overlays shown) now.
  const std::string run_dir = report_run_dir(o.run_dir, eval_dir);
  std::optional<GradcamResult> gradcam;
  if (!run_dir.empty()) {
    const fs::path cam_path = fs::path(run_dir) / "gradcam" / kCamStatsFile;
    if (fs::exists(cam_path)) gradcam = read_gradcam(cam_path.string());
  }
  std::optional<RobustnessResult> robustness;  // `cxrtrain probe-shift`, when it has run
  if (!run_dir.empty()) {
    const fs::path path = fs::path(run_dir) / kRobustnessDir / kRobustnessFile;
    if (fs::exists(path)) robustness = read_robustness(path.string());
  }
  std::optional<SeedSummary> seeds;
  if (!o.seeds_summary.empty()) seeds = read_seed_summary(o.seeds_summary);
  const std::string out_dir = !o.out_dir.empty()       ? o.out_dir
                              : !o.run_dir.empty() ? (fs::path(o.run_dir) / "report").string()
                                                   : (fs::path(eval_dir) / "report").string();

  // --- content --------------------------------------------------------------------------------------
  Conclusions concl = conclusions(r, pack.context);
  if (seeds)  // one run's caveat, replaced by what the seeds' section leaves open
    for (auto& u : concl.unsupported)
      if (u.rfind("Seed-to-seed variation:", 0) == 0)
        u = "Seed-to-seed variation beyond the " + std::to_string(seeds->k()) +
            " seeds of the section below: the other numbers here are the first seed's, and their intervals cover the "
            "test sample, not the training randomness.";
  if (robustness) narrow_not_evaluated(concl.not_evaluated, *robustness);
  Plot forest = forest_plot(r), roc = roc_plot(r), reliability = reliability_plot(r),
       heat_auc = subgroup_heatmap(r, "auroc"), heat_tpr = subgroup_heatmap(r, "tpr");
  roc.view["id"] = "roc-plot";
  reliability.view["id"] = "reliability-plot";
  heat_auc.view["id"] = "subgroup-auroc-plot";
  heat_tpr.view["id"] = "subgroup-sensitivity-plot";
  const std::string svg_forest = render("forest.svg", kForestSvgTemplate, forest.view),
                    svg_roc = render("roc.svg", kPanelsSvgTemplate, roc.view),
                    svg_reliability = render("reliability.svg", kPanelsSvgTemplate, reliability.view),
                    svg_heat_auc = render("subgroups_auroc.svg", kHeatmapSvgTemplate, heat_auc.view),
                    svg_heat_tpr = render("subgroups_sensitivity.svg", kHeatmapSvgTemplate, heat_tpr.view);
  std::optional<CamStatements> cam_text;
  std::string svg_cam;
  if (gradcam) {
    cam_text = cam_statements(*gradcam);
    Plot cam_heat = region_share_heatmap(*gradcam);
    cam_heat.view["id"] = "cam-region-plot";
    svg_cam = render("cam_region_shares.svg", kHeatmapSvgTemplate, cam_heat.view);
  }
  std::string svg_robust_heat, svg_robust_adv;
  Plot robust_heat, robust_adv;
  if (robustness) {
    robust_heat = robustness_heatmap(*robustness);
    robust_adv = adversarial_plot(*robustness);
    robust_heat.view["id"] = "robustness-heatmap-plot";
    if (!robust_heat.view["columns"].empty())
      svg_robust_heat = render("robustness_heatmap.svg", kHeatmapSvgTemplate, robust_heat.view);
    if (!robust_adv.view["series"].empty())
      svg_robust_adv = render("robustness_adversarial.svg", kLinesSvgTemplate, robust_adv.view);
  }
  json published_data;
  const json published = published_table(r, published_data);
  const std::string title = "cxrtrain evaluation: " + (o.run_dir.empty() ? r.predictions_file : o.run_dir) + " (" + r.split + ")";
  json view = {
      {"title", title},
      {"version", CXR_VERSION},
      {"method", method_card(r, cfg ? &*cfg : nullptr, sessions, pack, config_file)},
      {"split", r.split},
      {"n_images", thousands(r.n_images)},
      {"n_patients", thousands(r.n_patients)},
      {"macro", fixed_or(r.macro_auroc)},
      {"macro_ci", interval(r.macro_ci_bootstrap)},
      {"macro_classes", std::to_string(r.macro_classes)},
      {"micro", fixed_or(r.micro_auroc)},
      {"partial", r.images_in_split ? json({{"scored", thousands(r.n_images)}, {"in_split", thousands(*r.images_in_split)}})
                                    : json(nullptr)},
      {"phantom", pack.context.phantom},
      {"classes", class_table(r)},
      {"significant_subgroups", significant_subgroups(r)},
      {"underdiagnosis", underdiagnosis_table(r)},
      {"underdiagnosis_note", !r.underdiagnosis_reason.empty()   ? json({{"text", r.underdiagnosis_reason}})
                              : !r.underdiagnosis_excluded.empty() ? json({{"text", "Over the classes with an operating point; "
                                                                                    "left out (no positives to choose one on): " +
                                                                                    join(r.underdiagnosis_excluded, ", ")}})
                                                                   : json(nullptr)},
      {"expert", expert_table(r)},
      {"expert_note", r.expert_reason.empty() ? json(nullptr) : json({{"text", r.expert_reason}})},
      {"published", published},
      {"supported", texts(concl.supported)},
      {"unsupported", texts(concl.unsupported)},
      {"not_evaluated", texts(concl.not_evaluated)},
      {"cannot_conclude", texts(concl.cannot_conclude)},
      {"fdr", fixed(kFdrLevel, 2)},
      {"svg_forest", svg_forest},
      {"svg_roc", svg_roc},
      {"svg_reliability", svg_reliability},
      {"svg_subgroups_auroc", svg_heat_auc},
      {"svg_subgroups_sensitivity", svg_heat_tpr},
  };
  if (!r.compared_with.empty()) {
    json rows = json::array();
    for (const auto& c : r.comparison)
      rows.push_back({{"class", c.class_name}, {"auroc_other", fixed_or(c.auroc_other)},
                      {"difference", c.difference ? signed_fixed(*c.difference) : std::string("n/a")},
                      {"q", c.q_value ? p_value(*c.q_value) : std::string("n/a")}});
    view["comparison"] = {{"other", r.compared_with}, {"rows", rows}};
  }
  view.update(temporal_view(r));
  view.update(interpretability_view(gradcam ? &*gradcam : nullptr, cam_text ? &*cam_text : nullptr, svg_cam,
                                    r.split, run_dir));
  view.update(robustness_view(robustness ? &*robustness : nullptr, svg_robust_heat, svg_robust_adv, run_dir, r.checkpoint));
  std::optional<SeedStatements> seed_text;
  if (seeds) seed_text = seed_statements(*seeds);
  view.update(seed_view(seeds ? &*seeds : nullptr, seed_text ? &*seed_text : nullptr));
  if (seeds) {  // the card must not say "one training run" alone
    const std::string note = "seed-to-seed variation over " + std::to_string(seeds->k()) + " seeds below";
    bool noted = false;
    for (auto& row : view["method"])
      if (row["key"] == "Seeds") {
        row["value"] = row["value"].get<std::string>() + "; " + note;
        noted = true;
      }
    if (!noted) view["method"].push_back(card_row("Seeds", note));
  }
  const std::string html = render("index.html", kIndexHtmlTemplate, view);
  const std::string md = render("report.md", kReportMdTemplate, view, /*markdown=*/true);

  // --- output: built aside, renamed into place --------------------------------------------------------
  ReportFiles files;
  files.out_dir = out_dir;
  const fs::path staging = make_staging_dir(out_dir);
  try {
    auto put = [&](const std::string& rel, const std::string& content) {
      fs::create_directories((staging / rel).parent_path());
      atomic_write_file(staging / rel, content);
      files.files.push_back(rel);
    };
    put("index.html", html);
    put("report.md", md);
    put("plots/forest.svg", svg_forest);
    put("plots/roc.svg", svg_roc);
    put("plots/reliability.svg", svg_reliability);
    put("plots/subgroups_auroc.svg", svg_heat_auc);
    put("plots/subgroups_sensitivity.svg", svg_heat_tpr);
    put("data/forest.json", forest.data.dump(1) + "\n");
    put("data/roc.json", roc.data.dump() + "\n");
    put("data/reliability.json", reliability.data.dump(1) + "\n");
    put("data/subgroups_auroc.json", heat_auc.data.dump(1) + "\n");
    put("data/subgroups_sensitivity.json", heat_tpr.data.dump(1) + "\n");
    put("data/published.json", published_data.dump(1) + "\n");
    put("data/conclusions.json", json({{"supported", concl.supported}, {"unsupported", concl.unsupported},
                                       {"not_evaluated", concl.not_evaluated}, {"cannot_conclude", concl.cannot_conclude}})
                                         .dump(1) + "\n");
    if (gradcam) {
      put("plots/cam_region_shares.svg", svg_cam);
      put("data/cam_stats.json", gradcam->text);
      for (const auto& c : gradcam->classes)
        if (gradcam->overlay_shown(c) && !c.overlay_png.empty()) put(overlay_report_path(c), c.overlay_png);
    }
    if (seeds) put("data/seeds_summary.json", seeds->text);
    if (robustness) {
      put("data/robustness.json", robustness->text);
      if (!svg_robust_heat.empty()) {
        put("plots/robustness_heatmap.svg", svg_robust_heat);
        put("data/robustness_heatmap.json", robust_heat.data.dump(1) + "\n");
      }
      if (!svg_robust_adv.empty()) {
        put("plots/robustness_adversarial.svg", svg_robust_adv);
        put("data/robustness_adversarial.json", robust_adv.data.dump(1) + "\n");
      }
    }
    commit_dir(staging, out_dir, /*overwrite=*/true);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(staging, ec);
    throw;
  }
  files.index_html = (fs::path(out_dir) / "index.html").string();
  files.markdown = (fs::path(out_dir) / "report.md").string();
  return files;
}

}  // namespace cxr::report
