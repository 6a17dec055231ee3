// `pack` end to end on the real NIH PNGs in ../shared/data: every packed row must reproduce the
// labels, age, sex, view and official split that ../shared/data/MANIFEST.csv (an independent
// record) gives for that image, and the pixels of an area-resized decode of the source PNG.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"
#include "data/image_io.h"
#include "data/pack_reader.h"
#include "data/packer.h"

namespace fs = std::filesystem;
using namespace cxr::data;

namespace {

const std::string kShared = CXR_SHARED_DATA_DIR;

struct Truth {
  std::string labels, sex, view, split, bbox_labels, path;
  int age = 0;
};

// image name -> first MANIFEST.csv row for it (in sorted path order, as pack picks files).
std::map<std::string, Truth> read_truth() {
  std::ifstream in(kShared + "/MANIFEST.csv");
  std::string line;
  std::getline(in, line);
  std::map<std::string, Truth> out;
  std::vector<std::pair<std::string, Truth>> rows;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto f = cxr::split(line, ',');
    if (f.size() != 13 || !cxr::starts_with(f[0], "images/")) continue;
    Truth t{f[7], f[9], f[10], f[11], f[12], kShared + "/" + f[0], std::stoi(f[8])};
    rows.emplace_back(fs::path(f[0]).filename().string(), t);
  }
  std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second.path < b.second.path; });
  for (auto& [name, t] : rows) out.emplace(name, t);
  return out;
}

class PackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("cxr_pack_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  PackOptions options(const std::string& out) {
    PackOptions o;
    o.nih_root = kShared + "/nih_metadata";
    o.image_dirs = {kShared + "/images"};
    o.out = (root_ / out).string();
    o.size = 128;
    o.shard_size = 8;
    o.allow_missing = true;
    o.progress = false;
    o.jobs = 2;
    return o;
  }
  fs::path root_;
};

std::string file_bytes(const fs::path& p) { return cxr::read_text_file(p); }

}  // namespace

TEST_F(PackTest, ReproducesIndependentTruthAndPixels) {
  auto truth = read_truth();
  ASSERT_EQ(truth.size(), 37u);  // 40 files, 3 duplicate names
  PackResult r = run_pack(options("p"));
  EXPECT_EQ(r.images_written, 37);
  EXPECT_EQ(r.missing, 112120 - 37);
  std::set<std::string> seen;
  std::map<int32_t, std::string> patient_split;
  int boxes_checked = 0;
  for (const std::string split : {"train", "val", "test"}) {
    PackSplit ps((root_ / "p").string(), split);
    EXPECT_EQ(ps.image_size(), 128);
    std::vector<uint8_t> pixels(128 * 128);
    for (int64_t i = 0; i < ps.size(); ++i) {
      const SampleMeta& m = ps.meta()[static_cast<size_t>(i)];
      SCOPED_TRACE(m.image_index);
      ASSERT_TRUE(truth.count(m.image_index));
      const Truth& t = truth.at(m.image_index);
      seen.insert(m.image_index);
      std::vector<std::string> names;
      for (int c = 0; c < kNumClasses; ++c)
        if (m.labels[c]) names.push_back(kClassNames[c]);
      std::set<std::string> want;
      if (t.labels != "No Finding")
        for (auto& l : cxr::split(t.labels, '|')) want.insert(l);
      EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), want);
      EXPECT_EQ(m.age, t.age);
      EXPECT_EQ(m.sex, t.sex == "M" ? kSexMale : kSexFemale);
      EXPECT_EQ(m.view, t.view == "PA" ? kViewPA : kViewAP);
      EXPECT_EQ(t.split == "test", split == "test");
      auto [it, inserted] = patient_split.emplace(m.patient_id, split);
      EXPECT_EQ(it->second, split) << "patient in two splits";

      ps.read_image(i, pixels.data());
      cv::Mat expect = resize_square(decode_grey(t.path), 128);
      EXPECT_EQ(0, std::memcmp(expect.ptr<uint8_t>(), pixels.data(), pixels.size()));
    }
    // Boxes: the classes named in MANIFEST.csv, rescaled from 1024 to 128 px (inside the image).
    for (const auto& b : ps.boxes()) {
      const Truth& t = truth.at(ps.meta()[static_cast<size_t>(b.row)].image_index);
      std::string cls = kClassNames[b.cls];
      EXPECT_NE(t.bbox_labels.find(cls == "Infiltration" ? "Infiltrat" : cls), std::string::npos) << t.bbox_labels;
      EXPECT_GE(b.xywh[0], 0);
      EXPECT_LE(b.xywh[0] + b.xywh[2], 128.5);
      ++boxes_checked;
    }
  }
  EXPECT_EQ(seen.size(), 37u);
  int with_boxes = 0;
  for (auto& [n, t] : truth) with_boxes += !t.bbox_labels.empty();
  EXPECT_GE(boxes_checked, with_boxes);
  EXPECT_EQ(with_boxes, 12);
  EXPECT_TRUE(fs::exists(root_ / "p" / "missing_images.txt"));
}

TEST_F(PackTest, SameInputsSameBytesWhateverTheThreadCount) {
  PackOptions a = options("a"), b = options("b");
  a.jobs = 1;
  b.jobs = 2;
  run_pack(a);
  run_pack(b);
  int compared = 0;
  for (const auto& e : fs::directory_iterator(root_ / "a")) {
    if (e.path().extension() != ".h5") continue;
    EXPECT_EQ(file_bytes(e.path()), file_bytes(root_ / "b" / e.path().filename())) << e.path();
    ++compared;
  }
  EXPECT_GE(compared, 4);
}

TEST_F(PackTest, CompressedPackReadsTheSamePixels) {
  PackOptions a = options("plain"), b = options("gz");
  b.compression = 4;
  run_pack(a);
  run_pack(b);
  PackSplit pa((root_ / "plain").string(), "test"), pb((root_ / "gz").string(), "test");
  ASSERT_EQ(pa.size(), pb.size());
  std::vector<uint8_t> x(128 * 128), y(128 * 128);
  for (int64_t i = 0; i < pa.size(); ++i) {
    pa.read_image(i, x.data());
    pb.read_image(i, y.data());
    EXPECT_EQ(x, y);
  }
}

TEST_F(PackTest, MissingImagesAreAnErrorUnlessAllowed) {
  PackOptions o = options("m");
  o.allow_missing = false;
  try {
    run_pack(o);
    FAIL() << "missing images accepted";
  } catch (const cxr::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("--allow-missing"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(root_ / "m"));
  EXPECT_EQ(std::distance(fs::directory_iterator(root_), fs::directory_iterator()), 0);  // no staging left
}

TEST_F(PackTest, ExistingOutputIsNeverOverwrittenWithoutFlag) {
  fs::create_directories(root_ / "keep");
  cxr::atomic_write_file(root_ / "keep" / "precious.txt", "data");
  EXPECT_THROW(run_pack(options("keep")), cxr::UserError);
  EXPECT_EQ(cxr::read_text_file(root_ / "keep" / "precious.txt"), "data");
  PackOptions o = options("keep");
  o.overwrite = true;
  run_pack(o);
  EXPECT_FALSE(fs::exists(root_ / "keep" / "precious.txt"));
  EXPECT_TRUE(fs::exists(root_ / "keep" / "manifest.json"));
}

TEST_F(PackTest, MissingMetadataNamesWhatToPass) {
  PackOptions o = options("x");
  o.nih_root = root_.string();  // empty folder
  try {
    run_pack(o);
    FAIL();
  } catch (const cxr::UserError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("Data_Entry_2017_v2020.csv"), std::string::npos) << m;
    EXPECT_NE(m.find("--data-entry"), std::string::npos) << m;
  }
}
