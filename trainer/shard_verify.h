// Before a job reads a pack: the ranks hash the shards of the splits it will read, each rank a share
// (shard i on rank i mod N), against the sha256 manifest.json recorded when they were written. A changed
// shard stops every rank with the same UserError naming it (exit 2) before anything is trained or
// written; chunk checksums then guard each read during the run. Collective over `world`.
#pragma once

#include <string>
#include <vector>

namespace cxr::comm {
class Communicator;
}

namespace cxr::trainer {

void verify_shards(const std::string& pack_dir, const std::vector<std::string>& splits, comm::Communicator& world);

}  // namespace cxr::trainer
