// Atomic file and directory output (see fs.h).
#include "core/fs.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace cxr {

namespace {

void fsync_path(const fs::path& path, int flags, const char* what) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) throw UserError(std::string("cannot open ") + what + " '" + path.string() + "' to sync it: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc == 0) return;
  // Some network and FUSE file systems cannot sync (a folder, mostly): durability is then theirs to give,
  // which is worth one warning, not a failed run. Any other error is a real I/O error.
  if (err == EINVAL || err == ENOTSUP || err == EROFS) {
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true))
      spdlog::warn("the file system of '{}' does not support fsync of a {} ({}): outputs are renamed atomically but "
                   "may not survive a node crash", path.string(), what, std::strerror(err));
    return;
  }
  throw UserError(std::string("fsync of ") + what + " '" + path.string() + "' failed: " + std::strerror(err),
                  "the disk or file system reported an error; check it before trusting this output");
}

}  // namespace

void fsync_file(const fs::path& path) { fsync_path(path, O_RDONLY, "file"); }

void fsync_dir(const fs::path& dir) { fsync_path(dir.empty() ? fs::path(".") : dir, O_RDONLY | O_DIRECTORY, "folder"); }

void durable_rename(const fs::path& from, const fs::path& to) {
  fs::rename(from, to);
  fsync_dir(to.parent_path());
}

void atomic_write_file(const fs::path& path, const std::string& content) {
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw UserError("cannot write '" + tmp.string() + "'", "check that the folder exists and is writable");
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.flush();
    if (!out) throw UserError("write to '" + tmp.string() + "' failed (disk full?)");
  }
  fsync_file(tmp);
  durable_rename(tmp, path);
}

fs::path make_staging_dir(const fs::path& final_dir) {
  fs::path abs = fs::absolute(final_dir).lexically_normal();
  if (abs.filename().empty()) abs = abs.parent_path();
  fs::path staging = abs.parent_path() / ("." + abs.filename().string() + ".tmp." + std::to_string(::getpid()));
  std::error_code ec;
  fs::remove_all(staging, ec);
  fs::create_directories(staging, ec);
  if (ec) throw UserError("cannot create '" + staging.string() + "': " + ec.message(),
                          "check that the parent folder of the output exists and is writable");
  return staging;
}

void commit_dir(const fs::path& staging, const fs::path& final_dir, bool overwrite) {
  if (fs::exists(final_dir)) {
    if (!overwrite) {
      throw UserError("output '" + final_dir.string() + "' already exists; nothing was changed",
                      "pass --overwrite to replace it, or choose another --out");
    }
    // Move the old output aside first so that a crash leaves either the old or the new one.
    fs::path old = staging;
    old += ".old";
    fs::rename(final_dir, old);
    fs::rename(staging, final_dir);
    fs::remove_all(old);
    return;
  }
  fs::rename(staging, final_dir);
}

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError("cannot read '" + path.string() + "'", "check the path");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace cxr
