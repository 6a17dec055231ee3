// The pack schema checks and checksums (issue 9): HDF5's own Fletcher-32 bytes against ours; every
// kind of damage named in the issue, and more, ends in a UserError naming the shard and the dataset;
// a damaged image chunk is caught on read, naming its row; verify_pack catches changed bytes; packs
// without checksums still read.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "core/fs.h"
#include "data/classes.h"
#include "data/fletcher32.h"
#include "data/hdf5_util.h"
#include "data/pack_reader.h"
#include "data/pack_verify.h"
#include "pack_damage.h"

namespace fs = std::filesystem;
using namespace cxr::data;
using namespace cxr::test;

namespace {

// HDF5's H5_checksum_fletcher32 transcribed word by word (the recurrence ours replaces by block sums).
uint32_t reference_fletcher32(const uint8_t* data, size_t len_bytes) {
  size_t len = len_bytes / 2;
  uint32_t sum1 = 0, sum2 = 0;
  while (len) {
    size_t tlen = len > 360 ? 360 : len;
    len -= tlen;
    do {
      sum1 += static_cast<uint32_t>((static_cast<uint16_t>(data[0]) << 8) | data[1]);
      data += 2;
      sum2 += sum1;
    } while (--tlen);
    sum1 = (sum1 & 0xffff) + (sum1 >> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >> 16);
  }
  if (len_bytes % 2) {
    sum1 += static_cast<uint32_t>(static_cast<uint16_t>(*data) << 8);
    sum2 += sum1;
    sum1 = (sum1 & 0xffff) + (sum1 >> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >> 16);
  }
  sum1 = (sum1 & 0xffff) + (sum1 >> 16);
  sum2 = (sum2 & 0xffff) + (sum2 >> 16);
  return (sum2 << 16) | sum1;
}

fs::path scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("cxr_packchk_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// The bytes HDF5 itself stores for a one-chunk uint8 dataset written with its Fletcher-32 filter.
std::vector<uint8_t> hdf5_stored_chunk(const fs::path& dir, const std::vector<uint8_t>& data) {
  const std::string path = (dir / "f.h5").string();
  fs::remove(path);
  h5_quiet();
  Hid file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  hsize_t dims[1] = {data.size()};
  Hid space(H5Screate_simple(1, dims, nullptr));
  Hid plist(H5Pcreate(H5P_DATASET_CREATE));
  H5Pset_chunk(plist, 1, dims);
  H5Pset_fletcher32(plist);
  Hid ds(H5Dcreate2(file, "d", H5T_STD_U8LE, space, H5P_DEFAULT, plist, H5P_DEFAULT));
  EXPECT_GE(H5Dwrite(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()), 0);
  H5Fflush(file, H5F_SCOPE_GLOBAL);
  hsize_t offset[1] = {0}, stored = 0;
  EXPECT_GE(H5Dget_chunk_storage_size(ds, offset, &stored), 0);
  std::vector<uint8_t> raw(stored);
  uint32_t mask = 0;
  EXPECT_GE(H5Dread_chunk(ds, H5P_DEFAULT, offset, &mask, raw.data()), 0);
  return raw;
}

class PackChecks : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pristine_ = scratch("pristine").string() + "/pack";
    make_small_pack(pristine_);
  }
  void SetUp() override {
    dir_ = scratch(::testing::UnitTest::GetInstance()->current_test_info()->name()).string() + "/pack";
    copy_pack(pristine_, dir_);
    for (const auto& f : shard_files(dir_))
      if (fs::path(f).filename().string().rfind("train-00000-of-", 0) == 0) shard_ = f;
    ASSERT_FALSE(shard_.empty());
    name_ = fs::path(shard_).filename().string();
    for (const auto& f : shard_files(dir_))
      if (fs::path(f).filename().string().rfind("train-00001-of-", 0) == 0) second_ = f;
    ASSERT_FALSE(second_.empty()) << "expected at least two train shards";
    rows_ = dataset_dims(shard_, "labels").at(0);
  }
  void TearDown() override { fs::remove_all(fs::path(dir_).parent_path()); }

  // Opening (and reading every image of) split `split` must end in a UserError whose message holds
  // every one of `needles`.
  void expect_refused(const std::vector<std::string>& needles, const std::string& split = "train") {
    try {
      PackSplit s(dir_, split);
      std::vector<uint8_t> img(static_cast<size_t>(s.image_size() * s.image_size()));
      for (int64_t r = 0; r < s.size(); ++r) s.read_image(r, img.data());
      FAIL() << "the damaged pack was accepted";
    } catch (const cxr::UserError& e) {
      const std::string what = e.what();
      for (const auto& n : needles) EXPECT_NE(what.find(n), std::string::npos) << "'" << n << "' not in: " << what;
      EXPECT_NE(what.find("HINT:"), std::string::npos) << what;
    }
  }

  static std::string pristine_;
  std::string dir_, shard_, name_, second_;
  uint64_t rows_ = 0;
};
std::string PackChecks::pristine_;

}  // namespace

TEST(Fletcher32, EqualsTheBytesHdf5Writes) {
  const fs::path dir = scratch("fletcher");
  std::mt19937_64 rng(11);
  std::vector<std::vector<uint8_t>> cases;
  for (size_t n : {1, 2, 3, 719, 720, 721, 722, 4095, 8192, 8193, 65536, 65537}) {
    std::vector<uint8_t> random(n), zeros(n, 0), ones(n, 0xff);
    for (auto& b : random) b = static_cast<uint8_t>(rng());
    cases.push_back(random);
    cases.push_back(zeros);
    cases.push_back(ones);
  }
  for (const auto& data : cases) {
    const std::vector<uint8_t> stored = hdf5_stored_chunk(dir, data);
    ASSERT_EQ(stored.size(), data.size() + 4);
    const uint32_t hdf5 = uint32_t{stored[data.size()]} | uint32_t{stored[data.size() + 1]} << 8 |
                          uint32_t{stored[data.size() + 2]} << 16 | uint32_t{stored[data.size() + 3]} << 24;
    EXPECT_EQ(fletcher32(data.data(), data.size()), hdf5) << data.size() << " bytes";
    EXPECT_TRUE(fletcher32_chunk_ok(stored.data(), stored.size()));
    std::vector<uint8_t> damaged = stored;
    damaged[rng() % data.size()] ^= 0x10;
    EXPECT_FALSE(fletcher32_chunk_ok(damaged.data(), damaged.size())) << data.size() << " bytes";
  }
  fs::remove_all(dir);
}

TEST(Fletcher32, EqualsHdf5sRecurrenceOnRandomData) {
  std::mt19937_64 rng(3);
  for (int t = 0; t < 300; ++t) {
    std::vector<uint8_t> data(rng() % 20000);
    const int kind = t % 3;
    for (auto& b : data) b = kind == 0 ? static_cast<uint8_t>(rng()) : kind == 1 ? 0xff : static_cast<uint8_t>(rng() % 2);
    ASSERT_EQ(fletcher32(data.data(), data.size()), reference_fletcher32(data.data(), data.size())) << data.size();
  }
}

TEST_F(PackChecks, AFreshPackIsChecksummedAndVerifies) {
  PackSplit s(dir_, "train");
  EXPECT_TRUE(s.checksummed());
  EXPECT_TRUE(s.has_lesion_mask());
  const PackVerifyReport r = verify_pack(dir_, 2, false);
  EXPECT_EQ(r.shards, static_cast<int64_t>(shard_files(dir_).size()));
  EXPECT_EQ(r.shards_without_digest, 0);
  EXPECT_EQ(r.images, 60);
  EXPECT_EQ(r.masks, 60);
  EXPECT_TRUE(r.checksummed);
}

TEST_F(PackChecks, ImagesOfAnotherType) {
  replace_dataset(shard_, "images", H5Type::kU16, {rows_, 32, 32}, {1, 32, 32});
  expect_refused({name_, "dataset 'images'", "uint16", "expected uint8"});
}

TEST_F(PackChecks, ImagesOfAnotherSide) {
  replace_dataset(shard_, "images", H5Type::kU8, {rows_, 40, 40}, {1, 40, 40});
  expect_refused({name_, "dataset 'images'", "[" + std::to_string(rows_) + ",40,40]"});
}

TEST_F(PackChecks, ManifestUnderstatesTheImageSize) {
  patch_manifest(dir_, "/image_size", "16");
  expect_refused({name_, "image_size"});
}

TEST_F(PackChecks, LabelsOutsideZeroOne) {
  poke_value(shard_, "labels", 3, 7);
  expect_refused({name_, "dataset 'labels'", "row 0", "'Edema' holds 7"});
}

TEST_F(PackChecks, ImageIndexShorterThanLabels) {
  replace_dataset(shard_, "image_index", H5Type::kString8, {rows_ - 1}, {});
  expect_refused({"dataset 'image_index'", "string[8]"});
  replace_dataset(shard_, "image_index", H5Type::kVarString, {rows_}, {});
  expect_refused({"dataset 'image_index'", "variable-length string"});
}

TEST_F(PackChecks, ImageIndexOfAnotherLength) {
  const auto names = dataset_dims(shard_, "image_index");
  ASSERT_EQ(names.at(0), rows_);
  // Same type, one row short: the shapes disagree.
  {
    Hid f(H5Fopen(shard_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    ASSERT_GE(H5Ldelete(f, "image_index", H5P_DEFAULT), 0);
    Hid t(H5Tcopy(H5T_C_S1));
    H5Tset_size(t, kImageIndexLength);
    hsize_t d[1] = {rows_ - 1};
    Hid sp(H5Screate_simple(1, d, nullptr));
    Hid ds(H5Dcreate2(f, "image_index", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    ASSERT_TRUE(ds.valid());
  }
  expect_refused({"dataset 'image_index'", "shape [" + std::to_string(rows_ - 1) + "]",
                  "expected [" + std::to_string(rows_) + "]"});
}

TEST_F(PackChecks, ClassOrderReversedInTheManifest) {
  std::string list = "[";
  for (int c = kNumClasses - 1; c >= 0; --c) list += std::string("\"") + kClassNames[c] + "\"" + (c ? "," : "]");
  patch_manifest(dir_, "/classes", list);
  expect_refused({"manifest.json", "'classes'", "'Pneumothorax' where cxrtrain has 'Atelectasis'"});
}

TEST_F(PackChecks, ClassOrderReversedInTheShardAttribute) {
  std::vector<std::string> reversed(kClassNames.rbegin(), kClassNames.rend());
  set_string_array_attr(shard_, "classes", reversed);
  expect_refused({name_, "root attribute 'classes'", "'Pneumothorax' where cxrtrain has 'Atelectasis'"});
}

TEST_F(PackChecks, TwoImagesPerChunkOrNoChunks) {
  replace_dataset(shard_, "images", H5Type::kU8, {rows_, 32, 32}, {2, 32, 32});
  expect_refused({"dataset 'images'", "chunked as [2,32,32]"});
  replace_dataset(shard_, "images", H5Type::kU8, {rows_, 32, 32}, {});
  expect_refused({"dataset 'images'", "is not chunked"});
}

TEST_F(PackChecks, RowValuesOutOfRange) {
  poke_value(shard_, "sex", 2, 5);
  expect_refused({"dataset 'sex'", "row 2", "is 5"});
}

TEST_F(PackChecks, ExpertLabelsAndBoxesOutOfRange) {
  replace_dataset(shard_, "expert_labels", H5Type::kI8, {rows_, 4}, {}, 5);
  expect_refused({"dataset 'expert_labels'", "holds 5"});
  delete_dataset(shard_, "expert_labels");
  replace_dataset(shard_, "bbox_row", H5Type::kI32, {1}, {}, 999);
  replace_dataset(shard_, "bbox_class", H5Type::kI8, {1}, {}, 2);
  replace_dataset(shard_, "bbox_xywh", H5Type::kF32, {1, 4}, {}, 3);
  expect_refused({"dataset 'bbox_row'", "box 0 points at row 999"});
  replace_dataset(shard_, "bbox_row", H5Type::kI32, {1}, {}, 0);
  replace_dataset(shard_, "bbox_class", H5Type::kI8, {1}, {}, 14);
  expect_refused({"dataset 'bbox_class'", "class 14"});
  replace_dataset(shard_, "bbox_class", H5Type::kI8, {2}, {}, 1);
  expect_refused({"dataset 'bbox_class'", "shape [2], expected [1]"});
}

TEST_F(PackChecks, ManifestRowsDisagreeWithTheShard) {
  patch_manifest(dir_, "/splits/train/shards/0/rows", std::to_string(rows_ + 1));
  patch_manifest(dir_, "/splits/train/count", "999");
  expect_refused({"manifest.json", "split 'train'", "rows but its count is 999"});
  copy_pack(pristine_, dir_);
  patch_manifest(dir_, "/splits/train/shards/0/rows", std::to_string(rows_ + 1));
  patch_manifest(dir_, "/splits/train/shards/1/rows", std::to_string(dataset_dims(second_, "labels").at(0) - 1));
  expect_refused({name_, "has shape [" + std::to_string(rows_) + ","});
}

TEST_F(PackChecks, ManifestValuesOfTheWrongKind) {
  patch_manifest(dir_, "/image_size", "\"32\"");
  expect_refused({"manifest.json", "'image_size' is \"32\", expected an integer"});
  patch_manifest(dir_, "/image_size", "1e12");
  expect_refused({"manifest.json", "'image_size'"});
  patch_manifest(dir_, "/image_size", "32");
  patch_manifest(dir_, "/splits/train/shards/0/file", "\"../../etc/passwd\"");
  expect_refused({"manifest.json", "not a plain file name"});
}

TEST_F(PackChecks, MissingOrTruncatedShard) {
  fs::remove(shard_);
  expect_refused({name_, "cannot be read"});
  copy_pack(pristine_, dir_);
  truncate_file(shard_, fs::file_size(shard_) / 2);
  expect_refused({name_});
}

TEST_F(PackChecks, AShardOfAnotherSplit) {
  std::string val;
  for (const auto& f : shard_files(dir_))
    if (fs::path(f).filename().string().rfind("val-00000-of-", 0) == 0) val = f;
  ASSERT_FALSE(val.empty());
  fs::copy_file(val, shard_, fs::copy_options::overwrite_existing);
  expect_refused({name_, "belongs to split 'val'"});
}

TEST_F(PackChecks, ADamagedImageChunkIsCaughtOnReadNamingItsRow) {
  // Row 3's image chunk: flip a byte in the middle of its pixels, found by its (known) content.
  std::vector<uint8_t> row3(32 * 32);
  {
    PackSplit s(dir_, "train");
    s.read_image(3, row3.data());
  }
  std::string bytes = cxr::read_text_file(shard_);
  const auto at = bytes.find(std::string(reinterpret_cast<const char*>(row3.data()), row3.size()));
  ASSERT_NE(at, std::string::npos);
  {
    std::fstream f(shard_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(at + 500));
    const char c = static_cast<char>(bytes[at + 500] ^ 0x5a);
    f.write(&c, 1);
  }
  PackSplit s(dir_, "train");  // metadata intact: opens
  std::vector<uint8_t> img(32 * 32);
  s.read_image(2, img.data());
  try {
    s.read_image(3, img.data());
    FAIL() << "a damaged chunk was read";
  } catch (const cxr::UserError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(name_), std::string::npos) << what;
    EXPECT_NE(what.find("row 3"), std::string::npos) << what;
    EXPECT_NE(what.find("Fletcher-32"), std::string::npos) << what;
  }
  try {
    verify_pack(dir_, 1, false);
    FAIL() << "verify_pack accepted a changed shard";
  } catch (const cxr::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("sha256"), std::string::npos) << e.what();
  }
}

TEST_F(PackChecks, APackWithoutChecksumsStillReads) {
  // As an older cxrtrain wrote it: images chunked one per chunk, no filter.
  std::vector<uint8_t> all(rows_ * 32 * 32);
  {
    PackSplit s(dir_, "train");
    for (uint64_t r = 0; r < rows_; ++r) s.read_image(static_cast<int64_t>(r), all.data() + r * 32 * 32);
  }
  {
    Hid f(H5Fopen(shard_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    ASSERT_GE(H5Ldelete(f, "images", H5P_DEFAULT), 0);
    hsize_t d[3] = {rows_, 32, 32}, c[3] = {1, 32, 32};
    Hid sp(H5Screate_simple(3, d, nullptr));
    Hid pl(H5Pcreate(H5P_DATASET_CREATE));
    H5Pset_chunk(pl, 3, c);
    Hid ds(H5Dcreate2(f, "images", H5T_STD_U8LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT));
    ASSERT_GE(H5Dwrite(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, all.data()), 0);
  }
  PackSplit s(dir_, "train");
  EXPECT_FALSE(s.checksummed());
  std::vector<uint8_t> img(32 * 32);
  for (uint64_t r = 0; r < rows_; ++r) {
    s.read_image(static_cast<int64_t>(r), img.data());
    ASSERT_EQ(0, std::memcmp(img.data(), all.data() + r * 32 * 32, img.size())) << r;
  }
}
