// `cxrtrain study` (see study.h): the stages in order, their records in RUN/study.json, the seed groups.
// Every decision that must be the same on all ranks (is a stage finished, does the pack exist) is made on
// the communicator's rank 0 and broadcast, so ranks never disagree about what to run.
#include "launch/study.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "comm/root_only.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/strings.h"
#include "data/classes.h"
#include "data/image_shift.h"
#include "data/manifest.h"
#include "data/pack_reader.h"
#include "data/synth.h"
#include "eval/evaluate.h"
#include "eval/gradcam_run.h"
#include "eval/predictions.h"
#include "eval/probe_shift.h"
#include "eval/seed_variance.h"
#include "report/report.h"
#include "trainer/checkpoint.h"
#include "trainer/resume.h"
#include "trainer/train_loop.h"

namespace cxr::launch {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

constexpr const char* kStudyFile = "study.json";

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << v;
  return s.str();
}

// RUN/study.json: {"stages": {<stage>: {finished_utc, seconds, ...}}, "config": <resolved YAML at training>}.
json read_record(const fs::path& run_dir) {
  const fs::path path = run_dir / kStudyFile;
  if (!fs::exists(path)) return json::object();
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || (j.contains("stages") && !j["stages"].is_object()))
    throw UserError(path.string() + " is not a study record (damaged?)",
                    "remove it to run every stage again (training still resumes from checkpoints/last.pt)");
  return j;
}

// The communicator's rank 0 reads the record and every rank gets the same copy.
json shared_record(comm::Communicator& comm, const fs::path& run_dir) {
  std::string text;
  if (comm.rank() == 0) text = read_record(run_dir).dump();
  return json::parse(comm.broadcast_string(text, 0));
}

bool finished(const json& record, const std::string& stage) {
  return record.contains("stages") && record["stages"].contains(stage);
}

// Rank 0 records `stage` as finished and forgets every later stage (they used the stage's old output).
void record_finished(comm::Communicator& comm, const fs::path& run_dir, const std::string& stage, json details,
                     const std::string& config_yaml = "") {
  if (comm.rank() != 0) return;
  json record = read_record(run_dir);
  if (!record.contains("stages")) record["stages"] = json::object();
  const auto& names = study_stage_names();
  const auto self = std::find(names.begin(), names.end(), stage);
  if (self != names.end())
    for (auto later = self + 1; later != names.end(); ++later) record["stages"].erase(*later);
  details["finished_utc"] = utc_now();
  record["stages"][stage] = details;
  if (!config_yaml.empty()) record["config"] = config_yaml;
  fs::create_directories(run_dir);
  atomic_write_file(run_dir / kStudyFile, record.dump(2) + "\n");
}

// A finished training is only reused with the settings it was trained with (trainer/resume.h decides which
// settings change the result); anything else is an error naming the differences.
void check_same_training(const json& record, const Config& cfg, const fs::path& run_dir) {
  if (!record.contains("config") || !record["config"].is_string()) return;
  trainer::TrainState saved;
  saved.config_yaml = record["config"].get<std::string>();
  const auto diffs = trainer::resume_differences(saved, cfg, "", saved.world_size);
  if (!diffs.empty())
    throw UserError((run_dir / kStudyFile).string() + ": training finished with other settings:\n  " + join(diffs, "\n  "),
                    "use another run_dir, or train again with --redo train");
}

struct StageSet {
  std::vector<std::string> enabled, redo;
  bool on(const std::string& s) const { return std::find(enabled.begin(), enabled.end(), s) != enabled.end(); }
  // Redo `s` when it or an earlier stage is named in --redo.
  bool redo_of(const std::string& s) const {
    const auto& names = study_stage_names();
    for (const auto& r : redo)
      if (std::find(names.begin(), names.end(), r) <= std::find(names.begin(), names.end(), s)) return true;
    return false;
  }
};

// synth: the phantom pack, made by rank 0 (all cores) when data.pack has no manifest.json.
void stage_synth(const Config& cfg, comm::Communicator& world, const StageSet& stages, const StudyOptions& o,
                 std::vector<std::string>& lines) {
  if (cfg.data.pack.empty()) throw UserError("data.pack is not set", "--set data.pack=DIR (an existing pack, or where to synthesize one)");
  const fs::path manifest = fs::path(cfg.data.pack) / "manifest.json";
  const bool present = world.broadcast_string(fs::exists(manifest) ? "1" : "0", 0) == "1";
  if (present) {
    lines.push_back("synth: " + cfg.data.pack + " exists (not redone)");
    return;
  }
  if (!stages.on("synth"))
    throw UserError("data.pack '" + cfg.data.pack + "' has no manifest.json and study.stages leaves out synth",
                    "make the pack (cxrtrain pack / synth), or add synth to study.stages");
  const auto t0 = Clock::now();
  std::string summary;
  comm::on_root_only(world, [&] {
    data::SynthOptions s;
    s.out = cfg.data.pack;
    s.n = cfg.study.synth.n;
    s.size = cfg.study.synth.size;
    s.seed = static_cast<uint64_t>(cfg.study.synth.seed);
    s.label_noise = cfg.study.synth.label_noise;
    s.findings = cfg.study.synth.findings;
    s.shortcuts = split_list(cfg.study.synth.shortcut);
    s.jobs = 0;
    s.progress = o.progress;
    s.command_line = o.command_line;
    spdlog::info("study: synthesizing the phantom pack {} ({} images of {} px)", s.out, s.n, s.size);
    const data::SynthResult r = data::run_synth(s);
    summary = fixed(r.seconds, 1) + " s, " + fixed(r.images_per_second, 1) + " img/s";
  });
  lines.push_back("synth: " + std::to_string(cfg.study.synth.n) + " phantom images of " +
                  std::to_string(cfg.study.synth.size) + " px into " + cfg.data.pack + " (" +
                  (summary.empty() ? fixed(seconds_since(t0), 1) + " s" : summary) + ")");
}

// One model: train, evaluate and (when asked) gradcam and report, in cfg.run_dir, over `comm`.
struct SeedWork {
  bool gradcam = true, robustness = true, report = true;
};

bool run_seed(const Config& cfg, comm::Communicator& comm, const StageSet& stages, const StudyOptions& o,
              const SeedWork& work, std::vector<std::string>& out_lines, std::string* report_path) {
  struct Lines {  // every line is also logged as it happens (a seed group's rank 0 logs its own seeds)
    std::vector<std::string>& v;
    void push_back(const std::string& l) {
      spdlog::info("study: {}", l);
      v.push_back(l);
    }
  } lines{out_lines};
  const fs::path run_dir = cfg.run_dir;
  const std::string tag = "seed " + std::to_string(cfg.seed) + ": ";
  json record = shared_record(comm, run_dir);
  bool ran = false;
  auto skip = [&](const std::string& stage) {
    if (!stages.on(stage)) return true;
    if (finished(record, stage) && !stages.redo_of(stage)) {
      lines.push_back(tag + stage + ": finished " + record["stages"][stage].value("finished_utc", std::string("earlier")) +
                      " (not redone)");
      return true;
    }
    return false;
  };

  if (!skip("train")) {
    const auto t0 = Clock::now();
    trainer::TrainEnv te;
    te.local_rank = o.local_rank;
    te.threads = o.threads;
    te.resume = "auto";  // a study started again continues its training from last.pt
    const trainer::TrainSummary s = trainer::train(cfg, comm, te);
    json d = {{"seconds", seconds_since(t0)}, {"steps", s.steps}, {"images_per_second", s.images_per_second}};
    if (s.best_val_auroc) d["best_val_macro_auroc"] = *s.best_val_auroc;
    record_finished(comm, run_dir, "train", d, to_yaml(cfg));
    lines.push_back(tag + "train: " + std::to_string(s.steps) + " steps at " + fixed(s.images_per_second, 1) + " img/s" +
                    (s.best_val_auroc ? ", best validation macro AUROC " + fixed(*s.best_val_auroc, 3) : std::string()) +
                    " (" + fixed(seconds_since(t0), 1) + " s)");
    ran = true;
    record = shared_record(comm, run_dir);
  } else if (finished(record, "train")) {
    check_same_training(record, cfg, run_dir);
  }

  if (!skip("evaluate")) {
    const auto t0 = Clock::now();
    eval::RunEvaluationOptions eo;
    eo.run_dir = cfg.run_dir;
    std::string out;
    const json m = eval::evaluate_run(cfg, comm, o.local_rank, eo, &out);
    json d = {{"seconds", seconds_since(t0)}, {"out", out}};
    if (comm.rank() == 0) {
      const json& macro = m["macro"];
      std::string text = tag + "evaluate: split " + cfg.eval.split + ", ";
      if (macro["auroc"].is_number()) {
        d["macro_auroc"] = macro["auroc"];
        text += "macro AUROC " + fixed(macro["auroc"].get<double>(), 3);
        if (macro["auroc_ci95_bootstrap"].is_array())
          text += " [" + fixed(macro["auroc_ci95_bootstrap"][0].get<double>(), 3) + ", " +
                  fixed(macro["auroc_ci95_bootstrap"][1].get<double>(), 3) + "]";
      } else {
        text += "macro AUROC n/a";
      }
      lines.push_back(text + " -> " + out + " (" + fixed(seconds_since(t0), 1) + " s)");
    }
    record_finished(comm, run_dir, "evaluate", d);
    ran = true;
    record = shared_record(comm, run_dir);
  }

  if (work.gradcam && !skip("gradcam")) {
    const auto t0 = Clock::now();
    eval::GradcamOptions g;
    g.run_dir = cfg.run_dir;
    g.per_class = cfg.study.gradcam_per_class;
    g.counterfactual_images = cfg.study.gradcam_counterfactual_images;
    g.lesion_images = cfg.study.gradcam_lesion_images;
    g.deletion_images = cfg.study.gradcam_deletion_images;
    g.progress = o.progress;
    std::string out;
    const json s = eval::run_gradcam(cfg, comm, o.local_rank, g, &out);
    if (comm.rank() == 0) {
      std::vector<std::string> flagged;
      for (const auto& [name, c] : s["classes"].items())
        if (c.value("shortcut_flag", false)) flagged.push_back(name);
      lines.push_back(tag + "gradcam: " + std::to_string(s["n_images"].get<int64_t>()) + " images, shortcut flags: " +
                      (flagged.empty() ? std::string("none") : join(flagged, ", ")) + " -> " + out + " (" +
                      fixed(seconds_since(t0), 1) + " s)");
    }
    record_finished(comm, run_dir, "gradcam", {{"seconds", seconds_since(t0)}, {"out", out}});
    ran = true;
    record = shared_record(comm, run_dir);
  }

  if (work.robustness && !skip("robustness")) {
    const auto t0 = Clock::now();
    eval::ProbeShiftOptions p;
    p.run_dir = cfg.run_dir;
    p.attack_images = cfg.study.robustness_attack_images;
    p.extra = split_list(cfg.study.robustness_extra);
    p.extra_origin = "study.robustness_extra";
    std::string out;
    const json r = eval::probe_shift(cfg, comm, o.local_rank, p, &out);
    if (comm.rank() == 0) {
      int conditions = 0, with_drops = 0;
      for (const auto& c : r["conditions"]) {
        ++conditions;
        with_drops += !c["significant_drops"].empty();
      }
      lines.push_back(tag + "robustness: " + std::to_string(conditions) + " conditions, " + std::to_string(with_drops) +
                      " with a significant AUROC drop -> " + out + " (" + fixed(seconds_since(t0), 1) + " s)");
    }
    record_finished(comm, run_dir, "robustness", {{"seconds", seconds_since(t0)}, {"out", out}});
    ran = true;
    record = shared_record(comm, run_dir);
  }

  if (work.report && (ran || !skip("report")) && stages.on("report")) {
    std::string index;
    comm::on_root_only(comm, [&] {
      report::ReportOptions r;
      r.run_dir = cfg.run_dir;
      index = report::write_report(r).index_html;
    });
    record_finished(comm, run_dir, "report", {{"index_html", index}});
    if (comm.rank() == 0) {
      lines.push_back(tag + "report: " + index);
      if (report_path) *report_path = index;
    }
    ran = true;
  } else if (work.report && stages.on("report") && comm.rank() == 0 && report_path && finished(record, "report")) {
    *report_path = record["stages"]["report"].value("index_html", std::string());
  }
  return ran;
}

// Rank 0 of a K-seed study: the seeds' predictions on the evaluated split, aligned to the pack's order.
json seeds_summary(const Config& cfg, int seeds) {
  const data::PackSplit split(cfg.data.pack, cfg.eval.split);
  const auto& meta = split.meta();
  std::unordered_map<std::string, size_t> row_of;
  for (size_t r = 0; r < meta.size(); ++r) row_of.emplace(meta[r].image_index, r);
  eval::SeedVarianceInput in;
  in.split = cfg.eval.split;
  for (const auto& m : meta) {
    in.image_index.push_back(m.image_index);
    in.labels.insert(in.labels.end(), m.labels.begin(), m.labels.end());
  }
  const size_t k = data::kNumClasses;
  for (int i = 0; i < seeds; ++i) {
    const std::string dir = seed_run_dir(cfg, i);
    const std::string file = (fs::path(dir) / "eval" / cfg.eval.split / "predictions.csv").string();
    const eval::PredictionRows rows = eval::read_predictions(file);
    if (rows.image_index.size() != meta.size())
      throw UserError(file + " has " + std::to_string(rows.image_index.size()) + " rows; split '" + cfg.eval.split +
                          "' has " + std::to_string(meta.size()) + " images",
                      "evaluate the seed again: cxrtrain study ... --redo evaluate");
    eval::SeedScores s;
    s.seed = cfg.seed + i;
    s.run_dir = dir;
    s.probability.assign(meta.size() * k, 0.0);
    for (size_t r = 0; r < rows.image_index.size(); ++r) {
      auto it = row_of.find(rows.image_index[r]);
      if (it == row_of.end())
        throw UserError(file + ": image '" + rows.image_index[r] + "' is not in split '" + cfg.eval.split + "'",
                        "the seeds must be evaluated on the same pack and split");
      std::copy_n(rows.probability.begin() + static_cast<std::ptrdiff_t>(r * k), k,
                  s.probability.begin() + static_cast<std::ptrdiff_t>(it->second * k));
    }
    in.seeds.push_back(std::move(s));
  }
  return eval::seed_variance(in);
}

}  // namespace

std::vector<std::string> parse_stages(const std::string& list, const std::string& origin) {
  const auto& names = study_stage_names();
  std::vector<std::string> out;
  for (const auto& s : split_list(list)) {
    if (std::find(names.begin(), names.end(), s) == names.end())
      throw UserError(origin + ": '" + s + "' is not a stage; did you mean '" + nearest(s, names) + "'?",
                      "stages: " + join(names, ", "));
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  return out;
}

SeedPlan plan_seed_groups(int seeds, int world_size, int world_rank, int groups) {
  if (seeds < 1) throw UserError("--seeds must be >= 1, got " + std::to_string(seeds));
  if (groups == 0) groups = std::min(seeds, world_size);
  if (groups < 1 || groups > std::min(seeds, world_size) || world_size % groups != 0)
    throw UserError("--groups " + std::to_string(groups) + " does not fit " + std::to_string(seeds) + " seeds on " +
                        std::to_string(world_size) + " ranks",
                    "groups must divide the rank count and be at most min(seeds, ranks); 0 picks min(seeds, ranks)");
  SeedPlan p;
  p.groups = groups;
  p.group_size = world_size / groups;
  p.group = world_rank / p.group_size;
  p.group_rank = world_rank % p.group_size;
  for (int s = p.group; s < seeds; s += groups) p.seed_indices.push_back(s);
  return p;
}

std::string seed_run_dir(const Config& config, int seed_index) {
  return (fs::path(config.run_dir) / "seeds" / ("seed_" + std::to_string(config.seed + seed_index))).string();
}

StudyResult run_study(const Config& cfg, comm::Communicator& world, const StudyOptions& o) {
  StageSet stages;
  stages.enabled = parse_stages(cfg.study.stages, "study.stages");
  // Checked before any training, so a typo does not surface only at the robustness stage.
  for (const auto& e : split_list(cfg.study.robustness_extra)) data::parse_shift_assignment(e, "study.robustness_extra");
  for (const auto& r : o.redo) {
    const auto one = parse_stages(r, "--redo");
    stages.redo.insert(stages.redo.end(), one.begin(), one.end());
  }
  const int seeds = o.seeds > 0 ? o.seeds : cfg.study.seeds;
  StudyResult result;
  std::vector<std::string> lines;
  const auto t0 = Clock::now();

  stage_synth(cfg, world, stages, o, lines);
  const size_t n_head = lines.size();

  if (seeds == 1) {
    run_seed(cfg, world, stages, o, SeedWork{}, lines, &result.report);
    lines.push_back("study: " + fixed(seconds_since(t0), 1) + " s");
    if (world.rank() == 0) result.lines = lines;
    return result;
  }

  // K seeds: groups of consecutive ranks, each training its seeds one after another.
  const SeedPlan plan = plan_seed_groups(seeds, world.size(), world.rank(), o.groups);
  std::unique_ptr<comm::Communicator> group = world.split(plan.group, world.rank());
  if (world.rank() == 0)
    spdlog::info("study: {} seeds on {} ranks: {} group(s) of {} rank(s), group g trains seeds g, g+{}, ...", seeds,
                 world.size(), plan.groups, plan.group_size, plan.groups);
  bool ran = false;
  for (int i : plan.seed_indices) {
    Config c = cfg;
    c.seed = cfg.seed + i;
    c.run_dir = seed_run_dir(cfg, i);
    LogOptions lo;
    lo.rank = plan.group_rank;
    lo.world_size = plan.group_size;
    lo.group = "seed " + std::to_string(c.seed);
    init_logging(lo);  // each group's rank 0 logs its own seed
    SeedWork work;
    work.gradcam = i == 0;  // Grad-CAM and the robustness probes on the first seed only; the seeds' report is below
    work.robustness = i == 0;
    work.report = false;
    ran |= run_seed(c, *group, stages, o, work, lines, nullptr);
  }
  {
    LogOptions lo;
    lo.rank = world.rank();
    lo.world_size = world.size();
    init_logging(lo);
  }
  const bool any_ran = comm::all_reduce_sum_quietly(world, ran ? 1.0 : 0.0) > 0;  // every group done
  // The closing printout: each seed's record, read by rank 0 once every group is done (the
  // groups' own lines were logged as they ran).
  lines.resize(n_head);
  if (world.rank() == 0) {
    for (int i = 0; i < seeds; ++i) {
      const json r = read_record(seed_run_dir(cfg, i));
      const json st = r.value("stages", json::object());
      std::string text = "seed " + std::to_string(cfg.seed + i) + ": ";
      if (st.contains("train")) text += std::to_string(st["train"].value("steps", int64_t{0})) + " steps";
      if (st.contains("evaluate") && st["evaluate"].contains("macro_auroc"))
        text += ", " + cfg.eval.split + " macro AUROC " + fixed(st["evaluate"]["macro_auroc"].get<double>(), 3);
      if (st.contains("gradcam")) text += ", gradcam";
      lines.push_back(text + " (" + seed_run_dir(cfg, i) + ")");
    }
  }
  const fs::path top = cfg.run_dir;
  json top_record = shared_record(world, top);
  const bool report_wanted = stages.on("report");
  if (any_ran || !finished(top_record, "report") || stages.redo_of("report")) {
    comm::on_root_only(world, [&] {
      const auto ts = Clock::now();
      json summary = seeds_summary(cfg, seeds);
      summary["groups"] = {{"groups", plan.groups}, {"ranks_per_group", plan.group_size}};
      const fs::path file = top / "seeds" / "summary.json";
      fs::create_directories(file.parent_path());
      atomic_write_file(file, summary.dump(2) + "\n");
      result.seeds_summary = file.string();
      lines.push_back("seeds: " + file.string() + " (" + fixed(seconds_since(ts), 1) + " s)");
      if (report_wanted) {
        report::ReportOptions r;
        r.run_dir = seed_run_dir(cfg, 0);
        r.out_dir = (top / "report").string();
        r.seeds_summary = file.string();
        result.report = report::write_report(r).index_html;
        lines.push_back("report (seed " + std::to_string(cfg.seed) + " with the seed-to-seed section): " + result.report);
      }
    });
    if (report_wanted) record_finished(world, top, "report", {{"index_html", result.report}});
  } else if (world.rank() == 0) {
    result.seeds_summary = (top / "seeds" / "summary.json").string();
    result.report = top_record["stages"]["report"].value("index_html", std::string());
    lines.push_back("seeds and report: finished earlier (not redone)");
  }
  lines.push_back("study: " + fixed(seconds_since(t0), 1) + " s");
  if (world.rank() == 0) result.lines = lines;
  return result;
}

}  // namespace cxr::launch
