// Pack reader (see pack_reader.h).
#include "data/pack_reader.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "core/error.h"
#include "data/hdf5_util.h"

namespace cxr::data {

struct PackSplit::Shard {
  std::string path;
  Hid file, images, masks;
  bool images_deflate = false, masks_deflate = false;
};

namespace {

bool uses_deflate(hid_t dataset) {
  Hid plist(H5_CHECK(H5Dget_create_plist(dataset)));
  int n = H5_CHECK(H5Pget_nfilters(plist));
  bool deflate = false;
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0;
    size_t nelem = 0;
    char name[64];
    unsigned config = 0;
    H5Z_filter_t f = H5_CHECK(H5Pget_filter2(plist, static_cast<unsigned>(i), &flags, &nelem, nullptr,
                                             sizeof name, name, &config));
    if (f != H5Z_FILTER_DEFLATE) {
      throw UserError("unsupported HDF5 filter " + std::to_string(f) + " in a pack image dataset",
                      "packs use no compression or gzip only; re-create the pack with cxrtrain");
    }
    deflate = true;
  }
  return deflate;
}

template <class T>
std::vector<T> read_all(hid_t file, const char* name, hid_t mem_type, size_t expected, const std::string& path) {
  std::vector<T> out(expected);
  Hid ds(H5_CHECK(H5Dopen2(file, name, H5P_DEFAULT)));
  Hid space(H5_CHECK(H5Dget_space(ds)));
  auto n = static_cast<size_t>(H5_CHECK(H5Sget_simple_extent_npoints(space)));
  if (n != expected) {
    throw UserError(path + ": dataset '" + name + "' has " + std::to_string(n) + " values, expected " +
                    std::to_string(expected), "the shard is damaged; re-create the pack");
  }
  if (n) H5_CHECK(H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()));
  return out;
}

int64_t dataset_rows(hid_t file, const char* name) {
  Hid ds(H5_CHECK(H5Dopen2(file, name, H5P_DEFAULT)));
  Hid space(H5_CHECK(H5Dget_space(ds)));
  hsize_t dims[3] = {0, 0, 0};
  H5_CHECK(H5Sget_simple_extent_dims(space, dims, nullptr));
  return static_cast<int64_t>(dims[0]);
}

}  // namespace

PackSplit::PackSplit(const std::string& pack_dir, const std::string& split)
    : dir_(pack_dir), split_(split), manifest_(read_manifest(pack_dir)) {
  h5_quiet();
  const SplitManifest& sm = manifest_.split(split);
  const auto side = static_cast<size_t>(manifest_.image_size);
  int64_t offset = 0;
  for (size_t s = 0; s < sm.shards.size(); ++s) {
    auto shard = std::make_unique<Shard>();
    shard->path = (std::filesystem::path(pack_dir) / sm.shards[s]).string();
    if (!std::filesystem::exists(shard->path)) {
      throw UserError("shard '" + shard->path + "' listed in manifest.json is missing",
                      "copy the whole pack folder, or re-create it");
    }
    shard->file = Hid(H5Fopen(shard->path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
    if (!shard->file.valid()) {
      throw UserError("shard '" + shard->path + "' is not a readable HDF5 file", "the pack is damaged; re-create it");
    }
    std::string schema = h5_read_string_attr(shard->file, "schema");
    std::string shard_split = h5_read_string_attr(shard->file, "split");
    if (schema != kPackSchema || shard_split != split) {
      throw UserError(shard->path + ": schema '" + schema + "', split '" + shard_split + "' (expected " +
                      kPackSchema + ", '" + split + "')", "the pack folder mixes files from different packs");
    }
    const int64_t rows = dataset_rows(shard->file, "labels");
    if (rows != sm.shard_rows[s]) {
      throw UserError(shard->path + " holds " + std::to_string(rows) + " rows but manifest.json says " +
                      std::to_string(sm.shard_rows[s]), "the pack is damaged; re-create it");
    }
    const auto n = static_cast<size_t>(rows);
    shard->images = Hid(H5_CHECK(H5Dopen2(shard->file, "images", H5P_DEFAULT)));
    if (n) shard->images_deflate = uses_deflate(shard->images);
    if (h5_has_dataset(shard->file, "lesion_mask")) {
      shard->masks = Hid(H5_CHECK(H5Dopen2(shard->file, "lesion_mask", H5P_DEFAULT)));
      if (n) shard->masks_deflate = uses_deflate(shard->masks);
      has_mask_ = true;
    }

    auto labels = read_all<uint8_t>(shard->file, "labels", H5T_NATIVE_UINT8, n * kNumClasses, shard->path);
    std::vector<char> names(n * kImageIndexLength);
    {
      Hid ds(H5_CHECK(H5Dopen2(shard->file, "image_index", H5P_DEFAULT)));
      Hid type(H5_CHECK(H5Tcopy(H5T_C_S1)));
      H5_CHECK(H5Tset_size(type, kImageIndexLength));
      H5_CHECK(H5Tset_strpad(type, H5T_STR_NULLPAD));
      if (n) H5_CHECK(H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, names.data()));
    }
    auto patient = read_all<int32_t>(shard->file, "patient_id", H5T_NATIVE_INT32, n, shard->path);
    auto age = read_all<int16_t>(shard->file, "age", H5T_NATIVE_INT16, n, shard->path);
    auto sex = read_all<int8_t>(shard->file, "sex", H5T_NATIVE_INT8, n, shard->path);
    auto view = read_all<int8_t>(shard->file, "view", H5T_NATIVE_INT8, n, shard->path);
    auto follow = read_all<int32_t>(shard->file, "follow_up", H5T_NATIVE_INT32, n, shard->path);
    auto orig = read_all<int32_t>(shard->file, "orig_size", H5T_NATIVE_INT32, 2 * n, shard->path);
    auto spacing = read_all<float>(shard->file, "pixel_spacing", H5T_NATIVE_FLOAT, 2 * n, shard->path);
    std::vector<int8_t> expert;
    if (h5_has_dataset(shard->file, "expert_labels")) {
      expert = read_all<int8_t>(shard->file, "expert_labels", H5T_NATIVE_INT8, n * kNumExpertLabels, shard->path);
      has_expert_ = true;
    }
    for (size_t i = 0; i < n; ++i) {
      SampleMeta m;
      const char* name = names.data() + i * kImageIndexLength;
      m.image_index.assign(name, strnlen(name, kImageIndexLength));
      std::copy_n(labels.begin() + static_cast<std::ptrdiff_t>(i * kNumClasses), kNumClasses, m.labels.begin());
      m.patient_id = patient[i];
      m.age = age[i];
      m.sex = sex[i];
      m.view = view[i];
      m.follow_up = follow[i];
      m.orig_size = {orig[2 * i], orig[2 * i + 1]};
      m.pixel_spacing = {spacing[2 * i], spacing[2 * i + 1]};
      if (!expert.empty())
        std::copy_n(expert.begin() + static_cast<std::ptrdiff_t>(i * kNumExpertLabels), kNumExpertLabels,
                    m.expert_labels.begin());
      meta_.push_back(std::move(m));
    }
    if (h5_has_dataset(shard->file, "bbox_row")) {
      Hid ds(H5_CHECK(H5Dopen2(shard->file, "bbox_row", H5P_DEFAULT)));
      Hid space(H5_CHECK(H5Dget_space(ds)));
      auto k = static_cast<size_t>(H5_CHECK(H5Sget_simple_extent_npoints(space)));
      auto rows_k = read_all<int32_t>(shard->file, "bbox_row", H5T_NATIVE_INT32, k, shard->path);
      auto cls = read_all<int8_t>(shard->file, "bbox_class", H5T_NATIVE_INT8, k, shard->path);
      auto xywh = read_all<float>(shard->file, "bbox_xywh", H5T_NATIVE_FLOAT, 4 * k, shard->path);
      for (size_t b = 0; b < k; ++b) {
        BoxRecord r;
        r.row = static_cast<int32_t>(offset + rows_k[b]);
        r.cls = cls[b];
        std::copy_n(xywh.begin() + static_cast<std::ptrdiff_t>(4 * b), 4, r.xywh.begin());
        boxes_.push_back(r);
      }
    }
    if (h5_has_dataset(shard->file, "shortcut")) {
      auto sc = read_all<uint8_t>(shard->file, "shortcut", H5T_NATIVE_UINT8, n, shard->path);
      shortcut_.insert(shortcut_.end(), sc.begin(), sc.end());
    }
    (void)side;
    offsets_.push_back(offset);
    offset += rows;
    shards_.push_back(std::move(shard));
  }
  if (offset != sm.count) {
    throw UserError(dir_ + "/manifest.json: split '" + split + "' count " + std::to_string(sm.count) +
                    " != sum of shard rows " + std::to_string(offset), "the pack is damaged; re-create it");
  }
}

PackSplit::~PackSplit() = default;

void PackSplit::read_frame(int64_t index, bool mask, void* dst, size_t bytes) const {
  if (index < 0 || index >= size())
    throw std::out_of_range("pack row " + std::to_string(index) + " outside split '" + split_ + "'");
  auto it = std::upper_bound(offsets_.begin(), offsets_.end(), index);
  size_t s = static_cast<size_t>(it - offsets_.begin()) - 1;
  const Shard& shard = *shards_[s];
  hid_t ds = mask ? shard.masks.get() : shard.images.get();
  bool deflate = mask ? shard.masks_deflate : shard.images_deflate;
  hsize_t chunk_offset[3] = {static_cast<hsize_t>(index - offsets_[s]), 0, 0};
  uint32_t filter_mask = 0;
  if (!deflate) {
    H5_CHECK(H5Dread_chunk(ds, H5P_DEFAULT, chunk_offset, &filter_mask, dst));
    return;
  }
  // Read the compressed chunk under HDF5's lock, inflate outside it so threads decompress in parallel.
  hsize_t stored = 0;
  H5_CHECK(H5Dget_chunk_storage_size(ds, chunk_offset, &stored));
  thread_local std::vector<uint8_t> compressed;
  compressed.resize(stored);
  H5_CHECK(H5Dread_chunk(ds, H5P_DEFAULT, chunk_offset, &filter_mask, compressed.data()));
  if (filter_mask != 0) {  // the filter was skipped when writing: the chunk is stored raw
    std::memcpy(dst, compressed.data(), std::min<size_t>(bytes, stored));
    return;
  }
  uLongf out_len = static_cast<uLongf>(bytes);
  int rc = uncompress(static_cast<Bytef*>(dst), &out_len, compressed.data(), static_cast<uLong>(stored));
  if (rc != Z_OK || out_len != bytes) {
    throw std::runtime_error(shard.path + ": corrupt compressed chunk for row " + std::to_string(index));
  }
}

void PackSplit::read_image(int64_t index, uint8_t* dst) const {
  const auto side = static_cast<size_t>(manifest_.image_size);
  read_frame(index, false, dst, side * side);
}

void PackSplit::read_lesion_mask(int64_t index, uint16_t* dst) const {
  if (!has_mask_) throw UserError("split '" + split_ + "' has no lesion_mask", "only phantom packs carry masks");
  const auto side = static_cast<size_t>(manifest_.image_size);
  read_frame(index, true, dst, side * side * sizeof(uint16_t));
}

}  // namespace cxr::data
