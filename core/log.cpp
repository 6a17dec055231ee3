// Logger set-up (see log.h). Logs go to stderr so stdout stays clean for reports and JSON.
#include "core/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <algorithm>
#include <string>

namespace cxr {

namespace {

// The line pattern with this process's rank tag; part of the logger's global state.
std::string& pattern() {
  static std::string p = "[%H:%M:%S.%e] [rank 0/1] [%l] %v";
  return p;
}

}  // namespace

void init_logging(const LogOptions& options) {
  spdlog::drop("cxrtrain");  // tests may initialise more than once
  auto logger = spdlog::stderr_color_mt("cxrtrain");
  std::string rank_tag = (options.group.empty() ? "" : options.group + " ") + "rank " + std::to_string(options.rank) +
                         "/" + std::to_string(options.world_size);
  pattern() = "[%H:%M:%S.%e] [" + rank_tag + "] [%l] %v";
  logger->set_pattern("[%H:%M:%S.%e] [" + rank_tag + "] [%^%l%$] %v");
  bool quiet = options.rank != 0 && !options.all_ranks;
  logger->set_level(quiet ? std::max(options.level, spdlog::level::warn) : options.level);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

LogFile::LogFile(const std::string& path) {
  sink_ = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/false);
  sink_->set_pattern(pattern());
  spdlog::default_logger()->sinks().push_back(sink_);
}

LogFile::~LogFile() {
  auto& sinks = spdlog::default_logger()->sinks();
  sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  sink_->flush();
}

}  // namespace cxr
