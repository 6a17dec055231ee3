// Distributed shard verification (see shard_verify.h).
#include "trainer/shard_verify.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <utility>

#include "comm/communicator.h"
#include "core/error.h"
#include "data/manifest.h"
#include "data/pack_verify.h"

namespace cxr::trainer {

void verify_shards(const std::string& pack_dir, const std::vector<std::string>& splits, comm::Communicator& world) {
  const auto t0 = std::chrono::steady_clock::now();
  const data::Manifest manifest = data::read_manifest(pack_dir);
  std::vector<std::pair<const data::SplitManifest*, size_t>> shards;
  std::vector<std::string> seen;
  for (const auto& name : splits) {
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) continue;
    seen.push_back(name);
    const data::SplitManifest& sm = manifest.split(name);
    for (size_t k = 0; k < sm.shards.size(); ++k) shards.emplace_back(&sm, k);
  }
  std::string error;
  double without_digest = 0, bytes = 0;
  for (size_t i = static_cast<size_t>(world.rank()); i < shards.size(); i += static_cast<size_t>(world.size())) {
    const auto& [sm, k] = shards[i];
    try {
      if (!data::verify_shard_digest(pack_dir, *sm, k)) ++without_digest;
      std::error_code ec;
      bytes += static_cast<double>(std::filesystem::file_size(std::filesystem::path(pack_dir) / sm->shards[k], ec));
    } catch (const UserError& e) {
      error = e.what();
      break;
    }
  }
  // Every rank learns whether any failed; the lowest failing rank's message is everybody's error.
  const double failed = world.all_reduce_max(error.empty() ? 0.0 : static_cast<double>(world.size() - world.rank()));
  if (failed > 0) {
    const int root = world.size() - static_cast<int>(failed);
    throw UserError(world.broadcast_string(error, root));
  }
  without_digest = world.all_reduce_sum(without_digest);
  bytes = world.all_reduce_sum(bytes);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (without_digest > 0) {
    spdlog::warn("{} of {} shards of {} have no sha256 in manifest.json (an older pack): their bytes were not checked",
                 static_cast<int64_t>(without_digest), shards.size(), pack_dir);
  }
  spdlog::info("verified {} shards ({:.1f} MB) of {} by sha256 on {} ranks in {:.2f} s (data.verify=none skips this)",
               shards.size() - static_cast<size_t>(without_digest), bytes / 1e6, pack_dir, world.size(), seconds);
}

}  // namespace cxr::trainer
