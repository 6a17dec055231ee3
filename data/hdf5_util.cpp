// HDF5 helpers (see hdf5_util.h).
#include "data/hdf5_util.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace cxr::data {
namespace {

herr_t collect_error(unsigned n, const H5E_error2_t* err, void* client) {
  auto* out = static_cast<std::string*>(client);
  *out += "\n  #" + std::to_string(n) + " " + (err->func_name ? err->func_name : "?") + ": " +
          (err->desc ? err->desc : "");
  return 0;
}

}  // namespace

void h5_fail(const char* expr, const char* file, int line) {
  std::string stack;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &stack);
  throw std::runtime_error(std::string("HDF5 call failed: ") + expr + " at " + file + ":" + std::to_string(line) +
                           stack);
}

void Hid::reset() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE: H5Fclose(id_); break;
    case H5I_GROUP: H5Gclose(id_); break;
    case H5I_DATASET: H5Dclose(id_); break;
    case H5I_DATASPACE: H5Sclose(id_); break;
    case H5I_DATATYPE: H5Tclose(id_); break;
    case H5I_ATTR: H5Aclose(id_); break;
    case H5I_GENPROP_LST: H5Pclose(id_); break;
    default: break;
  }
  id_ = -1;
}

void h5_quiet() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

bool h5_threadsafe() {
  static const bool threadsafe = [] {
    hbool_t ts = false;
    return H5is_library_threadsafe(&ts) >= 0 && ts;
  }();
  return threadsafe;
}

std::unique_lock<std::mutex> h5_serial_lock() {
  static std::mutex mutex;
  if (h5_threadsafe()) return {};
  return std::unique_lock<std::mutex>(mutex);
}

namespace {

Hid fixed_string_type(size_t len) {
  Hid t(H5_CHECK(H5Tcopy(H5T_C_S1)));
  H5_CHECK(H5Tset_size(t, len == 0 ? 1 : len));
  H5_CHECK(H5Tset_strpad(t, H5T_STR_NULLPAD));
  return t;
}

}  // namespace

void h5_write_string_attr(hid_t obj, const std::string& name, const std::string& value) {
  Hid type = fixed_string_type(value.size());
  Hid space(H5_CHECK(H5Screate(H5S_SCALAR)));
  Hid attr(H5_CHECK(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT)));
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  H5_CHECK(H5Awrite(attr, type, padded.data()));
}

void h5_write_string_array_attr(hid_t obj, const std::string& name, const std::vector<std::string>& values) {
  size_t len = 1;
  for (const auto& v : values) len = std::max(len, v.size());
  std::vector<char> buf(len * values.size(), '\0');
  for (size_t i = 0; i < values.size(); ++i) std::memcpy(buf.data() + i * len, values[i].data(), values[i].size());
  Hid type = fixed_string_type(len);
  hsize_t dims[1] = {values.size()};
  Hid space(H5_CHECK(H5Screate_simple(1, dims, nullptr)));
  Hid attr(H5_CHECK(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT)));
  H5_CHECK(H5Awrite(attr, type, buf.data()));
}

void h5_write_int_attr(hid_t obj, const std::string& name, long long value) {
  Hid space(H5_CHECK(H5Screate(H5S_SCALAR)));
  Hid attr(H5_CHECK(H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT)));
  H5_CHECK(H5Awrite(attr, H5T_NATIVE_LLONG, &value));
}

namespace {

// Reads a fixed-length string attribute of `expected` elements (0 = any count up to 4096); the type,
// length and count are checked before the buffer is sized, so a damaged file cannot overflow it.
std::vector<std::string> read_fixed_strings(hid_t obj, const std::string& name, hssize_t expected) {
  Hid attr(H5_CHECK(H5Aopen(obj, name.c_str(), H5P_DEFAULT)));
  Hid type(H5_CHECK(H5Aget_type(attr)));
  Hid space(H5_CHECK(H5Aget_space(attr)));
  const size_t len = H5Tget_size(type);
  const hssize_t n = H5_CHECK(H5Sget_simple_extent_npoints(space));
  if (H5Tget_class(type) != H5T_STRING || H5Tis_variable_str(type) != 0 || len == 0 || len > 4096 || n < 0 ||
      n > 4096 || (expected > 0 && n != expected)) {
    throw std::runtime_error("attribute '" + name + "' is not " +
                             (expected == 1 ? std::string("a fixed-length string") : "an array of fixed-length strings"));
  }
  std::vector<char> buf(len * static_cast<size_t>(n), '\0');
  Hid mem = fixed_string_type(len);
  if (n) H5_CHECK(H5Aread(attr, mem, buf.data()));
  std::vector<std::string> out;
  for (hssize_t i = 0; i < n; ++i) out.emplace_back(buf.data() + i * len, strnlen(buf.data() + i * len, len));
  return out;
}

}  // namespace

std::string h5_read_string_attr(hid_t obj, const std::string& name) {
  return read_fixed_strings(obj, name, 1).at(0);
}

std::vector<std::string> h5_read_string_array_attr(hid_t obj, const std::string& name) {
  return read_fixed_strings(obj, name, 0);
}

bool h5_has_dataset(hid_t file, const std::string& name) {
  return H5_CHECK(H5Lexists(file, name.c_str(), H5P_DEFAULT)) > 0;
}

}  // namespace cxr::data
