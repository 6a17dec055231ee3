// Pack reader (see pack_reader.h). Each shard is checked in full before its rows are read: attributes,
// then every dataset's type, shape, chunking and filters (pack_schema.h), then the row values.
#include "data/pack_reader.h"

#include <spdlog/spdlog.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <stdexcept>
#include <unordered_set>

#include "core/error.h"
#include "data/fletcher32.h"
#include "data/hdf5_util.h"
#include "data/pack_schema.h"

namespace cxr::data {

namespace fs = std::filesystem;

struct Frames {
  Hid dataset;
  std::vector<int> filters;  // in the order applied when writing
  size_t max_stored = 0;     // largest plausible stored chunk, checked before a buffer is sized from it
};

struct PackSplit::Shard {
  std::string path;
  Hid file;
  Frames images, masks;
};

namespace {

template <class T>
std::vector<T> read_rows(hid_t file, const std::string& shard, const DatasetSpec& spec, hid_t mem_type) {
  check_dataset(file, shard, spec);
  size_t count = 1;
  for (int64_t d : spec.dims) count *= static_cast<size_t>(d);
  std::vector<T> out(count);
  with_pack_context(shard, spec.name, [&] {
    Hid ds(H5_CHECK(H5Dopen2(file, spec.name, H5P_DEFAULT)));
    if (count) H5_CHECK(H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()));
    return 0;
  });
  return out;
}

// Opens a frame dataset ([N,side,side], one frame per chunk) checked against the schema.
Frames open_frames(hid_t file, const std::string& shard, const char* name, ElementType type, int64_t rows, int side) {
  const DatasetSpec spec{name, type, {rows, side, side}, /*frames=*/true};
  Frames f;
  f.filters = check_dataset(file, shard, spec).filters;
  if (std::count(f.filters.begin(), f.filters.end(), static_cast<int>(H5Z_FILTER_DEFLATE)) > 1)
    bad_pack(shard, name, "applies gzip twice; packs use it at most once");
  const size_t bytes = static_cast<size_t>(side) * static_cast<size_t>(side) * (type == ElementType::kU16 ? 2 : 1);
  // zlib's worst case for incompressible data, plus 4 checksum bytes per filter.
  f.max_stored = static_cast<size_t>(compressBound(static_cast<uLong>(bytes))) + 4 * f.filters.size() + 64;
  f.dataset = with_pack_context(shard, name, [&] { return Hid(H5_CHECK(H5Dopen2(file, name, H5P_DEFAULT))); });
  return f;
}

// One line per pack, not per split or shard.
void warn_unchecksummed_once(const std::string& dir) {
  static std::mutex mutex;
  static std::set<std::string> warned;
  std::lock_guard<std::mutex> lock(mutex);
  if (warned.insert(fs::absolute(dir).lexically_normal().string()).second) {
    spdlog::warn("pack {} has no chunk checksums (written by an older cxrtrain): damaged images cannot be "
                 "detected; re-create it to get them", dir);
  }
}

}  // namespace

PackSplit::PackSplit(const std::string& pack_dir, const std::string& split)
    : dir_(pack_dir), split_(split), manifest_(read_manifest(pack_dir)) {
  h5_quiet();
  static const bool threadsafe = [] {
    if (!h5_threadsafe())
      spdlog::warn("this HDF5 library is not thread-safe (H5is_library_threadsafe): chunk reads are serialised, "
                   "so loader workers overlap only their preprocessing");
    return h5_threadsafe();
  }();
  (void)threadsafe;
  const SplitManifest& sm = manifest_.split(split);
  const int side = manifest_.image_size;
  std::unordered_set<std::string> names;
  int64_t offset = 0;
  for (size_t s = 0; s < sm.shards.size(); ++s) {
    auto shard = std::make_unique<Shard>();
    shard->path = (fs::path(pack_dir) / sm.shards[s]).string();
    const std::string& path = shard->path;
    std::error_code ec;
    const auto file_bytes = fs::file_size(path, ec);
    if (ec) {
      throw UserError("shard '" + path + "' listed in manifest.json cannot be read: " + ec.message(),
                      "copy the whole pack folder, or re-create it");
    }
    shard->file = Hid(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
    if (!shard->file.valid()) bad_pack(path, "", "is not a readable HDF5 file (truncated or damaged?)");
    hid_t file = shard->file;
    check_shard_attributes(file, path, split, side);

    const int64_t n = sm.shard_rows[s];
    // Every row takes at least a byte of the file: a row count beyond the file size is a lie, and
    // would size the buffers below from it.
    if (static_cast<uint64_t>(n) > file_bytes)
      bad_pack(path, "", "cannot hold the " + std::to_string(n) + " rows manifest.json gives it (" +
                             std::to_string(file_bytes) + " bytes)");
    shard->images = open_frames(file, path, "images", ElementType::kU8, n, side);
    checksummed_ = checksummed_ && std::count(shard->images.filters.begin(), shard->images.filters.end(),
                                              static_cast<int>(H5Z_FILTER_FLETCHER32)) > 0;
    if (h5_has_dataset(file, "lesion_mask")) {
      if (s > 0 && !has_mask_) bad_pack(path, "lesion_mask", "is present here but missing from an earlier shard of the split");
      shard->masks = open_frames(file, path, "lesion_mask", ElementType::kU16, n, side);
      checksummed_ = checksummed_ && std::count(shard->masks.filters.begin(), shard->masks.filters.end(),
                                                static_cast<int>(H5Z_FILTER_FLETCHER32)) > 0;
      has_mask_ = true;
    } else if (has_mask_) {
      bad_pack(path, "lesion_mask", "is missing (other shards of the split have it)");
    }

    auto labels = read_rows<uint8_t>(file, path, {"labels", ElementType::kU8, {n, kNumClasses}}, H5T_NATIVE_UINT8);
    std::vector<char> index_names(static_cast<size_t>(n) * kImageIndexLength);
    check_dataset(file, path, {"image_index", ElementType::kName, {n}});
    with_pack_context(path, "image_index", [&] {
      Hid ds(H5_CHECK(H5Dopen2(file, "image_index", H5P_DEFAULT)));
      Hid type(H5_CHECK(H5Tcopy(H5T_C_S1)));
      H5_CHECK(H5Tset_size(type, kImageIndexLength));
      H5_CHECK(H5Tset_strpad(type, H5T_STR_NULLPAD));
      if (n) H5_CHECK(H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, index_names.data()));
      return 0;
    });
    auto patient = read_rows<int32_t>(file, path, {"patient_id", ElementType::kI32, {n}}, H5T_NATIVE_INT32);
    auto age = read_rows<int16_t>(file, path, {"age", ElementType::kI16, {n}}, H5T_NATIVE_INT16);
    auto sex = read_rows<int8_t>(file, path, {"sex", ElementType::kI8, {n}}, H5T_NATIVE_INT8);
    auto view = read_rows<int8_t>(file, path, {"view", ElementType::kI8, {n}}, H5T_NATIVE_INT8);
    auto follow = read_rows<int32_t>(file, path, {"follow_up", ElementType::kI32, {n}}, H5T_NATIVE_INT32);
    auto orig = read_rows<int32_t>(file, path, {"orig_size", ElementType::kI32, {n, 2}}, H5T_NATIVE_INT32);
    auto spacing = read_rows<float>(file, path, {"pixel_spacing", ElementType::kF32, {n, 2}}, H5T_NATIVE_FLOAT);
    std::vector<int8_t> expert;
    if (h5_has_dataset(file, "expert_labels")) {
      expert = read_rows<int8_t>(file, path, {"expert_labels", ElementType::kI8, {n, kNumExpertLabels}}, H5T_NATIVE_INT8);
      has_expert_ = true;
    }
    for (int64_t i = 0; i < n; ++i) {
      const auto r = static_cast<size_t>(i);
      SampleMeta m;
      const char* name = index_names.data() + r * kImageIndexLength;
      m.image_index.assign(name, strnlen(name, kImageIndexLength));
      std::copy_n(labels.begin() + static_cast<std::ptrdiff_t>(r * kNumClasses), kNumClasses, m.labels.begin());
      m.patient_id = patient[r];
      m.age = age[r];
      m.sex = sex[r];
      m.view = view[r];
      m.follow_up = follow[r];
      m.orig_size = {orig[2 * r], orig[2 * r + 1]};
      m.pixel_spacing = {spacing[2 * r], spacing[2 * r + 1]};
      if (!expert.empty())
        std::copy_n(expert.begin() + static_cast<std::ptrdiff_t>(r * kNumExpertLabels), kNumExpertLabels,
                    m.expert_labels.begin());
      check_row_values(path, i, m);
      if (!names.insert(m.image_index).second)
        bad_pack(path, "image_index", "row " + std::to_string(i) + ": image '" + m.image_index + "' appears twice in split '" + split + "'");
      meta_.push_back(std::move(m));
    }

    const bool has_boxes = h5_has_dataset(file, "bbox_row");
    if (has_boxes != h5_has_dataset(file, "bbox_class") || has_boxes != h5_has_dataset(file, "bbox_xywh"))
      bad_pack(path, "bbox_row", "bbox_row, bbox_class and bbox_xywh must be present together");
    if (has_boxes) {
      const int64_t k = check_dataset(file, path, {"bbox_row", ElementType::kI32, {-1}}).dims.at(0);
      if (k > n * 64) bad_pack(path, "bbox_row", "holds " + std::to_string(k) + " boxes for " + std::to_string(n) + " rows");
      auto rows_k = read_rows<int32_t>(file, path, {"bbox_row", ElementType::kI32, {k}}, H5T_NATIVE_INT32);
      auto cls = read_rows<int8_t>(file, path, {"bbox_class", ElementType::kI8, {k}}, H5T_NATIVE_INT8);
      auto xywh = read_rows<float>(file, path, {"bbox_xywh", ElementType::kF32, {k, 4}}, H5T_NATIVE_FLOAT);
      for (size_t b = 0; b < static_cast<size_t>(k); ++b) {
        BoxRecord r;
        r.row = rows_k[b];
        r.cls = cls[b];
        std::copy_n(xywh.begin() + static_cast<std::ptrdiff_t>(4 * b), 4, r.xywh.begin());
        check_box(path, b, r, n);
        r.row = static_cast<int32_t>(offset + r.row);
        boxes_.push_back(r);
      }
    }
    if (h5_has_dataset(file, "shortcut")) {
      auto sc = read_rows<uint8_t>(file, path, {"shortcut", ElementType::kU8, {n}}, H5T_NATIVE_UINT8);
      if (static_cast<int64_t>(shortcut_.size()) != offset)
        bad_pack(path, "shortcut", "is present here but missing from an earlier shard of the split");
      shortcut_.insert(shortcut_.end(), sc.begin(), sc.end());
    } else if (!shortcut_.empty()) {
      bad_pack(path, "shortcut", "is missing (earlier shards of the split have it)");
    }
    offsets_.push_back(offset);
    offset += n;
    shards_.push_back(std::move(shard));
  }
  if (!checksummed_ && !shards_.empty()) warn_unchecksummed_once(dir_);
}

PackSplit::~PackSplit() = default;

void PackSplit::read_frame(int64_t index, bool mask, void* dst, size_t bytes) const {
  if (index < 0 || index >= size())
    throw std::out_of_range("pack row " + std::to_string(index) + " outside split '" + split_ + "'");
  auto it = std::upper_bound(offsets_.begin(), offsets_.end(), index);
  const size_t s = static_cast<size_t>(it - offsets_.begin()) - 1;
  const Shard& shard = *shards_[s];
  const Frames& frames = mask ? shard.masks : shard.images;
  const char* dataset = mask ? "lesion_mask" : "images";
  const int64_t row = index - offsets_[s];
  auto fail = [&](const std::string& what) {
    bad_pack(shard.path, dataset, "row " + std::to_string(row) + " (image '" + meta_[static_cast<size_t>(index)].image_index +
                                      "'): " + what);
  };

  thread_local std::vector<uint8_t> raw, inflated;
  hsize_t chunk_offset[3] = {static_cast<hsize_t>(row), 0, 0};
  uint32_t filter_mask = 0;
  hsize_t stored = 0;
  try {
    auto lock = h5_serial_lock();  // a no-op when HDF5 is thread-safe
    H5_CHECK(H5Dget_chunk_storage_size(frames.dataset, chunk_offset, &stored));
    if (stored == 0 || stored > frames.max_stored) fail("has a stored chunk of " + std::to_string(stored) + " bytes");
    raw.resize(stored);
    H5_CHECK(H5Dread_chunk(frames.dataset, H5P_DEFAULT, chunk_offset, &filter_mask, raw.data()));
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    fail(std::string("cannot be read: ") + e.what());
  }
  // Undo the filters, the last applied first; bit i of filter_mask set = filter i was skipped.
  uint8_t* data = raw.data();
  size_t size = stored;
  for (size_t i = frames.filters.size(); i-- > 0;) {
    const bool skipped = i < 32 && (filter_mask >> i & 1u);
    if (frames.filters[i] == H5Z_FILTER_FLETCHER32) {
      // The checksum filter is mandatory (never skipped when writing): a "skipped" bit is damage.
      if (skipped) fail("claims its Fletcher-32 checksum was skipped: the chunk's index entry is damaged");
      if (!fletcher32_chunk_ok(data, size)) fail("fails its Fletcher-32 checksum: the chunk is damaged");
      size -= 4;
    } else if (!skipped) {  // deflate, unless it was skipped (the chunk did not compress)
      inflated.resize(bytes + 4 * frames.filters.size());
      uLongf out_len = static_cast<uLongf>(inflated.size());
      if (uncompress(inflated.data(), &out_len, data, static_cast<uLong>(size)) != Z_OK)
        fail("is a corrupt gzip chunk");
      data = inflated.data();
      size = out_len;
    }
  }
  if (size != bytes) fail("holds " + std::to_string(size) + " bytes, expected " + std::to_string(bytes));
  std::memcpy(dst, data, bytes);
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
