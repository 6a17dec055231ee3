// Resume policy (see resume.h).
#include "trainer/resume.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/strings.h"

namespace cxr::trainer {

namespace fs = std::filesystem;

namespace {

constexpr const char* kWorldSize = "world_size";

std::string first_key(const std::string& line) { return line.substr(0, line.find(':')); }

}  // namespace

const std::vector<std::string>& resume_free_keys() {
  // Not train.threads: on the CPU the thread count can change how reductions are split, and so the bits.
  static const std::vector<std::string> keys = {"run_dir",         "data.pack",       "data.verify",
                                                "loader.workers",  "loader.prefetch", "train.checkpoint_every",
                                                "train.collective_timeout_s", "eval.split", "eval.threshold_split",
                                                "eval.target_sensitivity", "eval.bootstrap", "eval.threads",
                                                "log.all_ranks"};
  return keys;
}

std::vector<std::string> parse_resume_force(const std::string& list) {
  std::vector<std::string> valid = config_keys();
  valid.emplace_back(kWorldSize);
  std::vector<std::string> out;
  for (const auto& key : split_list(list)) {
    if (std::find(valid.begin(), valid.end(), key) == valid.end())
      throw UserError("--resume-force: '" + key + "' is not a config key; did you mean '" + nearest(key, valid) + "'?",
                      "name the keys the refusal listed, separated by commas");
    out.push_back(key);
  }
  return out;
}

std::vector<std::string> resume_candidates(const std::string& run_dir, const std::string& resume) {
  if (resume.empty()) return {};
  if (resume != "auto") {
    if (!fs::exists(resume)) throw UserError("--resume '" + resume + "' does not exist", "use --resume auto");
    return {resume};
  }
  const std::string last = (fs::path(run_dir) / "checkpoints" / "last.pt").string();
  std::vector<std::string> out;
  for (const std::string& p : {last, previous_checkpoint_path(last)})
    if (fs::exists(p)) out.push_back(p);
  return out;
}

std::vector<std::string> resume_differences(const TrainState& saved, const Config& now, const std::string& pack_sha256,
                                            int world_size) {
  std::vector<std::string> diffs;
  const auto old_values = yaml_values(saved.config_yaml, "the checkpoint's config");
  const auto defaults = config_values(Config{});
  const auto& free = resume_free_keys();
  const auto current = config_values(now);
  for (size_t i = 0; i < current.size(); ++i) {
    const auto& [key, value] = current[i];
    if (std::find(free.begin(), free.end(), key) != free.end()) continue;
    if (key.rfind("study.", 0) == 0) continue;  // the study's later stages and its phantom: not the model
    auto it = old_values.find(key);
    // A key the checkpoint's version did not have ran at what is now its default.
    const std::string& old = it != old_values.end() ? it->second : defaults[i].second;
    if (old != value) diffs.push_back(key + ": checkpoint " + old + ", now " + value);
  }
  if (!saved.pack_sha256.empty() && saved.pack_sha256 != pack_sha256)
    diffs.push_back("data.pack: another pack (manifest.json sha256 " + saved.pack_sha256.substr(0, 12) + "... in the checkpoint, " +
                    pack_sha256.substr(0, 12) + "... now)");
  if (saved.world_size != world_size)
    diffs.push_back(std::string(kWorldSize) + ": checkpoint " + std::to_string(saved.world_size) + " ranks, now " +
                    std::to_string(world_size) + " (the per-rank batches and reduction order depend on it)");
  return diffs;
}

std::vector<std::string> check_resume(const TrainState& saved, const std::string& checkpoint, const Config& now,
                                      const std::string& pack_sha256, int world_size,
                                      const std::vector<std::string>& forced) {
  std::vector<std::string> refused, accepted;
  for (const auto& d : resume_differences(saved, now, pack_sha256, world_size)) {
    const std::string key = first_key(d);
    (std::find(forced.begin(), forced.end(), key) != forced.end() ? accepted : refused).push_back(d);
  }
  if (!refused.empty()) {
    std::vector<std::string> keys;
    for (const auto& d : refused) keys.push_back(first_key(d));
    throw ResumeRefused("cannot resume from '" + checkpoint + "': " + std::to_string(refused.size()) +
                        " setting(s) that change the result differ from the run's:\n  " + join(refused, "\n  "),
                    "resume with the run's settings, or accept the change explicitly with --resume-force " +
                        join(keys, ","));
  }
  return accepted;
}

}  // namespace cxr::trainer
