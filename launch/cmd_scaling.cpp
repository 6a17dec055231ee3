// `cxrtrain scaling`: a weak/strong scaling sweep. One process runs `cxrtrain bench --steps` once per
// rank count and mode (under the launcher, e.g. mpirun), collects the bench JSONs into scaling.json,
// scaling.md and scaling.svg, and runs the α–β model (scaling_model.h) past one machine.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>

#include "core/config.h"
#include "core/error.h"
#include "core/fs.h"
#include "data/manifest.h"
#include "launch/commands.h"
#include "launch/scaling_model.h"
#include "launch/scaling_probe.h"
#include "launch/scaling_report.h"

namespace cxr::launch {

namespace {

namespace fs = std::filesystem;

struct ScalingArgs {
  std::string config, out, mode = "both", launcher, from, ranks_text = "1,2";
  std::vector<std::string> overrides, networks;
  int64_t steps = 10, warmup = 3;
  bool model_only = false;
  double compute_ms = 0, backward_ms = 0, exposed_fraction = 0.05;
  int max_ranks = 1024;
};

std::string compact(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string self_exe() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot find the path of this cxrtrain (/proc/self/exe): " + ec.message());
  return p.string();
}

std::string default_launcher() {
  std::string l = "mpirun --oversubscribe -np {ranks}";
  if (::geteuid() == 0) l += " --allow-run-as-root";
  return l;
}

std::vector<int> parse_ranks(const std::string& text) {
  std::set<int> r;
  std::string item;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] != ',') {
      item += text[i];
      continue;
    }
    try {
      size_t used = 0;
      const int v = std::stoi(item, &used);
      if (used != item.size() || v < 1) throw std::invalid_argument(item);
      r.insert(v);
    } catch (const std::exception&) {
      throw UserError("--ranks: '" + item + "' is not a positive rank count", "e.g. --ranks 1,2,4,8");
    }
    item.clear();
  }
  r.insert(1);  // efficiency is relative to 1 rank
  return {r.begin(), r.end()};
}

std::vector<std::string> parse_networks(const std::vector<std::string>& given) {
  std::vector<std::string> out;
  for (const auto& g : given) {
    std::string item;
    for (size_t i = 0; i <= g.size(); ++i) {
      if (i < g.size() && g[i] != ',') {
        item += g[i];
        continue;
      }
      if (!item.empty()) out.push_back(item);
      item.clear();
    }
  }
  if (out.empty()) out = network_preset_names();
  for (const auto& n : out) {
    try {
      network_preset(n);
    } catch (const std::invalid_argument& e) {
      throw UserError(std::string("--network: ") + e.what(), "pick presets from that list, comma-separated");
    }
  }
  return out;
}

// Runs one bench under the launcher; its output goes to `log`. Returns the bench JSON.
nlohmann::json run_bench(const ScalingArgs& a, const std::string& exe, int ranks, int global_batch,
                         const fs::path& json_path, const fs::path& log) {
  std::string cmd;
  if (ranks > 1) {
    std::string l = a.launcher.empty() ? default_launcher() : a.launcher;
    const size_t at = l.find("{ranks}");
    if (at == std::string::npos)
      throw UserError("--launcher '" + l + "' has no {ranks}", "e.g. --launcher \"srun -n {ranks}\"");
    l.replace(at, 7, std::to_string(ranks));
    cmd = l + " ";
  }
  cmd += shell_quote(exe) + " bench --config " + shell_quote(a.config);
  for (const auto& o : a.overrides) cmd += " --set " + shell_quote(o);
  cmd += " --set train.global_batch=" + std::to_string(global_batch) + " --steps " + std::to_string(a.steps) +
         " --warmup " + std::to_string(a.warmup) + " --json " + shell_quote(json_path.string());
  std::error_code ignored;
  fs::remove(json_path, ignored);
  spdlog::info("scaling: {} rank(s), global batch {}: {}", ranks, global_batch, cmd);
  const int status = std::system((cmd + " > " + shell_quote(log.string()) + " 2>&1").c_str());
  if (status != 0 || !fs::exists(json_path)) {
    std::string tail;
    std::ifstream in(log);
    std::string line;
    std::vector<std::string> lines;
    while (std::getline(in, line)) lines.push_back(line);
    for (size_t i = lines.size() > 15 ? lines.size() - 15 : 0; i < lines.size(); ++i) tail += "\n  " + lines[i];
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    throw UserError("the bench at " + std::to_string(ranks) + " rank(s) failed (exit " + std::to_string(code) +
                        "); its output is in " + log.string() + ":" + tail,
                    code == 2 ? "fix what the bench says above (a user error), then rerun"
                              : "check that the launcher works: " + (a.launcher.empty() ? default_launcher() : a.launcher));
  }
  std::ifstream in(json_path);
  return nlohmann::json::parse(in);
}

void write_outputs(const ordered_json& study, const fs::path& out) {
  fs::create_directories(out);
  atomic_write_file(out / "scaling.json", study.dump(2) + "\n");
  atomic_write_file(out / "scaling.md", render_markdown(study));
  atomic_write_file(out / "scaling.svg", render_svg(study));
  std::fputs(render_console(study).c_str(), stdout);
  std::printf("scaling report: %s (scaling.json, scaling.md, scaling.svg)\n", out.string().c_str());
  std::fflush(stdout);
}

ModelOptions model_options(const ScalingArgs& a, const std::string& source) {
  ModelOptions mo;
  mo.networks = parse_networks(a.networks);
  mo.ranks = powers_of_two(1, a.max_ranks);
  mo.exposed_fraction = a.exposed_fraction;
  mo.profile_source = source;
  return mo;
}

// --compute-ms / --backward-ms replace the profile's measured times (e.g. a documented GPU step).
void apply_overrides(const ScalingArgs& a, StepProfile& p, std::string& source) {
  if (a.compute_ms > 0) p.compute_s = 1e-3 * a.compute_ms;
  if (a.backward_ms > 0) p.backward_s = 1e-3 * a.backward_ms;
  if (a.compute_ms > 0 || a.backward_ms > 0) source += "; step times given on the command line";
  if (p.backward_s > p.compute_s)
    throw UserError("backward time exceeds the compute time of the step", "pass --compute-ms >= --backward-ms");
}

void run_model_only(const ScalingArgs& a, const Context& ctx) {
  ordered_json study;
  StepProfile profile;
  std::string source;
  if (!a.from.empty()) {
    std::ifstream in(a.from);
    if (!in) throw UserError("cannot read --from " + a.from, "pass the scaling.json of an earlier run");
    const nlohmann::json old = nlohmann::json::parse(in);
    if (old.value("schema", "") != "cxrtrain.scaling/1")
      throw UserError(a.from + " is not a cxrtrain.scaling/1 file", "pass the scaling.json that `cxrtrain scaling` wrote");
    study = ordered_json::parse(old.dump());
    const auto& runs = study["runs"];
    const auto one = std::find_if(runs.begin(), runs.end(), [](const auto& r) { return r["ranks"] == 1; });
    if (one != runs.end()) {
      profile = profile_from_run(*one);
      source = "measured at 1 rank (" + a.from + ")";
    } else {
      profile.bucket_bytes = study["model"]["profile"]["bucket_bytes"].get<std::vector<double>>();
      profile.compute_s = 1e-3 * study["model"]["profile"]["compute_ms"].get<double>();
      profile.backward_s = 1e-3 * study["model"]["profile"]["backward_ms"].get<double>();
      source = study["model"]["profile"]["source"].get<std::string>();
    }
  } else {
    if (a.config.empty())
      throw UserError("--model-only needs the model: --from DIR/scaling.json, or --config (model, bucket_mb) with "
                      "--compute-ms and --backward-ms");
    if (a.compute_ms <= 0 || a.backward_ms <= 0)
      throw UserError("--model-only --config needs the step time per GPU",
                      "pass --compute-ms and --backward-ms (measured, or documented: see docs/scaling.md)");
    const Config cfg = load_config(a.config, a.overrides);
    for (const auto& b : gradient_buckets(cfg)) profile.bucket_bytes.push_back(static_cast<double>(b.bytes));
    source = "ResNet-" + std::to_string(cfg.model.depth) + " (width " + compact(cfg.model.width) + "), buckets of " +
             compact(cfg.train.bucket_mb) + " MiB from " + a.config;
    study["schema"] = "cxrtrain.scaling/1";
    study["runs"] = ordered_json::array();
  }
  apply_overrides(a, profile, source);
  // The measured runs keep the command line that made them; the model records its own.
  study[study.contains("command_line") ? "model_command_line" : "command_line"] = ctx.command_line;
  study["model"] = model_section(profile, model_options(a, source), study["runs"]);
  write_outputs(study, a.out);
}

void run_study(const ScalingArgs& a, const Context& ctx) {
  if (a.config.empty()) throw UserError("--config is required (the bench's config)", "e.g. --config configs/phantom_demo.yaml");
  if (a.mode != "weak" && a.mode != "strong" && a.mode != "both")
    throw UserError("--mode must be weak, strong or both, not '" + a.mode + "'");
  const Config cfg = load_config(a.config, a.overrides);
  const std::vector<int> ranks = parse_ranks(a.ranks_text);
  const int g1 = cfg.train.global_batch;
  const bool weak = a.mode != "strong", strong = a.mode != "weak";

  // Check every run's batch and pack size before the first one starts (a sweep can take hours).
  const data::Manifest manifest = data::read_manifest(cfg.data.pack);
  const int64_t n = manifest.split(cfg.data.train_split).count;
  for (int p : ranks) {
    if (strong && g1 % p != 0)
      throw UserError("strong scaling: global batch " + std::to_string(g1) + " does not split over " + std::to_string(p) +
                          " ranks",
                      "pick rank counts that divide train.global_batch, or --mode weak");
    const int64_t g = weak ? int64_t{g1} * p : g1;
    if (n / g < a.warmup + a.steps)
      throw UserError("the train split of " + cfg.data.pack + " (" + std::to_string(n) + " images) gives " +
                          std::to_string(n / g) + " batches of " + std::to_string(g) + " at " + std::to_string(p) +
                          " ranks; the bench needs " + std::to_string(a.warmup + a.steps) + " inside one epoch",
                      "use a larger pack (cxrtrain synth --n ...) or fewer --steps/--warmup");
  }

  const fs::path out = a.out;
  fs::create_directories(out / "bench");
  const std::string exe = self_exe();
  ordered_json study;
  study["schema"] = "cxrtrain.scaling/1";
  study["command_line"] = ctx.command_line;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  study["host"] = std::string(host) + " (" + std::to_string(::sysconf(_SC_NPROCESSORS_ONLN)) + " cores)";
  study["config"] = a.config;
  study["overrides"] = a.overrides;
  study["launcher"] = a.launcher.empty() ? default_launcher() : a.launcher;
  study["steps"] = a.steps;
  study["warmup"] = a.warmup;
  study["mode"] = a.mode;
  study["runs"] = ordered_json::array();

  // 1 rank once: weak and strong share it.
  const nlohmann::json one =
      run_bench(a, exe, 1, g1, out / "bench" / "ranks1.json", out / "bench" / "ranks1.log");
  const double one_ips = one.at("images_per_second").get<double>();
  study["runs"].push_back(run_record(one, a.mode == "both" ? "both" : a.mode, one_ips));
  for (const std::string mode : {"weak", "strong"}) {
    if ((mode == "weak" && !weak) || (mode == "strong" && !strong)) continue;
    for (int p : ranks) {
      if (p == 1) continue;
      const std::string stem = mode + "_ranks" + std::to_string(p);
      const nlohmann::json b = run_bench(a, exe, p, mode == "weak" ? g1 * p : g1, out / "bench" / (stem + ".json"),
                                         out / "bench" / (stem + ".log"));
      study["runs"].push_back(run_record(b, mode, one_ips));
      std::printf("%s scaling, %d ranks: %.2f img/s (1 rank: %.2f), efficiency %.3f\n", mode.c_str(), p,
                  b.at("images_per_second").get<double>(), one_ips, study["runs"].back()["efficiency"].get<double>());
      std::fflush(stdout);
    }
  }
  StepProfile profile = profile_from_run(study["runs"][0]);
  std::string source = "measured at 1 rank on " + study["host"].get<std::string>();
  apply_overrides(a, profile, source);
  study["model"] = model_section(profile, model_options(a, source), study["runs"]);
  write_outputs(study, out);
}

}  // namespace

void register_scaling(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<ScalingArgs>();
  CLI::App* cmd = app.add_subcommand(
      "scaling", "Weak/strong scaling sweep of `bench --steps` over rank counts, with an alpha-beta model past one machine");
  cmd->footer(
      "Examples:\n"
      "  cxrtrain scaling --config configs/phantom_demo.yaml --set data.pack=packs/phantom128 --ranks 1,2 \\\n"
      "      --mode both --steps 10 --warmup 3 --out out/scaling\n"
      "  cxrtrain scaling --config configs/reference_study.yaml --ranks 1,2,4,8 --launcher \"srun -n {ranks}\" --out s\n"
      "  cxrtrain scaling --model-only --from out/scaling/scaling.json --network ib-ndr --out out/scaling-ndr\n"
      "  cxrtrain scaling --model-only --config configs/reference_study.yaml --compute-ms 103.6 --backward-ms 69 \\\n"
      "      --out out/scaling-resnet50\n"
      "Weak: batch per rank fixed (global batch = train.global_batch x ranks); strong: global batch fixed. The 1-rank\n"
      "run is shared and runs without the launcher. Writes scaling.json, scaling.md, scaling.svg and bench/ (each\n"
      "bench's JSON and output). The model (docs/scaling.md): ring all-reduce per bucket, T = 2(p-1)a + 2((p-1)/p)n b,\n"
      "buckets ready during backward in proportion to their bytes; efficiency = compute / (compute + exposed comm).");
  cmd->add_option("--config", a->config, "YAML config of the bench (train.global_batch = the 1-rank batch)");
  cmd->add_option("--set", a->overrides, "Override a config key (repeatable), passed on to every bench");
  cmd->add_option("--ranks", a->ranks_text, "Rank counts, comma-separated (1 is always run)")->capture_default_str();
  cmd->add_option("--mode", a->mode, "weak, strong or both")->capture_default_str();
  cmd->add_option("--steps", a->steps, "Timed steps per bench")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", a->warmup, "Warm-up steps per bench")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--launcher", a->launcher,
                  "Command that starts {ranks} ranks (default: " + default_launcher() + ")");
  cmd->add_option("--out", a->out, "Output folder")->required();
  cmd->add_flag("--model-only", a->model_only, "Run no bench: the model alone, from --from or from --config + step times");
  cmd->add_option("--from", a->from, "--model-only: the scaling.json of an earlier run (its 1-rank profile and runs)");
  cmd->add_option("--network", a->networks,
                  "Networks to model (comma-separated or repeated; default all): nvlink, nvlink-a100, ib-hdr, ib-ndr, "
                  "nvlink+ib-hdr, nvlink+ib-ndr");
  cmd->add_option("--compute-ms", a->compute_ms, "Model: step time per GPU without communication, ms (default: measured)");
  cmd->add_option("--backward-ms", a->backward_ms, "Model: its backward part, ms (default: measured)");
  cmd->add_option("--max-ranks", a->max_ranks, "Model: predict up to this many ranks (powers of two)")
      ->capture_default_str()->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--exposed-fraction", a->exposed_fraction,
                  "Model: communication 'stops hiding' when exposed comm exceeds this fraction of compute")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->callback([a, &ctx] {
    if (a->model_only) return run_model_only(*a, ctx);
    if (!a->from.empty()) throw UserError("--from goes with --model-only");
    run_study(*a, ctx);
  });
}

}  // namespace cxr::launch
