// `cxrtrain probe-shift` (see probe_shift.h).
#include "eval/probe_shift.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include "comm/communicator.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/random.h"
#include "core/run_dir.h"
#include "core/strings.h"
#include "data/classes.h"
#include "data/image_shift.h"
#include "data/manifest.h"
#include "data/pack_reader.h"
#include "data/phantom_replay.h"
#include "data/preprocess.h"
#include "data/scanner_shift.h"
#include "eval/robustness.h"
#include "trainer/adversarial.h"
#include "trainer/checkpoint.h"
#include "trainer/inference.h"
#include "trainer/model_setup.h"

namespace cxr::eval {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

constexpr int K = data::kNumClasses;
constexpr uint64_t kNoiseStream = 0x5'41f7ULL;  // the image shifts' per-image noise seeds

using RawTransform = std::function<void(int64_t row, uint8_t* image, int size)>;

struct Planned {
  RobustnessCondition meta;            // without scores
  RawTransform transform;              // image and phantom conditions
  std::optional<trainer::AttackOptions> attack;
};

bool wants(const std::vector<std::string>& list, const std::string& name) {
  for (const auto& s : list)
    if (s == "all" || s == name) return true;
  return false;
}

bool none(const std::vector<std::string>& list) { return list.size() == 1 && list[0] == "none"; }

// Checks a list of names against the known ones ("all" / "none" alone are allowed).
void check_names(const std::vector<std::string>& list, const std::vector<std::string>& known, const std::string& flag) {
  if (list.empty()) throw UserError(flag + " is empty", "give names, 'all' or 'none'");
  for (const auto& s : list) {
    if (s == "all" || s == "none") {
      if (list.size() > 1) throw UserError(flag + ": '" + s + "' must stand alone", "e.g. " + flag + " all");
      continue;
    }
    bool found = false;
    for (const auto& k : known) found = found || k == s;
    if (!found)
      throw UserError(flag + ": unknown name '" + s + "' (did you mean '" + nearest(s, known) + "'?)",
                      "known: " + join(known, ", ") + "; or all, none");
  }
}

std::string fmt_param(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Rows spread evenly over the split (deterministic), for the attacks' subset.
std::vector<int64_t> spread_rows(int64_t n, int64_t k) {
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < k; ++i) rows.push_back(i * n / k);
  return rows;
}

std::vector<double> as_vector(const torch::Tensor& logits) {
  const torch::Tensor c = logits.contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

RobustnessSplit split_scores(const std::string& name, const data::PackSplit& split, const std::vector<int64_t>& rows,
                             std::vector<double> baseline) {
  RobustnessSplit s;
  s.name = name;
  const auto add = [&](int64_t r) {
    const auto& l = split.meta()[static_cast<size_t>(r)].labels;
    s.labels.insert(s.labels.end(), l.begin(), l.end());
  };
  if (rows.empty())
    for (int64_t r = 0; r < split.size(); ++r) add(r);
  else
    for (int64_t r : rows) add(r);
  s.baseline = std::move(baseline);
  return s;
}

}  // namespace

json probe_shift(const Config& cfg, comm::Communicator& world, int local_rank, const ProbeShiftOptions& o,
                 std::string* out_dir) {
  const auto t0 = std::chrono::steady_clock::now();
  // --- options, checked on every rank before anything is scored -------------------------------------------
  check_names(o.shifts, data::shift_names(), "--shifts");
  check_names(o.scanner, data::scanner_shift_names(), "--scanner");
  std::vector<std::string> attack_names = {"fgsm", "pgd"};
  check_names(o.attacks, attack_names, "--attacks");
  for (int s : o.severities)
    if (s < 1 || s > data::kMaxShiftSeverity)
      throw UserError("--severities: " + std::to_string(s) + " is outside 1.." + std::to_string(data::kMaxShiftSeverity),
                      "severity 0 is the unshifted baseline, always scored");
  for (double e : o.epsilons)
    if (!(e > 0) || e > 255) throw UserError("--epsilons: " + fmt_param(e) + " is outside (0, 255]", "grey levels, e.g. 0.5,1,2,4");
  if (o.pgd_steps < 1 || o.pgd_steps > 1000) throw UserError("--pgd-steps must be in 1..1000");
  if (o.attack_images < 0) throw UserError("--attack-images must be >= 0 (0 = the whole split)");

  const std::string split_name = o.split.empty() ? cfg.eval.split : o.split;
  const data::Manifest manifest = data::read_manifest(cfg.data.pack);
  manifest.split(split_name);  // UserError naming the splits there are
  auto split = std::make_shared<const data::PackSplit>(cfg.data.pack, split_name);

  std::vector<Planned> plan;
  auto plan_shift = [&](data::ShiftSpec spec, const std::string& description) {
    const double parameter = data::effective_shift_parameter(spec);  // UserError for a bad parameter
    const data::ShiftInfo& info = data::shift_info(spec.kind);
    Planned p;
    p.meta.family = "shift";
    p.meta.name = info.name;
    p.meta.severity = spec.severity;
    p.meta.parameter = parameter;
    p.meta.unit = info.unit;
    p.meta.split = split_name;
    p.meta.description = description;
    const uint64_t base_seed = mix_seed(static_cast<uint64_t>(cfg.seed), kNoiseStream);
    p.transform = [spec, base_seed](int64_t row, uint8_t* image, int s) {
      data::ShiftSpec mine = spec;
      mine.seed = mix_seed(base_seed, static_cast<uint64_t>(row));  // each image its own noise, on any rank
      data::apply_shift(mine, image, image, s);
    };
    plan.push_back(std::move(p));
  };
  if (!none(o.shifts))
    for (const auto& info : data::shift_table())
      if (wants(o.shifts, info.name))
        for (int s : o.severities) {
          data::ShiftSpec spec;
          spec.kind = info.kind;
          spec.severity = s;
          plan_shift(spec, std::string(info.name) + " severity " + std::to_string(s) + ": " + fmt_param(info.parameter[s]) +
                               " (" + info.unit + ")");
        }
  for (const auto& e : o.extra) {
    const data::ShiftSpec spec = data::parse_shift_assignment(e, o.extra_origin);
    const data::ShiftInfo& info = data::shift_info(spec.kind);
    plan_shift(spec, std::string(info.name) + " at " + fmt_param(spec.parameter) + " (" + info.unit + ")");
    plan.back().meta.severity = 0;  // an explicit parameter, not a tabulated severity
  }

  // Phantom packs: scanner re-renderings and the planted markers.
  std::shared_ptr<const data::PhantomReplay> replay;
  std::shared_ptr<const data::PackSplit> shortcut_split;
  if (manifest.source == "phantom" && (!none(o.scanner) || o.shortcuts)) {
    replay = std::make_shared<const data::PhantomReplay>(cfg.data.pack);
    auto rerender = [replay](std::shared_ptr<const data::PackSplit> sp,
                             std::function<data::PhantomReplay::Variant(const data::SynthRecord&)> variant) -> RawTransform {
      return [replay, sp, variant](int64_t row, uint8_t* image, int) {
        const data::SynthRecord& r = replay->record(sp->meta()[static_cast<size_t>(row)].image_index);
        replay->render(r, variant(r), image, nullptr, nullptr);
      };
    };
    if (!none(o.scanner))
      for (const auto& info : data::scanner_shift_table())
        if (wants(o.scanner, info.name))
          for (int s : o.severities) {
            Planned p;
            p.meta.family = "scanner";
            p.meta.name = info.name;
            p.meta.severity = s;
            p.meta.parameter = info.parameter[static_cast<size_t>(s)];
            p.meta.unit = info.unit;
            p.meta.split = split_name;
            p.meta.description = data::scanner_shift_description(info.kind, s);
            const data::ScannerShift kind = info.kind;
            p.transform = rerender(split, [kind, s](const data::SynthRecord& r) { return data::scanner_variant(kind, s, r); });
            plan.push_back(std::move(p));
          }
    const auto& specs = replay->plan().shortcuts;
    bool has_split = false;
    for (const auto& sm : manifest.splits) has_split = has_split || sm.name == o.shortcut_split;
    if (o.shortcuts && !specs.empty() && !has_split)
      spdlog::warn("the pack has no split '{}': the planted-marker probes are skipped", o.shortcut_split);
    if (o.shortcuts && !specs.empty() && has_split) {
      shortcut_split = o.shortcut_split == split_name ? split
                                                      : std::make_shared<const data::PackSplit>(cfg.data.pack, o.shortcut_split);
      for (size_t s = 0; s < specs.size(); ++s)
        for (bool remove : {false, true}) {
          Planned p;
          p.meta.family = "shortcut";
          p.meta.name = std::string(remove ? "removed:" : "independent:") + specs[s].text;
          p.meta.parameter = remove ? 0 : replay->plan().train_marker_rate[s];
          p.meta.unit = "marker rate";
          p.meta.split = o.shortcut_split;
          p.meta.description =
              remove ? "the " + specs[s].text + " marker removed from every film"
                     : "the " + specs[s].text + " marker drawn on " + fmt_param(std::round(1000 * replay->plan().train_marker_rate[s]) / 10) +
                           " % of films whatever their labels (its train rate)";
          const data::SynthPlan* sp = &replay->plan();
          p.transform = rerender(shortcut_split, [sp, s, remove](const data::SynthRecord& r) {
            return data::shortcut_variant(*sp, s, remove, r);
          });
          plan.push_back(std::move(p));
        }
    }
  }

  // Attacks, on all images or a spread subset.
  std::vector<int64_t> attack_rows;
  const bool subset = o.attack_images > 0 && o.attack_images < split->size();
  if (subset) attack_rows = spread_rows(split->size(), o.attack_images);
  const std::string attack_split = subset ? split_name + "/attack-subset" : split_name;
  const data::PreprocessOptions pre = data::preprocess_options(cfg.data);
  if (!none(o.attacks))
    for (const auto& a : o.attacks)
      for (double e : o.epsilons) {
        Planned p;
        trainer::AttackOptions ao;
        ao.kind = trainer::parse_attack_name(a);
        ao.epsilon_grey = e;
        ao.steps = o.pgd_steps;
        ao.mean = pre.mean;
        ao.std = pre.std;
        p.attack = ao;
        p.meta.family = "adversarial";
        p.meta.name = a;
        p.meta.parameter = e;
        p.meta.unit = "epsilon, grey levels of 255";
        p.meta.split = attack_split;
        p.meta.description = a == "fgsm" ? "FGSM, epsilon " + fmt_param(e) + "/255"
                                         : "PGD, " + std::to_string(o.pgd_steps) + " steps, epsilon " + fmt_param(e) + "/255";
        plan.push_back(std::move(p));
      }
  if (plan.empty()) throw UserError("nothing to probe: every family is switched off", "drop a 'none' (see --help)");

  // --- the model ---------------------------------------------------------------------------------------------
  bool fell_back = false;
  const std::string checkpoint = run_checkpoint(o.run_dir, o.checkpoint, &fell_back);
  if (fell_back) spdlog::info("{} has no best.pt: probing last.pt", o.run_dir);
  const torch::Device device = trainer::pick_device(cfg, local_rank);
  trainer::ResNet model = trainer::build_model(cfg, device);
  const trainer::TrainState state = trainer::load_model_state(checkpoint, *model);
  model->eval();
  trainer::ScoringOptions so;
  so.preprocess = pre;
  so.batch_per_rank = cfg.eval.batch_size;
  so.workers = cfg.loader.workers;
  so.prefetch = cfg.loader.prefetch;
  so.bf16 = cfg.train.precision == "bf16";
  so.format = trainer::input_memory_format(cfg);
  const bool root = world.rank() == 0;
  if (root)
    spdlog::info("probing {} (step {}) on split '{}' ({} images): {} conditions on {} ranks", checkpoint, state.step,
                 split_name, split->size(), plan.size(), world.size());

  RobustnessTable table(0.05);
  int64_t scored = 0;
  auto score = [&](const std::shared_ptr<const data::PackSplit>& sp, const trainer::ScoringOptions& opts) {
    torch::Tensor z = trainer::score_split(model, sp, world, device, opts);
    scored += z.size(0);
    return as_vector(z);
  };
  const std::vector<double> base = score(split, so);
  table.add_split(split_scores(split_name, *split, {}, base));
  if (subset) {
    std::vector<double> sub;
    for (int64_t r : attack_rows) sub.insert(sub.end(), base.begin() + r * K, base.begin() + (r + 1) * K);
    table.add_split(split_scores(attack_split, *split, attack_rows, std::move(sub)));
  }
  if (shortcut_split && shortcut_split != split)
    table.add_split(split_scores(o.shortcut_split, *shortcut_split, {}, score(shortcut_split, so)));

  int done = 0;
  for (auto& p : plan) {
    const auto tc = std::chrono::steady_clock::now();
    trainer::ScoringOptions c = so;
    const auto& sp = p.meta.family == "shortcut" ? shortcut_split : split;
    c.raw_transform = p.transform;
    if (p.attack) {
      const trainer::AttackOptions ao = *p.attack;
      trainer::ResNet& m = model;
      c.perturb = [&m, ao](const torch::Tensor& x, const torch::Tensor& y) {
        return trainer::adversarial_images([&m](const torch::Tensor& in) { return m->forward(in); }, x, y, ao);
      };
      c.rows = attack_rows;
    }
    p.meta.scores = score(sp, c);
    table.add(p.meta);
    p.meta.scores.clear();
    ++done;
    if (root) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - tc).count();
      spdlog::info("[{}/{}] {} {}{} on {}: {:.1f} s", done, plan.size(), p.meta.family, p.meta.name,
                   p.meta.severity ? " s" + std::to_string(p.meta.severity) : " " + fmt_param(p.meta.parameter),
                   p.meta.split, secs);
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!root) return nullptr;

  json out = table.to_json();
  json result;
  result["schema"] = out["schema"];
  result["model"] = {{"run_dir", o.run_dir}, {"checkpoint", checkpoint}, {"step", state.step}, {"pack", cfg.data.pack},
                     {"pack_manifest_sha256", data::manifest_sha256(cfg.data.pack)}, {"ranks", world.size()}};
  for (auto it = out.begin(); it != out.end(); ++it)
    if (it.key() != "schema") result[it.key()] = it.value();
  if (!none(o.attacks))
    result["adversarial"] = {{"steps_pgd", o.pgd_steps},
                             {"step_size", "FGSM: one step of epsilon; PGD: from FGSM's point, steps of 2.5 * epsilon / steps, the best "
                                           "visited point per image"},
                             {"loss", "logit margin: sum over classes of (1 - 2y) * logit (positives pushed down, negatives up)"},
                             {"epsilon_unit", "grey levels of the 0..255 model input, after resizing, before normalisation"},
                             {"images", subset ? o.attack_images : split->size()}};
  result["seconds"] = {{"total", seconds}, {"per_condition", seconds / static_cast<double>(plan.size() + 1)}};
  result["images_per_second"] = static_cast<double>(scored) / seconds;
  result["note"] = "a robustness probe, not a security claim";
  const fs::path dir = o.out_dir.empty() ? fs::path(o.run_dir) / "robustness" : fs::path(o.out_dir);
  fs::create_directories(dir);
  atomic_write_file(dir / "robustness.json", result.dump(2) + "\n");
  if (out_dir) *out_dir = dir.string();
  return result;
}

}  // namespace cxr::eval
