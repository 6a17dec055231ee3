// HDF5 error checking and RAII handles. H5_CHECK(expr) throws with the expression, file, line and
// HDF5's own error stack when a call returns a negative value. Every HDF5 return value is checked.
#pragma once

#include <hdf5.h>

#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace cxr::data {

[[noreturn]] void h5_fail(const char* expr, const char* file, int line);

template <class T>
T h5_check(T value, const char* expr, const char* file, int line) {
  if (value < 0) h5_fail(expr, file, line);
  return value;
}

#define H5_CHECK(expr) ::cxr::data::h5_check((expr), #expr, __FILE__, __LINE__)

// Owns an hid_t and closes it with the right H5?close for its type.
class Hid {
 public:
  Hid() = default;
  explicit Hid(hid_t id) : id_(id) {}
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  Hid(Hid&& o) noexcept : id_(std::exchange(o.id_, -1)) {}
  Hid& operator=(Hid&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, -1);
    }
    return *this;
  }
  ~Hid() { reset(); }
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }  // NOLINT: handles pass straight into the C API
  bool valid() const { return id_ >= 0; }
  void reset();

 private:
  hid_t id_ = -1;
};

// Silences HDF5's automatic error printing (we report errors ourselves).
void h5_quiet();

// Whether this HDF5 was built thread-safe (H5is_library_threadsafe, asked once). Debian's is; a build
// without it must not be entered by two threads at once.
bool h5_threadsafe();
// Held around HDF5 calls made from several threads: an empty lock when HDF5 is thread-safe (it has
// its own global lock), else a lock on one process-wide mutex.
std::unique_lock<std::mutex> h5_serial_lock();

// Attribute helpers on a file or group.
void h5_write_string_attr(hid_t obj, const std::string& name, const std::string& value);
void h5_write_string_array_attr(hid_t obj, const std::string& name, const std::vector<std::string>& values);
void h5_write_int_attr(hid_t obj, const std::string& name, long long value);
std::string h5_read_string_attr(hid_t obj, const std::string& name);
std::vector<std::string> h5_read_string_array_attr(hid_t obj, const std::string& name);  // fixed-length strings
bool h5_has_dataset(hid_t file, const std::string& name);

}  // namespace cxr::data
