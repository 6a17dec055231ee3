// Ways to damage a pack on purpose, for the schema-check tests and the seeded fuzz test: byte-level
// damage (truncation, flips), HDF5-level damage (a dataset rewritten with another type, shape or
// chunking, attributes changed, datasets deleted) and lying manifests. All deterministic given a seed.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace cxr::test {

// A small phantom pack (synth, seeded): two shards per split, 32 px, lesion masks and a shortcut.
void make_small_pack(const std::string& dir, int64_t n = 60, int size = 32, uint64_t seed = 5);

std::vector<std::string> shard_files(const std::string& pack_dir);  // full paths, sorted

void truncate_file(const std::string& path, uint64_t bytes);
// Flips `count` random bytes (XOR with a non-zero value) in [begin, end) of the file (end 0 = file size).
void flip_bytes(const std::string& path, int count, std::mt19937_64& rng, uint64_t begin = 0, uint64_t end = 0);

enum class H5Type { kU8, kU16, kI8, kI16, kI32, kI64, kF32, kF64, kVarString, kString8 };
// Replaces dataset `name` by one of the given type and shape (chunk: empty = contiguous), filled with
// `fill` (converted to the type; strings get "x").
void replace_dataset(const std::string& shard, const std::string& name, H5Type type, const std::vector<uint64_t>& dims,
                     const std::vector<uint64_t>& chunk, double fill = 0);
void delete_dataset(const std::string& shard, const std::string& name);
// Writes `value` into element `flat_index` of an existing numeric dataset (HDF5 recomputes its checksum).
void poke_value(const std::string& shard, const std::string& name, uint64_t flat_index, long long value);
void set_string_attr(const std::string& shard, const std::string& name, const std::string& value);
void set_string_array_attr(const std::string& shard, const std::string& name, const std::vector<std::string>& values);
void set_int_attr(const std::string& shard, const std::string& name, long long value);
std::vector<uint64_t> dataset_dims(const std::string& shard, const std::string& name);

// Applies a JSON patch to manifest.json: `pointer` is a JSON pointer ("/image_size",
// "/splits/train/shards/0/rows"), `value_json` the new value as JSON text; "" removes the key.
void patch_manifest(const std::string& pack_dir, const std::string& pointer, const std::string& value_json);

void copy_pack(const std::string& from, const std::string& to);

}  // namespace cxr::test
