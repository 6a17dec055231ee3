// The files of a run directory that more than one command reads: the resolved configs (config.yaml for
// the first start, config.resume-N.yaml for the N-th resume), the checkpoints and the environment record.
#pragma once

#include <string>

namespace cxr {

// "config.resume-N.yaml" with the smallest N >= 1 not yet in run_dir: every resolved config is kept.
std::string next_resume_config_name(const std::string& run_dir);

// The run's latest resolved configuration: config.resume-N.yaml for the largest N of the unbroken sequence
// 1, 2, ... (as next_resume_config_name writes them), else config.yaml. UserError if there is none.
std::string latest_run_config(const std::string& run_dir);

// checkpoints/best.pt for "best" (checkpoints/last.pt when no validation chose one), checkpoints/last.pt for
// "last", else `choice` itself as a path. UserError when the file does not exist. *fell_back: best -> last.
std::string run_checkpoint(const std::string& run_dir, const std::string& choice, bool* fell_back = nullptr);

// environment.jsonl: one JSON line per start and resume of training (ranks, backend, hardware, versions).
constexpr const char* kEnvironmentFile = "environment.jsonl";

}  // namespace cxr
