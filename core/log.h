// The project's only global: the spdlog logger. Every line carries "rank r/N"; by default only
// rank 0 logs info and below, other ranks log warnings and errors (all_ranks=true lifts that).
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace cxr {

struct LogOptions {
  int rank = 0;
  int world_size = 1;
  bool all_ranks = false;            // let every rank log at `level`
  std::string group;                 // e.g. "seed 3": prefixed to the rank tag ("[seed 3 rank 0/1]")
  spdlog::level::level_enum level = spdlog::level::info;
};

void init_logging(const LogOptions& options);
// Also writes every log line to `path` (appending), e.g. the run directory's train.log, for as long as the
// object lives: a study that trains several seeds one after another in one process gives each its own file.
class LogFile {
 public:
  explicit LogFile(const std::string& path);
  ~LogFile();
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

 private:
  std::shared_ptr<spdlog::sinks::sink> sink_;
};

}  // namespace cxr
