// Atomic outputs: a committed folder replaces the old one only with overwrite, never half-way.
#include <gtest/gtest.h>

#include <unistd.h>

#include "core/error.h"
#include "core/fs.h"

namespace fs = std::filesystem;

TEST(Fs, CommitRefusesToOverwriteWithoutFlag) {
  fs::path root = fs::temp_directory_path() / ("cxr_fs_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  fs::path out = root / "out";

  fs::path s1 = cxr::make_staging_dir(out);
  cxr::atomic_write_file(s1 / "a.txt", "first");
  cxr::commit_dir(s1, out, false);
  EXPECT_EQ(cxr::read_text_file(out / "a.txt"), "first");

  fs::path s2 = cxr::make_staging_dir(out);
  cxr::atomic_write_file(s2 / "a.txt", "second");
  EXPECT_THROW(cxr::commit_dir(s2, out, false), cxr::UserError);
  EXPECT_EQ(cxr::read_text_file(out / "a.txt"), "first");  // the good output is untouched
  cxr::commit_dir(s2, out, true);
  EXPECT_EQ(cxr::read_text_file(out / "a.txt"), "second");
  EXPECT_EQ(std::distance(fs::directory_iterator(root), fs::directory_iterator()), 1);  // no leftovers
  fs::remove_all(root);
}
