// Run-directory file names (see run_dir.h).
#include "core/run_dir.h"

#include <filesystem>

#include "core/error.h"

namespace cxr {

namespace fs = std::filesystem;

std::string next_resume_config_name(const std::string& run_dir) {
  for (int n = 1;; ++n) {
    const std::string name = "config.resume-" + std::to_string(n) + ".yaml";
    if (!fs::exists(fs::path(run_dir) / name)) return name;
  }
}

std::string latest_run_config(const std::string& run_dir) {
  const fs::path first = fs::path(run_dir) / "config.yaml";
  if (!fs::exists(first))
    throw UserError("'" + run_dir + "' is not a run directory: it has no config.yaml",
                    "pass the run_dir of a `cxrtrain train` run");
  fs::path latest = first;
  for (int n = 1;; ++n) {
    const fs::path p = fs::path(run_dir) / ("config.resume-" + std::to_string(n) + ".yaml");
    if (!fs::exists(p)) return latest.string();
    latest = p;
  }
}

}  // namespace cxr
