// Shard schema checks (see pack_schema.h). Types are compared on the stored type itself (class, size,
// sign), not left to HDF5's conversions, which would silently clamp a uint16 image into uint8.
#include "data/pack_schema.h"

#include <cmath>

#include "core/strings.h"
#include "data/classes.h"
#include "data/hdf5_util.h"

namespace cxr::data {

const char* const kBadPackHint =
    "the pack is damaged or was not written by cxrtrain: `cxrtrain info --verify PACK` checks every shard; "
    "re-create the pack (cxrtrain pack / synth) or restore the shard from a good copy";

namespace {

struct TypeInfo {
  H5T_class_t cls;
  size_t size;
  H5T_sign_t sign;  // H5T_SGN_ERROR: not an integer
  const char* text;
};

TypeInfo type_info(ElementType t) {
  switch (t) {
    case ElementType::kU8: return {H5T_INTEGER, 1, H5T_SGN_NONE, "uint8"};
    case ElementType::kU16: return {H5T_INTEGER, 2, H5T_SGN_NONE, "uint16"};
    case ElementType::kI8: return {H5T_INTEGER, 1, H5T_SGN_2, "int8"};
    case ElementType::kI16: return {H5T_INTEGER, 2, H5T_SGN_2, "int16"};
    case ElementType::kI32: return {H5T_INTEGER, 4, H5T_SGN_2, "int32"};
    case ElementType::kF32: return {H5T_FLOAT, 4, H5T_SGN_ERROR, "float32"};
    case ElementType::kName: return {H5T_STRING, static_cast<size_t>(kImageIndexLength), H5T_SGN_ERROR, "string[16]"};
  }
  return {H5T_NO_CLASS, 0, H5T_SGN_ERROR, "?"};
}

std::string stored_type_text(hid_t type) {
  const H5T_class_t cls = H5Tget_class(type);
  const size_t size = H5Tget_size(type);
  switch (cls) {
    case H5T_INTEGER:
      return std::string(H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(8 * size) +
             (size > 1 && H5Tget_order(type) == H5T_ORDER_BE ? " big-endian" : "");
    case H5T_FLOAT: return "float" + std::to_string(8 * size);
    case H5T_STRING:
      return H5Tis_variable_str(type) > 0 ? "variable-length string" : "string[" + std::to_string(size) + "]";
    default: return "HDF5 type class " + std::to_string(static_cast<int>(cls));
  }
}

std::string shape_text(const std::vector<int64_t>& dims) {
  std::vector<std::string> parts;
  for (int64_t d : dims) parts.push_back(d < 0 ? "K" : std::to_string(d));
  return "[" + join(parts, ",") + "]";
}

std::string hsize_text(const hsize_t* dims, int rank) {
  std::vector<int64_t> v(dims, dims + rank);
  return shape_text(v);
}

}  // namespace

bool DatasetLayout::checksummed() const {
  for (int f : filters)
    if (f == H5Z_FILTER_FLETCHER32) return true;
  return false;
}

void bad_pack(const std::string& shard, const std::string& dataset, const std::string& what) {
  const std::string where = dataset.empty() ? shard : shard + ": dataset '" + dataset + "'";
  throw UserError(where + " " + what, kBadPackHint);
}

DatasetLayout check_dataset(hid_t file, const std::string& shard, const DatasetSpec& spec) {
  return with_pack_context(shard, spec.name, [&] {
    if (!h5_has_dataset(file, spec.name)) bad_pack(shard, spec.name, "is missing");
    Hid ds(H5_CHECK(H5Dopen2(file, spec.name, H5P_DEFAULT)));
    Hid type(H5_CHECK(H5Dget_type(ds)));
    const TypeInfo want = type_info(spec.type);
    bool type_ok = H5Tget_class(type) == want.cls && H5Tget_size(type) == want.size;
    if (type_ok && want.cls == H5T_INTEGER) type_ok = H5Tget_sign(type) == want.sign;
    if (type_ok && want.cls == H5T_STRING) type_ok = H5Tis_variable_str(type) == 0;
    // Frames are read as raw chunk bytes, without HDF5's conversion: a big-endian uint16 mask would be garbled.
    if (type_ok && spec.frames && want.size > 1) type_ok = H5Tget_order(type) == H5T_ORDER_LE;
    if (!type_ok) bad_pack(shard, spec.name, "is " + stored_type_text(type) + ", expected " + want.text);

    Hid space(H5_CHECK(H5Dget_space(ds)));
    const int rank = H5_CHECK(H5Sget_simple_extent_ndims(space));
    hsize_t dims[H5S_MAX_RANK] = {};
    if (rank > 0) H5_CHECK(H5Sget_simple_extent_dims(space, dims, nullptr));
    bool shape_ok = rank == static_cast<int>(spec.dims.size());
    for (int d = 0; shape_ok && d < rank; ++d)
      shape_ok = spec.dims[static_cast<size_t>(d)] < 0 || dims[d] == static_cast<hsize_t>(spec.dims[static_cast<size_t>(d)]);
    if (!shape_ok) {
      bad_pack(shard, spec.name, "has shape " + hsize_text(dims, rank) + ", expected " + shape_text(spec.dims) +
                                     " (rows from manifest.json, image side from its image_size)");
    }
    DatasetLayout layout;
    for (int d = 0; d < rank; ++d) layout.dims.push_back(static_cast<int64_t>(dims[d]));

    Hid plist(H5_CHECK(H5Dget_create_plist(ds)));
    const H5D_layout_t kind = H5Pget_layout(plist);
    if (kind == H5D_CHUNKED) {
      hsize_t chunk[H5S_MAX_RANK] = {};
      const int chunk_rank = H5_CHECK(H5Pget_chunk(plist, H5S_MAX_RANK, chunk));
      if (spec.frames && (chunk_rank != 3 || chunk[0] != 1 || chunk[1] != dims[1] || chunk[2] != dims[2])) {
        bad_pack(shard, spec.name, "is chunked as " + hsize_text(chunk, chunk_rank) + ", expected one frame per chunk [1," +
                                       std::to_string(dims[1]) + "," + std::to_string(dims[2]) + "]");
      }
      const int n = H5_CHECK(H5Pget_nfilters(plist));
      for (int i = 0; i < n; ++i) {
        unsigned flags = 0, config = 0;
        size_t nelem = 0;
        char name[64] = {};
        const H5Z_filter_t f = H5_CHECK(H5Pget_filter2(plist, static_cast<unsigned>(i), &flags, &nelem, nullptr,
                                                       sizeof name, name, &config));
        if (f != H5Z_FILTER_DEFLATE && f != H5Z_FILTER_FLETCHER32)
          bad_pack(shard, spec.name, "uses HDF5 filter " + std::to_string(f) + " ('" + name +
                                         "'); packs use only gzip and the Fletcher-32 checksum");
        layout.filters.push_back(static_cast<int>(f));
      }
    } else if (spec.frames && dims[0] > 0) {
      bad_pack(shard, spec.name, "is not chunked; frames must be stored one per chunk [1,H,W]");
    }
    return layout;
  });
}

void check_shard_attributes(hid_t file, const std::string& shard, const std::string& split, int image_size) {
  with_pack_context(shard, "", [&] {
    for (const char* name : {"schema", "split", "classes"}) {
      if (H5_CHECK(H5Aexists(file, name)) <= 0) bad_pack(shard, "", "has no root attribute '" + std::string(name) + "'");
    }
    const std::string schema = h5_read_string_attr(file, "schema");
    if (schema != kPackSchema) bad_pack(shard, "", "has schema '" + schema + "', expected '" + kPackSchema + "'");
    const std::string shard_split = h5_read_string_attr(file, "split");
    if (shard_split != split)
      bad_pack(shard, "", "belongs to split '" + shard_split + "' but manifest.json lists it under '" + split + "'");
    const std::vector<std::string> classes = h5_read_string_array_attr(file, "classes");
    const std::vector<std::string> want = class_names();
    if (classes != want) {
      size_t i = 0;
      while (i < classes.size() && i < want.size() && classes[i] == want[i]) ++i;
      bad_pack(shard, "", "root attribute 'classes' lists " + std::to_string(classes.size()) + " classes" +
                              (i < classes.size() && i < want.size()
                                   ? ", column " + std::to_string(i) + " is '" + classes[i] + "' where cxrtrain has '" + want[i] + "'"
                                   : "") +
                              "; the label columns must be the 14 NIH classes in cxrtrain's order (" + join(want, ", ") + ")");
    }
    if (H5_CHECK(H5Aexists(file, "image_size")) > 0) {
      Hid attr(H5_CHECK(H5Aopen(file, "image_size", H5P_DEFAULT)));
      Hid type(H5_CHECK(H5Aget_type(attr)));
      Hid space(H5_CHECK(H5Aget_space(attr)));
      if (H5Tget_class(type) != H5T_INTEGER || H5_CHECK(H5Sget_simple_extent_npoints(space)) != 1)
        bad_pack(shard, "", "root attribute 'image_size' is not one integer");
      long long side = 0;
      H5_CHECK(H5Aread(attr, H5T_NATIVE_LLONG, &side));
      if (side != image_size)
        bad_pack(shard, "", "root attribute 'image_size' is " + std::to_string(side) + " but manifest.json says " +
                                std::to_string(image_size));
    }
    return 0;
  });
}

void check_row_values(const std::string& shard, int64_t row, const SampleMeta& m) {
  auto fail = [&](const char* dataset, const std::string& what) {
    bad_pack(shard, dataset, "row " + std::to_string(row) + " (image '" + m.image_index + "') " + what);
  };
  if (m.image_index.empty()) fail("image_index", "is empty");
  for (int c = 0; c < kNumClasses; ++c) {
    const int v = m.labels[static_cast<size_t>(c)];
    if (v != 0 && v != 1)
      fail("labels", "column '" + std::string(kClassNames[c]) + "' holds " + std::to_string(v) + "; labels are 0 or 1");
  }
  if (m.patient_id < 0) fail("patient_id", "is " + std::to_string(m.patient_id) + "; patient ids are >= 0");
  if (m.age < -1 || m.age > 150) fail("age", "is " + std::to_string(m.age) + "; ages are 0-150 years, -1 = unknown");
  if (m.sex < -1 || m.sex > 1) fail("sex", "is " + std::to_string(m.sex) + "; the encoding is " + kSexEncoding);
  if (m.view < -1 || m.view > 1) fail("view", "is " + std::to_string(m.view) + "; the encoding is " + kViewEncoding);
  if (m.follow_up < 0) fail("follow_up", "is " + std::to_string(m.follow_up) + "; follow-up numbers are >= 0");
  if (m.orig_size[0] < 0 || m.orig_size[1] < 0) fail("orig_size", "is negative");
  for (float s : m.pixel_spacing)
    if (!std::isfinite(s) || s < 0) fail("pixel_spacing", "is " + std::to_string(s) + "; spacings are finite and >= 0");
  for (int8_t e : m.expert_labels)
    if (e < -1 || e > 1) fail("expert_labels", "holds " + std::to_string(e) + "; expert labels are 1, 0 or -1 (not reviewed)");
}

void check_box(const std::string& shard, size_t index, const BoxRecord& b, int64_t rows) {
  const std::string which = "box " + std::to_string(index) + " ";
  if (b.row < 0 || b.row >= rows)
    bad_pack(shard, "bbox_row", which + "points at row " + std::to_string(b.row) + " of a shard with " + std::to_string(rows));
  if (b.cls < 0 || b.cls >= kNumClasses)
    bad_pack(shard, "bbox_class", which + "has class " + std::to_string(b.cls) + "; classes are 0-13");
  for (float v : b.xywh)
    if (!std::isfinite(v)) bad_pack(shard, "bbox_xywh", which + "is not finite");
  if (b.xywh[2] < 0 || b.xywh[3] < 0) bad_pack(shard, "bbox_xywh", which + "has a negative width or height");
}

}  // namespace cxr::data
