// Logger set-up (see log.h). Logs go to stderr so stdout stays clean for reports and JSON.
#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <algorithm>
#include <string>

namespace cxr {

void init_logging(const LogOptions& options) {
  spdlog::drop("cxrtrain");  // tests may initialise more than once
  auto logger = spdlog::stderr_color_mt("cxrtrain");
  std::string rank_tag = "rank " + std::to_string(options.rank) + "/" + std::to_string(options.world_size);
  logger->set_pattern("[%H:%M:%S.%e] [" + rank_tag + "] [%^%l%$] %v");
  bool quiet = options.rank != 0 && !options.all_ranks;
  logger->set_level(quiet ? std::max(options.level, spdlog::level::warn) : options.level);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

}  // namespace cxr
