// What `--resume` may continue, and from which file. A checkpoint records the resolved config, the
// pack's identity (sha256 of manifest.json) and the world size; resuming with anything that changes
// the result (pack, model, batch, learning rate, schedule, seed, world size...) is refused, naming each
// difference, unless the user names it in --resume-force. Only keys that cannot change the numbers
// (below) may differ freely. A last.pt that fails to load falls back to last.prev.pt.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "trainer/checkpoint.h"

namespace cxr::trainer {

// Keys that may differ on resume without --resume-force: where things are and how fast they run.
// (data.pack is compared by the pack's identity, not its path.)
const std::vector<std::string>& resume_free_keys();

// Splits "a,b,c" and checks each name (config keys, "world_size"); UserError with the nearest name.
std::vector<std::string> parse_resume_force(const std::string& list);

// The checkpoints --resume can use, in order of preference: for "auto", run_dir/checkpoints/last.pt and
// then last.prev.pt (whichever exist); for a path, that path. Empty: nothing to resume.
std::vector<std::string> resume_candidates(const std::string& run_dir, const std::string& resume);

// Differences that change the result, one line each ("train.lr: checkpoint 0.001, now 0.0003").
std::vector<std::string> resume_differences(const TrainState& saved, const Config& now, const std::string& pack_sha256,
                                            int world_size);
// Refusing to resume: a setting that changes the result differs (never a reason to fall back to an
// older checkpoint).
class ResumeRefused : public UserError {
 public:
  using UserError::UserError;
};

// Throws ResumeRefused listing the differences not named in `forced`; returns the forced ones that differed.
std::vector<std::string> check_resume(const TrainState& saved, const std::string& checkpoint, const Config& now,
                                      const std::string& pack_sha256, int world_size,
                                      const std::vector<std::string>& forced);

}  // namespace cxr::trainer
