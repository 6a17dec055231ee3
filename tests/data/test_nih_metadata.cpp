// NIH metadata parsing against the published NIH numbers (../shared/data/README.md) and against
// deliberately malformed files: every error must name the file and line.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>
#include <set>

#include "core/error.h"
#include "data/nih_metadata.h"
#include "data/splits.h"

namespace fs = std::filesystem;
using namespace cxr::data;

namespace {

const std::string kMeta = std::string(CXR_SHARED_DATA_DIR) + "/nih_metadata/";

std::string write_temp(const std::string& name, const std::string& text) {
  fs::path dir = fs::temp_directory_path() / ("cxr_meta_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << text;
  return (dir / name).string();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const cxr::UserError& e) {
    return e.what();
  }
  return "";
}

const char* kHeader =
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\r\n";

}  // namespace

TEST(NihMetadata, FullV2020MatchesPublishedCounts) {
  DataEntryStats st;
  auto rows = read_data_entry(kMeta + "Data_Entry_2017_v2020.csv", &st);
  ASSERT_EQ(rows.size(), 112120u);
  EXPECT_EQ(st.format, "v2020");
  // Published v2020 class counts, in kClassNames order.
  const std::array<int64_t, kNumClasses> expected = {11559, 2776, 4667, 2303, 13317, 2516, 1686,
                                                      227,   19894, 5782, 6331, 3385, 1431, 5302};
  std::array<int64_t, kNumClasses> got{};
  int64_t no_finding = 0, male = 0, pa = 0, age_min = 1000, age_max = -1;
  std::set<int32_t> patients;
  for (const auto& r : rows) {
    int n = 0;
    for (int c = 0; c < kNumClasses; ++c) {
      got[c] += r.labels[c];
      n += r.labels[c];
    }
    no_finding += n == 0;
    male += r.sex == kSexMale;
    pa += r.view == kViewPA;
    age_min = std::min<int64_t>(age_min, r.age);
    age_max = std::max<int64_t>(age_max, r.age);
    patients.insert(r.patient_id);
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(no_finding, 60361);
  EXPECT_EQ(male, 63340);
  EXPECT_EQ(pa, 67310);
  EXPECT_EQ(patients.size(), 30805u);
  EXPECT_EQ(age_min, 0);
  EXPECT_EQ(age_max, 95);
  // First row, by hand from the file.
  EXPECT_EQ(rows[0].image_index, "00000001_000.png");
  EXPECT_EQ(rows[0].age, 57);
  EXPECT_EQ(rows[0].orig_size, (std::array<int32_t, 2>{2682, 2749}));
  EXPECT_FLOAT_EQ(rows[0].pixel_spacing[0], 0.143f);
}

TEST(NihMetadata, GzipAndLfVariantGivesSameRows) {
  auto plain = read_data_entry(kMeta + "Data_Entry_2017_v2020.csv");
  auto gz = read_data_entry(kMeta + "Data_Entry_2017_v2020.csv.gz");
  ASSERT_EQ(plain.size(), gz.size());
  for (size_t i = 0; i < plain.size(); i += 997) {
    EXPECT_EQ(plain[i].image_index, gz[i].image_index);
    EXPECT_EQ(plain[i].labels, gz[i].labels);
    EXPECT_EQ(plain[i].age, gz[i].age);
    EXPECT_FLOAT_EQ(plain[i].pixel_spacing[1], gz[i].pixel_spacing[1]);
  }
}

TEST(NihMetadata, Original2017FormatWithTrailingComma) {
  DataEntryStats st;
  auto rows = read_data_entry(kMeta + "Data_Entry_2017.EXCERPT_first13rows.csv", &st);
  ASSERT_EQ(rows.size(), 13u);
  EXPECT_EQ(rows[0].image_index, "00000001_000.png");
  EXPECT_EQ(rows[0].age, 58);  // the 2017 file's age; v2020 changed it to 57
}

TEST(NihMetadata, KaggleSampleStringAges) {
  DataEntryStats st;
  auto rows = read_data_entry(std::string(CXR_SHARED_DATA_DIR) + "/nih_sample_kaggle/sample_labels.csv", &st);
  ASSERT_EQ(rows.size(), 5606u);
  EXPECT_EQ(st.format, "kaggle-sample");
  EXPECT_EQ(rows[0].image_index, "00000013_005.png");
  EXPECT_EQ(rows[0].age, 60);  // "060Y"
  EXPECT_GE(st.implausible_ages, 1);  // "411Y" for 00020900_002
  EXPECT_GE(st.month_or_day_ages, 1);
  for (const auto& r : rows)
    if (r.image_index == "00020900_002.png") {
      EXPECT_EQ(r.age, -1);
    }
}

TEST(NihMetadata, AgeFormats) {
  EXPECT_EQ(parse_age("57"), 57);
  EXPECT_EQ(parse_age("060Y"), 60);
  EXPECT_EQ(parse_age("013M"), 1);
  EXPECT_EQ(parse_age("011M"), 0);
  EXPECT_EQ(parse_age("001D"), 0);
  EXPECT_EQ(parse_age("411Y"), -1);
  EXPECT_THROW(parse_age("abc"), std::invalid_argument);
  EXPECT_THROW(parse_age("12W"), std::invalid_argument);
  EXPECT_THROW(parse_age(""), std::invalid_argument);
}

TEST(NihMetadata, MalformedRowsNameFileAndLine) {
  auto bad_fields = write_temp("fields.csv", std::string(kHeader) +
                                                 "00000001_000.png,Cardiomegaly,0,1,57,M,PA,2682,2749,0.143,0.143\r\n"
                                                 "00000001_001.png,Cardiomegaly,1,1,58,M,PA,2894,2729\r\n");
  std::string e = error_of([&] { read_data_entry(bad_fields); });
  EXPECT_NE(e.find("fields.csv:3"), std::string::npos) << e;
  EXPECT_NE(e.find("found 9"), std::string::npos) << e;

  auto bad_label = write_temp("label.csv", std::string(kHeader) +
                                               "00000001_000.png,Cardiomegally,0,1,57,M,PA,2682,2749,0.143,0.143\r\n");
  e = error_of([&] { read_data_entry(bad_label); });
  EXPECT_NE(e.find("label.csv:2"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'Cardiomegaly'"), std::string::npos) << e;

  auto dup = write_temp("dup.csv", std::string(kHeader) +
                                       "00000001_000.png,No Finding,0,1,57,M,PA,2682,2749,0.143,0.143\n"
                                       "00000001_000.png,No Finding,0,1,57,M,PA,2682,2749,0.143,0.143\n");
  e = error_of([&] { read_data_entry(dup); });
  EXPECT_NE(e.find("dup.csv:3"), std::string::npos) << e;
  EXPECT_NE(e.find("first at line 2"), std::string::npos) << e;

  auto bad_age = write_temp("age.csv", std::string(kHeader) +
                                           "00000001_000.png,No Finding,0,1,5x7,M,PA,2682,2749,0.143,0.143\n");
  e = error_of([&] { read_data_entry(bad_age); });
  EXPECT_NE(e.find("age.csv:2"), std::string::npos) << e;
  EXPECT_NE(e.find("Patient Age"), std::string::npos) << e;

  auto bad_header = write_temp("header.csv", "Image,Labels\n");
  EXPECT_NE(error_of([&] { read_data_entry(bad_header); }).find("header.csv:1"), std::string::npos);
}

TEST(NihMetadata, ListsAndOfficialSplit) {
  auto tv = read_image_list(kMeta + "train_val_list.txt");
  auto test = read_image_list(kMeta + "test_list.txt");
  EXPECT_EQ(tv.size(), 86524u);
  EXPECT_EQ(test.size(), 25596u);
  auto rows = read_data_entry(kMeta + "Data_Entry_2017_v2020.csv");
  auto a = assign_splits(rows, tv, test, 0.1, 0);
  auto sum = summarize(rows, a.split_of);
  EXPECT_EQ(sum[0].images + sum[1].images, 86524);
  EXPECT_EQ(sum[2].images, 25596);
  EXPECT_EQ(a.shared_patients, 0);
  EXPECT_EQ(sum[0].patients + sum[1].patients + sum[2].patients, 30805);  // disjoint by patient
  EXPECT_EQ(sum[1].patients, std::llround(0.1 * double(sum[0].patients + sum[1].patients)));
  // Seeded: same seed, same split; another seed, another split.
  EXPECT_EQ(assign_splits(rows, tv, test, 0.1, 0).split_of, a.split_of);
  EXPECT_NE(assign_splits(rows, tv, test, 0.1, 1).split_of, a.split_of);
  // An image in both lists is refused.
  auto both = test;
  both.push_back(tv[0]);
  EXPECT_THROW(assign_splits(rows, tv, both, 0.1, 0), cxr::UserError);
}

TEST(NihMetadata, BoundingBoxesAndInfiltrateAlias) {
  auto boxes = read_bbox_list(kMeta + "BBox_List_2017.csv");
  ASSERT_EQ(boxes.size(), 984u);
  std::array<int, kNumClasses> per_class{};
  std::set<std::string> images;
  for (const auto& b : boxes) {
    ++per_class[b.cls];
    images.insert(b.image_index);
  }
  EXPECT_EQ(images.size(), 880u);
  EXPECT_EQ(per_class[*class_index("Infiltration")], 123);
  EXPECT_EQ(per_class[*class_index("Atelectasis")], 180);
  EXPECT_EQ(per_class[*class_index("Nodule")], 79);
  EXPECT_NEAR(boxes[0].xywh[0], 225.084745762712, 1e-3);
  // The .gz copy parses identically.
  EXPECT_EQ(read_bbox_list(kMeta + "BBox_List_2017.csv.gz").size(), 984u);
}

TEST(NihMetadata, GoogleExpertLabels) {
  auto expert = read_expert_labels(kMeta + "google2019_nih-chest-xray-labels.csv.gz");
  EXPECT_EQ(expert.size(), 4376u);
  // First data row: 00000013_008.png,...,NO,NO,YES,NO,test
  auto it = expert.find("00000013_008.png");
  ASSERT_NE(it, expert.end());
  EXPECT_EQ(it->second, (std::array<int8_t, 4>{0, 0, 1, 0}));
}
