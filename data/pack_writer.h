// Writes one shard file of a pack. Images (and phantom lesion masks) are streamed row by row as they
// are decoded; the per-row metadata is written by finish(). The caller writes into a staging
// folder and renames it, so a shard is never seen half-written.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/hdf5_util.h"
#include "data/manifest.h"
#include "data/pack_format.h"

namespace cxr::data {

struct ShardOptions {
  std::string split;
  int image_size = 256;        // H = W
  int64_t rows = 0;            // N
  int compression = 0;         // gzip level 0-9 for images/masks; 0 = none (fastest to read)
  bool lesion_mask = false;    // phantom packs
  bool shortcut = false;       // phantom packs
  bool expert_labels = false;
  bool bboxes = false;
  std::string source = "nih-cxr14";
};

// Options of shard `shard` of `split` (split name, rows, image size, compression); the caller sets the
// optional datasets and the source its pack has.
ShardOptions shard_options(const SplitManifest& split, size_t shard, int image_size, int compression);

class ShardWriter {
 public:
  ShardWriter(const std::string& path, const ShardOptions& options);
  // pixels: image_size*image_size bytes, row-major.
  void write_image(int64_t row, const uint8_t* pixels);
  void write_lesion_mask(int64_t row, const uint16_t* mask);
  // meta.size() == rows; shortcut empty unless options.shortcut.
  void finish(const std::vector<SampleMeta>& meta, const std::vector<BoxRecord>& boxes,
              const std::vector<uint8_t>& shortcut = {});
  // sha256 of the finished file (manifest.json records it for `cxrtrain info --verify`).
  const std::string& sha256() const { return sha256_; }

 private:
  void write_frame(hid_t dataset, int64_t row, hid_t mem_type, const void* data);
  std::string path_;
  ShardOptions options_;
  Hid file_, images_, masks_;
  bool finished_ = false;
  std::string sha256_;
};

}  // namespace cxr::data
