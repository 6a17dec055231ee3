// Random access to one split of a pack: all per-row metadata in memory, images read on demand.
// Opening checks every shard against manifest.json and the schema (data/pack_schema.h) before anything
// is sized from it. read_image() is safe to call from several threads; it is one raw chunk read whose
// Fletcher-32 checksum is verified here (and a gzip chunk inflated) outside HDF5's lock.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/manifest.h"
#include "data/pack_format.h"

namespace cxr::data {

class PackSplit {
 public:
  // Throws UserError naming the shard and dataset when the pack is damaged or does not match its manifest.
  PackSplit(const std::string& pack_dir, const std::string& split);
  ~PackSplit();
  PackSplit(const PackSplit&) = delete;
  PackSplit& operator=(const PackSplit&) = delete;

  const std::string& name() const { return split_; }
  const Manifest& manifest() const { return manifest_; }
  int64_t size() const { return static_cast<int64_t>(meta_.size()); }
  int image_size() const { return manifest_.image_size; }
  const std::vector<SampleMeta>& meta() const { return meta_; }
  const std::vector<BoxRecord>& boxes() const { return boxes_; }  // row = index within the split
  bool has_expert_labels() const { return has_expert_; }
  bool has_lesion_mask() const { return has_mask_; }
  const std::vector<uint8_t>& shortcut() const { return shortcut_; }  // empty unless phantom with shortcut
  // Every image (and mask) chunk carries a Fletcher-32 checksum; false for packs of older cxrtrain versions.
  bool checksummed() const { return checksummed_; }

  // dst: image_size()^2 bytes. UserError naming shard and row when the chunk is damaged.
  void read_image(int64_t index, uint8_t* dst) const;
  // dst: image_size()^2 uint16 (bit j = class j lesion); throws if the pack has no masks.
  void read_lesion_mask(int64_t index, uint16_t* dst) const;

 private:
  struct Shard;
  void read_frame(int64_t index, bool mask, void* dst, size_t bytes) const;
  std::string dir_, split_;
  Manifest manifest_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<int64_t> offsets_;  // first split row of each shard
  std::vector<SampleMeta> meta_;
  std::vector<BoxRecord> boxes_;
  std::vector<uint8_t> shortcut_;
  bool has_expert_ = false, has_mask_ = false, checksummed_ = true;
};

}  // namespace cxr::data
