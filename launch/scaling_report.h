// The scaling study's record and its renderings (`cxrtrain scaling`): scaling.json (schema
// cxrtrain.scaling/1: the measured runs, efficiency vs 1 rank, the α–β model's check against them and
// its predictions past one machine), scaling.md (the same as tables) and scaling.svg (throughput and
// efficiency vs ranks on a log2 axis, with the model's curves). Torch-free.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "launch/scaling_model.h"

namespace cxr::launch {

using ordered_json = nlohmann::ordered_json;

// One measured run as the study records it, from the JSON of `cxrtrain bench --steps`: mode "weak" or
// "strong" ("both" for the single 1-rank run both share), img/s, per-rank img/s, the step phases, and
// efficiency = img/s / (ranks × img/s at 1 rank) (1 for the 1-rank run itself).
ordered_json run_record(const nlohmann::json& bench, const std::string& mode, double one_rank_images_per_second);

// The model's input from the measured 1-rank run: compute = step − exposed comm, backward, buckets.
StepProfile profile_from_run(const nlohmann::json& one_rank_run);

struct ModelOptions {
  std::vector<std::string> networks;      // preset names (network_preset)
  std::vector<int> ranks;                 // rank counts to predict at
  double exposed_fraction = 0.05;         // "stops hiding": exposed > this fraction of compute
  std::string profile_source;             // where the profile's numbers come from, in words
};

// The "model" object: the profile, the networks with their α, β and per-rank predictions and where
// communication stops hiding; with `runs` (the study's measured runs, including their all-reduce
// probes) also the fitted link of this machine and predicted vs measured for every multi-rank run.
ordered_json model_section(const StepProfile& profile, const ModelOptions& options, const ordered_json& runs);

std::string render_markdown(const ordered_json& study);
std::string render_svg(const ordered_json& study);
// What the command prints: the runs' table and the model's summary.
std::string render_console(const ordered_json& study);

}  // namespace cxr::launch
