// Pack damage helpers (see pack_damage.h).
#include "pack_damage.h"

#include <hdf5.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "core/fs.h"
#include "data/hdf5_util.h"
#include "data/synth.h"

namespace fs = std::filesystem;

namespace cxr::test {

using data::Hid;

void make_small_pack(const std::string& dir, int64_t n, int size, uint64_t seed) {
  data::SynthOptions o;
  o.out = dir;
  o.n = n;
  o.size = size;
  o.seed = seed;
  o.shard_size = static_cast<int>(std::max<int64_t>(1, n / 5));
  o.jobs = 1;
  o.overwrite = true;
  o.progress = false;
  o.shortcuts = {"Pneumothorax:0.9:top-left"};
  data::run_synth(o);
}

std::vector<std::string> shard_files(const std::string& pack_dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(pack_dir))
    if (e.path().extension() == ".h5") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

void truncate_file(const std::string& path, uint64_t bytes) { fs::resize_file(path, bytes); }

void flip_bytes(const std::string& path, int count, std::mt19937_64& rng, uint64_t begin, uint64_t end) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  const uint64_t size = fs::file_size(path);
  if (end == 0 || end > size) end = size;
  if (begin >= end) return;
  for (int i = 0; i < count; ++i) {
    const uint64_t at = begin + rng() % (end - begin);
    f.seekg(static_cast<std::streamoff>(at));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ static_cast<char>(1 + rng() % 255));
    f.seekp(static_cast<std::streamoff>(at));
    f.write(&c, 1);
  }
}

namespace {

Hid open_rw(const std::string& shard) {
  data::h5_quiet();
  Hid f(H5Fopen(shard.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
  if (!f.valid()) throw std::runtime_error("cannot open " + shard + " for writing");
  return f;
}

Hid make_type(H5Type t) {
  switch (t) {
    case H5Type::kU8: return Hid(H5Tcopy(H5T_STD_U8LE));
    case H5Type::kU16: return Hid(H5Tcopy(H5T_STD_U16LE));
    case H5Type::kI8: return Hid(H5Tcopy(H5T_STD_I8LE));
    case H5Type::kI16: return Hid(H5Tcopy(H5T_STD_I16LE));
    case H5Type::kI32: return Hid(H5Tcopy(H5T_STD_I32LE));
    case H5Type::kI64: return Hid(H5Tcopy(H5T_STD_I64LE));
    case H5Type::kF32: return Hid(H5Tcopy(H5T_IEEE_F32LE));
    case H5Type::kF64: return Hid(H5Tcopy(H5T_IEEE_F64LE));
    case H5Type::kVarString: {
      Hid s(H5Tcopy(H5T_C_S1));
      H5Tset_size(s, H5T_VARIABLE);
      return s;
    }
    case H5Type::kString8: {
      Hid s(H5Tcopy(H5T_C_S1));
      H5Tset_size(s, 8);
      return s;
    }
  }
  throw std::logic_error("type");
}

void check(herr_t rc, const char* what) {
  if (rc < 0) throw std::runtime_error(std::string("HDF5 failed: ") + what);
}

}  // namespace

void replace_dataset(const std::string& shard, const std::string& name, H5Type type, const std::vector<uint64_t>& dims,
                     const std::vector<uint64_t>& chunk, double fill) {
  Hid f = open_rw(shard);
  if (H5Lexists(f, name.c_str(), H5P_DEFAULT) > 0) check(H5Ldelete(f, name.c_str(), H5P_DEFAULT), "H5Ldelete");
  std::vector<hsize_t> d(dims.begin(), dims.end()), c(chunk.begin(), chunk.end());
  Hid space(H5Screate_simple(static_cast<int>(d.size()), d.data(), nullptr));
  Hid plist(H5Pcreate(H5P_DATASET_CREATE));
  if (!c.empty()) check(H5Pset_chunk(plist, static_cast<int>(c.size()), c.data()), "H5Pset_chunk");
  Hid ftype = make_type(type);
  Hid ds(H5Dcreate2(f, name.c_str(), ftype, space, H5P_DEFAULT, plist, H5P_DEFAULT));
  if (!ds.valid()) throw std::runtime_error("H5Dcreate2 " + name);
  uint64_t n = 1;
  for (auto x : dims) n *= x;
  if (n == 0) return;
  if (type == H5Type::kVarString) {
    std::vector<const char*> v(n, "x");
    check(H5Dwrite(ds, ftype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), "H5Dwrite");
  } else if (type == H5Type::kString8) {
    std::vector<char> v(n * 8, 'x');
    check(H5Dwrite(ds, ftype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), "H5Dwrite");
  } else {
    std::vector<double> v(n, fill);
    check(H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), "H5Dwrite");
  }
}

void delete_dataset(const std::string& shard, const std::string& name) {
  Hid f = open_rw(shard);
  check(H5Ldelete(f, name.c_str(), H5P_DEFAULT), "H5Ldelete");
}

void poke_value(const std::string& shard, const std::string& name, uint64_t flat_index, long long value) {
  Hid f = open_rw(shard);
  Hid ds(H5Dopen2(f, name.c_str(), H5P_DEFAULT));
  if (!ds.valid()) throw std::runtime_error("no dataset " + name);
  Hid space(H5Dget_space(ds));
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  std::vector<hsize_t> coord(static_cast<size_t>(rank));
  uint64_t rest = flat_index;
  for (int d = rank - 1; d >= 0; --d) {
    coord[static_cast<size_t>(d)] = rest % dims[static_cast<size_t>(d)];
    rest /= dims[static_cast<size_t>(d)];
  }
  check(H5Sselect_elements(space, H5S_SELECT_SET, 1, coord.data()), "select");
  hsize_t one = 1;
  Hid mem(H5Screate_simple(1, &one, nullptr));
  check(H5Dwrite(ds, H5T_NATIVE_LLONG, mem, space, H5P_DEFAULT, &value), "H5Dwrite");
}

void set_string_attr(const std::string& shard, const std::string& name, const std::string& value) {
  Hid f = open_rw(shard);
  if (H5Aexists(f, name.c_str()) > 0) check(H5Adelete(f, name.c_str()), "H5Adelete");
  data::h5_write_string_attr(f, name, value);
}

void set_string_array_attr(const std::string& shard, const std::string& name, const std::vector<std::string>& values) {
  Hid f = open_rw(shard);
  if (H5Aexists(f, name.c_str()) > 0) check(H5Adelete(f, name.c_str()), "H5Adelete");
  data::h5_write_string_array_attr(f, name, values);
}

void set_int_attr(const std::string& shard, const std::string& name, long long value) {
  Hid f = open_rw(shard);
  if (H5Aexists(f, name.c_str()) > 0) check(H5Adelete(f, name.c_str()), "H5Adelete");
  data::h5_write_int_attr(f, name, value);
}

std::vector<uint64_t> dataset_dims(const std::string& shard, const std::string& name) {
  data::h5_quiet();
  Hid f(H5Fopen(shard.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  Hid ds(H5Dopen2(f, name.c_str(), H5P_DEFAULT));
  if (!ds.valid()) throw std::runtime_error("no dataset " + name);
  Hid space(H5Dget_space(ds));
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return {dims.begin(), dims.end()};
}

void patch_manifest(const std::string& pack_dir, const std::string& pointer, const std::string& value_json) {
  const fs::path path = fs::path(pack_dir) / "manifest.json";
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(read_text_file(path));
  const nlohmann::ordered_json::json_pointer ptr(pointer);
  if (value_json.empty()) {
    j[ptr.parent_pointer()].erase(ptr.back());
  } else {
    j[ptr] = nlohmann::ordered_json::parse(value_json);
  }
  atomic_write_file(path, j.dump(2));
}

void copy_pack(const std::string& from, const std::string& to) {
  fs::remove_all(to);
  fs::copy(from, to, fs::copy_options::recursive);
}

}  // namespace cxr::test
