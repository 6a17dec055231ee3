// The project's only global: the spdlog logger. Every line carries "rank r/N"; by default only
// rank 0 logs info and below, other ranks log warnings and errors (all_ranks=true lifts that).
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace cxr {

struct LogOptions {
  int rank = 0;
  int world_size = 1;
  bool all_ranks = false;            // let every rank log at `level`
  spdlog::level::level_enum level = spdlog::level::info;
};

void init_logging(const LogOptions& options);
// Also writes every log line to `path` (appending), e.g. the run directory's train.log.
void add_log_file(const std::string& path);

}  // namespace cxr
