// The shard schema as checks (layout in pack_format.h): the type, shape, chunking and filters every
// dataset of a shard must have, the root attributes, and the values a row may hold. The reader runs
// them before it sizes anything from a file, so a damaged or lying pack ends in a UserError that names
// the shard, the dataset and what was expected, never in a heap overflow or a silent wrong number.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/pack_format.h"

namespace cxr::data {

// What to do about a bad pack (the HINT of every error below).
extern const char* const kBadPackHint;

enum class ElementType { kU8, kU16, kI8, kI16, kI32, kF32, kName };  // kName: fixed 16-byte string

struct DatasetSpec {
  const char* name;
  ElementType type;
  std::vector<int64_t> dims;  // expected shape; -1 = any length (the leading dimension of bbox arrays)
  bool frames = false;        // images/masks: one frame per chunk, chunk shape [1, H, W]
};

// A checked dataset: its shape and the filters its chunks went through when written, in that order
// (only deflate and Fletcher-32 are accepted).
struct DatasetLayout {
  std::vector<int64_t> dims;
  std::vector<int> filters;
  bool checksummed() const;
};

// Checks dataset `spec.name` of the open shard file; throws UserError naming shard and dataset.
DatasetLayout check_dataset(hid_t file, const std::string& shard, const DatasetSpec& spec);

// Root attributes: schema, split, the 14 classes in cxrtrain's order, image_size when present.
void check_shard_attributes(hid_t file, const std::string& shard, const std::string& split, int image_size);

// Values of one row (labels 0/1, sex/view/expert labels in {-1,0,1}, ages, ids, sizes, spacings).
void check_row_values(const std::string& shard, int64_t row, const SampleMeta& meta);
// A box: its row inside the shard's [0, rows), a known class, finite non-negative extent.
void check_box(const std::string& shard, size_t index, const BoxRecord& box, int64_t rows);

[[noreturn]] void bad_pack(const std::string& shard, const std::string& dataset, const std::string& what);

// Runs f(); an HDF5 or other library failure inside it becomes a UserError naming shard and dataset.
template <class F>
auto with_pack_context(const std::string& shard, const std::string& dataset, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    bad_pack(shard, dataset, std::string("cannot be read: ") + e.what());
  }
}

}  // namespace cxr::data
