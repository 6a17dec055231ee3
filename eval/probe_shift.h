// `cxrtrain probe-shift`: a run's checkpoint scored on its evaluated split under controlled shifts
// (data/image_shift.h), on the phantom under "scanner" re-renderings and with its planted markers made
// label-independent or removed (data/scanner_shift.h), and under FGSM/PGD (trainer/adversarial.h); every
// condition compared with the unshifted images by DeLong's paired test, one BH family (eval/robustness.h).
// Scoring is distributed like `evaluate`; rank 0 writes RUN/robustness/robustness.json (docs/robustness.md).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"

namespace cxr::comm {
class Communicator;
}

namespace cxr::eval {

struct ProbeShiftOptions {
  std::string run_dir;
  std::string checkpoint = "best";     // best (falls back to last) | last | a path
  std::string split;                   // "" = the config's eval.split
  std::string out_dir;                 // "" = RUN/robustness
  std::vector<std::string> shifts = {"all"};    // image shifts by name; "all" | "none"
  std::vector<int> severities = {1, 2, 3};
  std::vector<std::string> scanner = {"all"};   // phantom scanner shifts; "all" | "none"; ignored on real packs
  bool shortcuts = true;               // phantom: each planted marker made label-independent and removed
  std::string shortcut_split = "val";  // where the marker follows its class as in training
  std::vector<std::string> attacks = {"fgsm", "pgd"};  // or {"none"}
  std::vector<double> epsilons = {0.5, 1, 2, 4};       // grey levels of 255
  int pgd_steps = 7;
  int64_t attack_images = 0;           // attacks on this many images spread over the split; 0 = all
  // Extra explicit-parameter conditions, "kind=parameter" (e.g. "contrast=1.05"): the small-shift checks.
  std::vector<std::string> extra;
  std::string extra_origin = "--extra";  // named in the error for a bad entry of `extra`
};

// Collective over `world`. Rank 0 writes out_dir/robustness.json and returns its content (and sets *out_dir);
// the other ranks return null. Options are validated (UserError) on every rank before anything is scored.
nlohmann::ordered_json probe_shift(const Config& config, comm::Communicator& world, int local_rank,
                                   const ProbeShiftOptions& options, std::string* out_dir = nullptr);

}  // namespace cxr::eval
