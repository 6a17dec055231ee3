// Shard writer (see pack_writer.h). Chunks are one image each so a random read touches one chunk.
// Every dataset is chunked with HDF5's Fletcher-32 filter, so any reader (h5py too) detects a damaged
// chunk, and the file uses the 1.10 format, whose superblock, object headers and chunk indexes carry
// checksums of their own: a flipped byte anywhere ends in an error, not in a wrong value or a crash.
#include "data/pack_writer.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "core/sha256.h"

namespace cxr::data {
namespace {

// Dataset creation properties without modification times, so equal inputs give equal bytes.
Hid untimed_dcpl() {
  Hid plist(H5_CHECK(H5Pcreate(H5P_DATASET_CREATE)));
  H5_CHECK(H5Pset_obj_track_times(plist, false));
  return plist;
}

Hid create_frames(hid_t file, const char* name, hid_t type, int64_t rows, int size, int compression) {
  hsize_t dims[3] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(size), static_cast<hsize_t>(size)};
  hsize_t chunk[3] = {1, static_cast<hsize_t>(size), static_cast<hsize_t>(size)};
  Hid space(H5_CHECK(H5Screate_simple(3, dims, nullptr)));
  Hid plist = untimed_dcpl();
  if (rows > 0) {
    H5_CHECK(H5Pset_chunk(plist, 3, chunk));
    if (compression > 0) H5_CHECK(H5Pset_deflate(plist, static_cast<unsigned>(compression)));
    // After gzip: the checksum covers the stored bytes, so a reader checks it before inflating.
    H5_CHECK(H5Pset_fletcher32(plist));
  }
  return Hid(H5_CHECK(H5Dcreate2(file, name, type, space, H5P_DEFAULT, plist, H5P_DEFAULT)));
}

// Creation properties of a per-row array: chunks of up to ~1 MB with the Fletcher-32 filter (filters
// need chunked storage; an empty array stays contiguous, there is nothing to check).
Hid checksummed_dcpl(const std::vector<hsize_t>& dims, size_t element_bytes) {
  Hid plist = untimed_dcpl();
  if (dims.empty() || dims[0] == 0) return plist;
  size_t row_bytes = element_bytes;
  for (size_t d = 1; d < dims.size(); ++d) row_bytes *= dims[d];
  std::vector<hsize_t> chunk = dims;
  chunk[0] = std::min<hsize_t>(dims[0], std::max<hsize_t>(1, (hsize_t{1} << 20) / std::max<size_t>(row_bytes, 1)));
  H5_CHECK(H5Pset_chunk(plist, static_cast<int>(chunk.size()), chunk.data()));
  H5_CHECK(H5Pset_fletcher32(plist));
  return plist;
}

template <class T>
void write_array(hid_t file, const char* name, hid_t file_type, hid_t mem_type, const std::vector<T>& data,
                 std::vector<hsize_t> dims) {
  Hid space(H5_CHECK(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr)));
  Hid plist = checksummed_dcpl(dims, H5Tget_size(file_type));
  Hid ds(H5_CHECK(H5Dcreate2(file, name, file_type, space, H5P_DEFAULT, plist, H5P_DEFAULT)));
  if (!data.empty()) H5_CHECK(H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()));
}

}  // namespace

std::string shard_file_name(const std::string& split, int index, int count) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "-%05d-of-%05d.h5", index, count);
  return split + buf;
}

ShardOptions shard_options(const SplitManifest& split, size_t shard, int image_size, int compression) {
  ShardOptions so;
  so.split = split.name;
  so.image_size = image_size;
  so.rows = split.shard_rows.at(shard);
  so.compression = compression;
  return so;
}

ShardWriter::ShardWriter(const std::string& path, const ShardOptions& options) : path_(path), options_(options) {
  h5_quiet();
  // The 1.10 file format: checksummed metadata (v3 superblock, v2 object headers, fixed-array chunk
  // index). Readable by HDF5 >= 1.10 and h5py built on it.
  Hid fapl(H5_CHECK(H5Pcreate(H5P_FILE_ACCESS)));
  H5_CHECK(H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110));
  // No modification time on the root group either (v2 object headers would store one): equal inputs, equal bytes.
  Hid fcpl(H5_CHECK(H5Pcreate(H5P_FILE_CREATE)));
  H5_CHECK(H5Pset_obj_track_times(fcpl, false));
  file_ = Hid(H5_CHECK(H5Fcreate(path.c_str(), H5F_ACC_EXCL, fcpl, fapl)));
  images_ = create_frames(file_, "images", H5T_STD_U8LE, options.rows, options.image_size, options.compression);
  if (options.lesion_mask)
    masks_ = create_frames(file_, "lesion_mask", H5T_STD_U16LE, options.rows, options.image_size,
                           options.compression);
}

void ShardWriter::write_frame(hid_t dataset, int64_t row, hid_t mem_type, const void* data) {
  if (row < 0 || row >= options_.rows) throw std::out_of_range("shard row " + std::to_string(row) + " out of range");
  hsize_t start[3] = {static_cast<hsize_t>(row), 0, 0};
  hsize_t count[3] = {1, static_cast<hsize_t>(options_.image_size), static_cast<hsize_t>(options_.image_size)};
  Hid file_space(H5_CHECK(H5Dget_space(dataset)));
  H5_CHECK(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, nullptr, count, nullptr));
  Hid mem_space(H5_CHECK(H5Screate_simple(3, count, nullptr)));
  H5_CHECK(H5Dwrite(dataset, mem_type, mem_space, file_space, H5P_DEFAULT, data));
}

void ShardWriter::write_image(int64_t row, const uint8_t* pixels) {
  write_frame(images_, row, H5T_NATIVE_UINT8, pixels);
}

void ShardWriter::write_lesion_mask(int64_t row, const uint16_t* mask) {
  if (!masks_.valid()) throw std::logic_error("shard was created without lesion_mask");
  write_frame(masks_, row, H5T_NATIVE_UINT16, mask);
}

void ShardWriter::finish(const std::vector<SampleMeta>& meta, const std::vector<BoxRecord>& boxes,
                         const std::vector<uint8_t>& shortcut) {
  if (finished_) throw std::logic_error("ShardWriter::finish called twice");
  const auto n = static_cast<hsize_t>(options_.rows);
  if (meta.size() != n) throw std::logic_error("ShardWriter::finish: metadata rows != shard rows");

  std::vector<uint8_t> labels;
  std::vector<char> names(n * kImageIndexLength, '\0');
  std::vector<int32_t> patient, follow_up, orig_size;
  std::vector<int16_t> age;
  std::vector<int8_t> sex, view, expert;
  std::vector<float> spacing;
  for (hsize_t i = 0; i < n; ++i) {
    const SampleMeta& m = meta[i];
    if (m.image_index.size() > static_cast<size_t>(kImageIndexLength))
      throw std::invalid_argument("image name longer than " + std::to_string(kImageIndexLength) + ": " + m.image_index);
    std::memcpy(names.data() + i * kImageIndexLength, m.image_index.data(), m.image_index.size());
    labels.insert(labels.end(), m.labels.begin(), m.labels.end());
    patient.push_back(m.patient_id);
    age.push_back(m.age);
    sex.push_back(m.sex);
    view.push_back(m.view);
    follow_up.push_back(m.follow_up);
    orig_size.insert(orig_size.end(), m.orig_size.begin(), m.orig_size.end());
    spacing.insert(spacing.end(), m.pixel_spacing.begin(), m.pixel_spacing.end());
    expert.insert(expert.end(), m.expert_labels.begin(), m.expert_labels.end());
  }
  write_array(file_, "labels", H5T_STD_U8LE, H5T_NATIVE_UINT8, labels, {n, kNumClasses});
  {
    Hid type(H5_CHECK(H5Tcopy(H5T_C_S1)));
    H5_CHECK(H5Tset_size(type, kImageIndexLength));
    H5_CHECK(H5Tset_strpad(type, H5T_STR_NULLPAD));
    hsize_t dims[1] = {n};
    Hid space(H5_CHECK(H5Screate_simple(1, dims, nullptr)));
    Hid plist = checksummed_dcpl({n}, kImageIndexLength);
    Hid ds(H5_CHECK(H5Dcreate2(file_, "image_index", type, space, H5P_DEFAULT, plist, H5P_DEFAULT)));
    if (n) H5_CHECK(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, names.data()));
  }
  write_array(file_, "patient_id", H5T_STD_I32LE, H5T_NATIVE_INT32, patient, {n});
  write_array(file_, "age", H5T_STD_I16LE, H5T_NATIVE_INT16, age, {n});
  write_array(file_, "sex", H5T_STD_I8LE, H5T_NATIVE_INT8, sex, {n});
  write_array(file_, "view", H5T_STD_I8LE, H5T_NATIVE_INT8, view, {n});
  write_array(file_, "follow_up", H5T_STD_I32LE, H5T_NATIVE_INT32, follow_up, {n});
  write_array(file_, "orig_size", H5T_STD_I32LE, H5T_NATIVE_INT32, orig_size, {n, 2});
  write_array(file_, "pixel_spacing", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, spacing, {n, 2});
  if (options_.expert_labels)
    write_array(file_, "expert_labels", H5T_STD_I8LE, H5T_NATIVE_INT8, expert, {n, kNumExpertLabels});
  if (options_.bboxes) {
    std::vector<int32_t> rows;
    std::vector<int8_t> cls;
    std::vector<float> xywh;
    for (const auto& b : boxes) {
      rows.push_back(b.row);
      cls.push_back(b.cls);
      xywh.insert(xywh.end(), b.xywh.begin(), b.xywh.end());
    }
    const auto k = static_cast<hsize_t>(boxes.size());
    write_array(file_, "bbox_row", H5T_STD_I32LE, H5T_NATIVE_INT32, rows, {k});
    write_array(file_, "bbox_class", H5T_STD_I8LE, H5T_NATIVE_INT8, cls, {k});
    write_array(file_, "bbox_xywh", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, xywh, {k, 4});
  }
  if (options_.shortcut) {
    if (shortcut.size() != n) throw std::logic_error("ShardWriter::finish: shortcut rows != shard rows");
    write_array(file_, "shortcut", H5T_STD_U8LE, H5T_NATIVE_UINT8, shortcut, {n});
  }

  h5_write_string_attr(file_, "schema", kPackSchema);
  h5_write_string_attr(file_, "split", options_.split);
  h5_write_string_attr(file_, "source", options_.source);
  h5_write_string_array_attr(file_, "classes", class_names());
  h5_write_string_attr(file_, "sex_encoding", kSexEncoding);
  h5_write_string_attr(file_, "view_encoding", kViewEncoding);
  h5_write_int_attr(file_, "image_size", options_.image_size);
  if (options_.expert_labels) {
    h5_write_string_array_attr(file_, "expert_label_names", {kExpertLabelNames.begin(), kExpertLabelNames.end()});
  }
  images_.reset();
  masks_.reset();
  H5_CHECK(H5Fflush(file_, H5F_SCOPE_GLOBAL));
  file_.reset();
  finished_ = true;
  sha256_ = sha256_file(path_);
}

}  // namespace cxr::data
