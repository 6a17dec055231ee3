// Whole-pack verification (`cxrtrain info --verify`) and the per-shard digest check the trainer runs
// before training: a shard's bytes against the sha256 manifest.json recorded when it was written.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/manifest.h"

namespace cxr::data {

// Hashes shard `shard` of `split` and compares it with manifest.json. Returns false when the manifest
// holds no digest for it (a pack of an older version); throws UserError naming the file on a mismatch.
bool verify_shard_digest(const std::string& pack_dir, const SplitManifest& split, size_t shard);

struct PackVerifyReport {
  int64_t shards = 0;
  int64_t shards_without_digest = 0;  // older packs: nothing to compare the bytes with
  int64_t images = 0;                 // image chunks read and checked
  int64_t masks = 0;                  // lesion-mask chunks read and checked
  bool checksummed = true;            // every image/mask chunk carries a Fletcher-32 checksum
  double seconds = 0;
};

// Everything `info --verify` checks: each shard's sha256; each split opened (shapes, types, attributes,
// row values: see pack_schema.h); every image and mask chunk read with its checksum verified; mask bits
// within the 14 classes; per-split positives and patients equal to manifest.json's. UserError on the
// first problem, naming the shard (and row). `threads` <= 0: one per core.
PackVerifyReport verify_pack(const std::string& pack_dir, int threads, bool progress);

}  // namespace cxr::data
