// File-system helpers for the "write to a temporary name, then rename" rule: a reader never sees a
// half-written file, and a failed run never replaces a good output.
#pragma once

#include <filesystem>
#include <string>

namespace cxr {

namespace fs = std::filesystem;

// Writes `content` to path.tmp.<pid>, fsyncs it, renames it over `path` and fsyncs the folder, so that
// after a crash of the process *or the node* the path holds the old or the new content, never a torn or
// empty file.
void atomic_write_file(const fs::path& path, const std::string& content);

// fsync of a written file / of a folder (makes a rename inside it durable). UserError naming the path.
void fsync_file(const fs::path& path);
void fsync_dir(const fs::path& dir);
// Renames `from` over `to` and fsyncs the folder of `to`.
void durable_rename(const fs::path& from, const fs::path& to);

// A fresh, empty sibling directory of `final_dir` (".<name>.tmp.<pid>"), for building an output that
// is renamed into place by commit_dir().
fs::path make_staging_dir(const fs::path& final_dir);

// Moves `staging` to `final_dir`. With overwrite=false an existing final_dir is an error (UserError);
// with overwrite=true the old one is removed only after the new one is complete.
void commit_dir(const fs::path& staging, const fs::path& final_dir, bool overwrite);

std::string read_text_file(const fs::path& path);

}  // namespace cxr
