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

std::string run_checkpoint(const std::string& run_dir, const std::string& choice, bool* fell_back) {
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  std::string path = choice;
  if (fell_back) *fell_back = false;
  if (choice == "best") {
    path = (dir / "best.pt").string();
    if (!fs::exists(path)) {
      path = (dir / "last.pt").string();
      if (fell_back) *fell_back = true;
    }
  } else if (choice == "last") {
    path = (dir / "last.pt").string();
  }
  if (!fs::exists(path))
    throw UserError("checkpoint '" + path + "' does not exist", "train the run first, or pass --checkpoint PATH");
  return path;
}

}  // namespace cxr
