// `pack --csv` (data/labelled_csv.*) on small files written here in CheXpert's and PadChest's published
// formats, through the label maps shipped in configs/label_maps/: every packed row must carry the labels,
// sex, age, view, patient and follow-up stated below for it (read by hand off the rows, not computed by
// the reader), uncertain labels must follow --uncertain, unmapped classes must be listed as not
// evaluable, and bad rows / maps must stop the pack naming file:line and column. No data set is downloaded.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <set>

#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"
#include "data/labelled_csv.h"
#include "data/manifest.h"
#include "data/pack_reader.h"
#include "data/packer.h"

namespace fs = std::filesystem;
using namespace cxr::data;

namespace {

const std::string kMaps = std::string(CXR_SOURCE_DIR) + "/configs/label_maps/";

// CheXpert train.csv: header as released; rows in its style (1.0 / 0.0 / -1.0 / blank).
const char* kChexpertHeader =
    "Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,Cardiomegaly,Lung Opacity,"
    "Lung Lesion,Edema,Consolidation,Pneumonia,Atelectasis,Pneumothorax,Pleural Effusion,Pleural Other,"
    "Fracture,Support Devices\n";
const char* kChexpertRows =
    // line 2: No Finding only
    "CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,Female,68,Frontal,AP,1.0,,,,,,,,,0.0,,,,1.0\n"
    // line 3: Cardiomegaly, Edema, Consolidation, Atelectasis, Pleural Effusion uncertain; Lung Opacity, Fracture
    // positive
    "CheXpert-v1.0-small/train/patient00002/study2/"
    "view1_frontal.jpg,Female,87,Frontal,AP,,,-1.0,1.0,,-1.0,-1.0,,-1.0,,-1.0,,1.0,\n"
    // line 4: Consolidation uncertain, Pneumonia positive
    "CheXpert-v1.0-small/train/patient00002/study1/view1_frontal.jpg,Female,83,Frontal,AP,,,,1.0,,,-1.0,1.0,,,,,1.0,\n"
    // line 5: lateral (dropped by chexpert.yaml's keep filter)
    "CheXpert-v1.0-small/train/patient00002/study1/view2_lateral.jpg,Female,83,Lateral,,,,,1.0,,,-1.0,,,,,,1.0,\n"
    // line 6: Edema positive and Pneumothorax explicitly negative; Lung Lesion positive (maps onto nothing)
    "CheXpert-v1.0-small/train/patient00003/study1/view1_frontal.jpg,Male,41,Frontal,AP,,,,,1.0,1.0,,,,0.0,,,,\n"
    // line 7: PA, Cardiomegaly + Pleural Effusion positive, Pneumothorax positive
    "CheXpert-v1.0-small/train/patient00004/study1/view1_frontal.jpg,Male,20,Frontal,PA,,0.0,1.0,,,,,,,1.0,1.0,,,\n"
    // line 8: sex Unknown, Atelectasis positive and uncertain Cardiomegaly
    "CheXpert-v1.0-small/train/patient00005/study3/view1_frontal.jpg,Unknown,55,Frontal,PA,,,-1.0,,,,,,1.0,,,,,1.0\n";

struct Want {
  std::set<std::string> labels;
  int8_t sex, view;
  int16_t age;
  int32_t patient, follow_up;
  std::string path;
};

// Row by CSV line, with --uncertain zeros (the map's default): uncertain labels are 0.
std::map<std::string, Want> chexpert_want_zeros() {
  const std::string d = "CheXpert-v1.0-small/train/";
  return {
      {"row000000002", {{}, kSexFemale, kViewAP, 68, 1, 0, d + "patient00001/study1/view1_frontal.jpg"}},
      {"row000000003", {{}, kSexFemale, kViewAP, 87, 2, 1, d + "patient00002/study2/view1_frontal.jpg"}},
      {"row000000004", {{"Pneumonia"}, kSexFemale, kViewAP, 83, 2, 0, d + "patient00002/study1/view1_frontal.jpg"}},
      {"row000000006", {{"Edema"}, kSexMale, kViewAP, 41, 3, 0, d + "patient00003/study1/view1_frontal.jpg"}},
      {"row000000007",
       {{"Cardiomegaly", "Effusion", "Pneumothorax"},
        kSexMale,
        kViewPA,
        20,
        4,
        0,
        d + "patient00004/study1/view1_frontal.jpg"}},
      {"row000000008", {{"Atelectasis"}, kUnknown, kViewPA, 55, 5, 2, d + "patient00005/study3/view1_frontal.jpg"}},
  };
}

// PadChest: the released CSV's header (its first, unnamed column is a row index) and rows in its style:
// long numeric PatientIDs, 16-bit PNGs in numbered folders, Python-list Labels in double quotes.
const char* kPadchestHeader =
    ",ImageID,ImageDir,StudyDate_DICOM,StudyID,PatientID,PatientBirth,PatientSex_DICOM,ViewPosition_DICOM,Projection,"
    "MethodProjection,Pediatric,Modality_DICOM,Manufacturer_DICOM,PhotometricInterpretation_DICOM,"
    "PixelRepresentation_DICOM,PixelAspectRatio_DICOM,SpatialResolution_DICOM,BitsStored_DICOM,WindowCenter_DICOM,"
    "WindowWidth_DICOM,Rows_DICOM,Columns_DICOM,XRayTubeCurrent_DICOM,Exposure_DICOM,ExposureInuAs_DICOM,"
    "ExposureTime,RelativeXRayExposure_DICOM,ReportID,Report,MethodLabel,Labels,Localizations,"
    "LabelsLocalizationsBySentence,labelCUIS,LocalizationsCUIS\n";
std::string padchest_row(int index, const std::string& image, int dir, const std::string& date,
                         const std::string& patient, const std::string& birth, const std::string& sex,
                         const std::string& projection, const std::string& labels) {
  return std::to_string(index) + "," + image + "," + std::to_string(dir) + "," + date + ",2020" +
         std::to_string(index) + "," + patient + "," + birth + "," + sex + ",POSTEROANTERIOR," + projection +
         ",Manual review of DICOM fields,No,CR,PhilipsMedicalSystems,MONOCHROME2,0,\"[1 1]\",0.139,12,2048,4096,2500,"
         "2048,0,0,0,0,0,401," +
         "\"cardiomegalia, derrame pleural \"\"izquierdo\"\", sin cambios.\",Physician," + labels +
         ",\"['loc left', 'loc basal']\",\"[['pleural effusion', 'loc left'], ['cardiomegaly']]\",\"['C0018800']\","
         "\"['C0443246']\"\n";
}
const std::string kP1 = "216840111366964012283393834152009033102258826_02-059-025.png";
const std::string kP2 = "216840111366964012339356563862009072111404053_00-043-192.png";
const std::string kP3 = "216840111366964012373310883942009117084022290_00-064-025.png";
const std::string kP4 = "216840111366964013076187734852011291090445391_00-196-188.png";
const std::string kP5 = "216840111366964012558082906712009327122220177_00-102-064.png";
const std::string kP6 = "216840111366964012989926673512011074122523403_00-163-058.png";
const std::string kP7 = "216840111366964012819207061112010307142602253_04-014-084.png";
std::string padchest_csv() {
  std::string s = kPadchestHeader;
  // line 2: effusion + cardiomegaly; age 2009 - 1944 = 65
  s += padchest_row(0, kP1, 0, "20090318", "839860488694292331637988235681460987", "1944.0", "M", "PA",
                    "\"['pleural effusion', 'cardiomegaly']\"");
  // line 3: normal; female; AP_horizontal -> AP; age 2009 - 1931 = 78
  s += padchest_row(1, kP2, 3, "20090721", "313572750430997347502932654319389875", "1931.0", "F", "AP_horizontal",
                    "\"['normal']\"");
  // line 4: same patient as line 2; sub-type 'laminar atelectasis' -> Atelectasis, 'hiatal hernia',
  // an unknown name (ignored, counted), leading space inside the quotes; birth blank -> age unknown
  s += padchest_row(2, kP3, 3, "20091117", "839860488694292331637988235681460987", "", "M", "AP",
                    "\"[' laminar atelectasis', 'hiatal hernia', 'kerley lines']\"");
  // line 5: lateral -> dropped by padchest.yaml's keep filter
  s +=
      padchest_row(3, kP4, 7, "20111018", "313572750430997347502932654319389875", "1931.0", "F", "L", "\"['normal']\"");
  // line 6: 'exclude' -> dropped
  s += padchest_row(4, kP5, 1, "20091123", "111111111111111111111111111111111111", "1950.0", "F", "PA",
                    "\"['exclude']\"");
  // line 7: blank Labels -> dropped (blank: skip)
  s += padchest_row(5, kP6, 4, "20110315", "222222222222222222222222222222222222", "1960.0", "M", "PA", "");
  // line 8: nodule, emphysema, pulmonary fibrosis, pleural thickening, infiltrates; sex blank -> unknown
  s += padchest_row(6, kP7, 4, "20101103", "999999999999999999999999999999999999", "1980", "", "PA",
                    "\"['nodule', 'emphysema', 'pulmonary fibrosis', 'pleural thickening', 'infiltrates']\"");
  return s;
}

class LabelledCsvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("cxr_labelled_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "images");
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path write(const std::string& name, const std::string& text) {
    fs::path p = root_ / name;
    fs::create_directories(p.parent_path());
    cxr::atomic_write_file(p, text);
    return p;
  }
  // An image of constant value `v` (8-bit) or `v16` (16-bit PNG) at images/<rel>.
  void image(const std::string& rel, int v, bool sixteen = false) {
    fs::path p = root_ / "images" / rel;
    fs::create_directories(p.parent_path());
    cv::Mat m = sixteen ? cv::Mat(40, 30, CV_16UC1, cv::Scalar(v)) : cv::Mat(40, 30, CV_8UC1, cv::Scalar(v));
    ASSERT_TRUE(cv::imwrite(p.string(), m)) << p;
  }
  void chexpert_images() {
    int v = 10;
    for (const auto& [name, w] : chexpert_want_zeros()) image(w.path, v += 20);
    image("CheXpert-v1.0-small/train/patient00002/study1/view2_lateral.jpg", 250);
  }
  PackOptions options(const fs::path& csv, const std::string& map, const std::string& out) {
    PackOptions o;
    o.csv = csv.string();
    o.label_map = map;
    o.image_dirs = {(root_ / "images").string()};
    o.out = (root_ / out).string();
    o.size = 16;
    o.shard_size = 4;
    o.jobs = 2;
    o.progress = false;
    return o;
  }
  // image_index -> row of `split` of the pack `out`.
  std::map<std::string, SampleMeta> rows_of(const std::string& out, const std::string& split) {
    PackSplit ps((root_ / out).string(), split);
    std::map<std::string, SampleMeta> m;
    for (const auto& r : ps.meta()) m.emplace(r.image_index, r);
    return m;
  }
  std::string error_of(const PackOptions& o) {
    try {
      run_pack(o);
    } catch (const cxr::UserError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no UserError";
    return "";
  }
  fs::path root_;
};

std::set<std::string> positives(const SampleMeta& m) {
  std::set<std::string> s;
  for (int c = 0; c < kNumClasses; ++c)
    if (m.labels[static_cast<size_t>(c)]) s.insert(kClassNames[c]);
  return s;
}

#define EXPECT_HAS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

// ---- CheXpert ------------------------------------------------------------------------------------

TEST_F(LabelledCsvTest, ChexpertRowsCarryTheStatedMetadataAndUnmappedClassesAreListed) {
  chexpert_images();
  fs::path csv = write("CheXpert-v1.0-small/train.csv", std::string(kChexpertHeader) + kChexpertRows);
  PackOptions o = options(csv, kMaps + "chexpert.yaml", "p");
  o.split_all = "test";
  PackResult r = run_pack(o);
  EXPECT_EQ(r.images_written, 6);  // the lateral film is filtered out
  auto got = rows_of("p", "test");
  auto want = chexpert_want_zeros();
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [name, w] : want) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(got.count(name));
    const SampleMeta& m = got.at(name);
    EXPECT_EQ(positives(m), w.labels);
    EXPECT_EQ(m.sex, w.sex);
    EXPECT_EQ(m.age, w.age);
    EXPECT_EQ(m.view, w.view);
    EXPECT_EQ(m.patient_id, w.patient);
    EXPECT_EQ(m.follow_up, w.follow_up);
  }
  // Pixels: constant images (10 + 20k, in the CSV's line order) stay constant through JPEG and resize.
  {
    PackSplit ps((root_ / "p").string(), "test");
    std::vector<uint8_t> px(16 * 16);
    int v = 10;
    std::map<std::string, int> value;
    for (const auto& [name, w] : want) value[name] = v += 20;
    for (int64_t i = 0; i < ps.size(); ++i) {
      ps.read_image(i, px.data());
      const int expect = value.at(ps.meta()[static_cast<size_t>(i)].image_index);
      for (uint8_t p : px) ASSERT_NEAR(p, expect, 2) << ps.meta()[static_cast<size_t>(i)].image_index;
    }
  }
  Manifest m = read_manifest((root_ / "p").string());
  EXPECT_EQ(m.source, "labelled-csv");
  // chexpert.yaml's "not evaluable" classes, listed in label-column order.
  const std::vector<std::string> unmapped = {"Emphysema", "Fibrosis",          "Hernia", "Infiltration", "Mass",
                                             "Nodule",    "Pleural_Thickening"};
  EXPECT_EQ(m.classes_not_evaluable, unmapped);
  for (int c = 0; c < kNumClasses; ++c)
    EXPECT_EQ(m.class_evaluable(c), std::find(unmapped.begin(), unmapped.end(), kClassNames[c]) == unmapped.end())
        << kClassNames[c];
  EXPECT_EQ(m.split("train").count, 0);
  EXPECT_EQ(m.split("test").count, 6);
  const std::string text = cxr::read_text_file(root_ / "p" / "manifest.json");
  EXPECT_HAS(text, "\"chexpert.yaml\"");
  EXPECT_HAS(text, "\"uncertain\": \"zeros\"");
  // image_index.csv maps every image back to its CSV path and patient.
  const std::string index = cxr::read_text_file(root_ / "p" / "image_index.csv");
  EXPECT_HAS(index, "row000000003,CheXpert-v1.0-small/train/patient00002/study2/view1_frontal.jpg,00002,2,3\n");
  EXPECT_EQ(std::count(index.begin(), index.end(), '\n'), 7);
  EXPECT_HAS(r.summary, "not evaluable");
  EXPECT_HAS(r.summary, "Pleural_Thickening");
}

TEST_F(LabelledCsvTest, ChexpertUncertainOnesAndExclude) {
  chexpert_images();
  fs::path csv = write("train.csv", std::string(kChexpertHeader) + kChexpertRows);
  PackOptions ones = options(csv, kMaps + "chexpert.yaml", "ones");
  ones.split_all = "test";
  ones.uncertain = "ones";
  run_pack(ones);
  auto got = rows_of("ones", "test");
  EXPECT_EQ(positives(got.at("row000000003")),
            (std::set<std::string>{"Cardiomegaly", "Edema", "Consolidation", "Atelectasis", "Effusion"}));
  EXPECT_EQ(positives(got.at("row000000004")), (std::set<std::string>{"Consolidation", "Pneumonia"}));
  EXPECT_EQ(positives(got.at("row000000008")), (std::set<std::string>{"Atelectasis", "Cardiomegaly"}));
  EXPECT_EQ(positives(got.at("row000000007")), (std::set<std::string>{"Cardiomegaly", "Effusion", "Pneumothorax"}));

  PackOptions ex = options(csv, kMaps + "chexpert.yaml", "ex");
  ex.split_all = "test";
  ex.uncertain = "exclude";
  EXPECT_EQ(run_pack(ex).images_written, 3);  // lines 3, 4 and 8 hold an uncertain mapped label
  got = rows_of("ex", "test");
  EXPECT_EQ(got.count("row000000003") + got.count("row000000004") + got.count("row000000008"), 0u);
  EXPECT_EQ(got.count("row000000002") + got.count("row000000006") + got.count("row000000007"), 3u);
}

TEST_F(LabelledCsvTest, PatientWiseSplitWithoutASplitColumn) {
  chexpert_images();
  fs::path csv = write("train.csv", std::string(kChexpertHeader) + kChexpertRows);
  PackOptions o = options(csv, kMaps + "chexpert.yaml", "p");
  o.val_fraction = 0.4;  // 2 of the 5 patients
  run_pack(o);
  std::map<int32_t, std::string> home;
  int64_t images = 0;
  std::set<int32_t> val_patients;
  for (const std::string split : {"train", "val"}) {
    for (const auto& [name, m] : rows_of("p", split)) {
      ++images;
      auto [it, inserted] = home.emplace(m.patient_id, split);
      EXPECT_EQ(it->second, split) << "patient " << m.patient_id << " in two splits";
      if (split == "val") val_patients.insert(m.patient_id);
    }
  }
  EXPECT_EQ(images, 6);
  EXPECT_EQ(val_patients.size(), 2u);
  EXPECT_EQ(read_manifest((root_ / "p").string()).split("test").count, 0);
}

// ---- PadChest ------------------------------------------------------------------------------------

TEST_F(LabelledCsvTest, PadchestRowsCarryTheStatedMetadata) {
  image("0/" + kP1, 65535, true);
  image("3/" + kP2, 0, true);
  image("3/" + kP3, 257 * 100, true);  // 16-bit -> 8-bit by 255/65535: exactly 100
  image("7/" + kP4, 1000, true);
  image("1/" + kP5, 1000, true);
  image("4/" + kP6, 1000, true);
  image("4/" + kP7, 257 * 7, true);
  fs::path csv = write("PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv", padchest_csv());
  PackOptions o = options(csv, kMaps + "padchest.yaml", "p");
  o.split_all = "test";
  PackResult r = run_pack(o);
  EXPECT_EQ(r.images_written, 4);  // lateral, 'exclude' and blank Labels skipped
  auto got = rows_of("p", "test");
  ASSERT_EQ(got.size(), 4u);
  // Patient ids: 0.. in sorted order of the (too long for int32) PatientIDs present.
  struct PadWant {
    std::set<std::string> labels;
    int8_t sex, view;
    int16_t age;
    int32_t patient;
    int pixel;
  };
  const std::map<std::string, PadWant> want = {
      {"row000000002", {{"Effusion", "Cardiomegaly"}, kSexMale, kViewPA, 65, 1, 255}},
      {"row000000003", {{}, kSexFemale, kViewAP, 78, 0, 0}},
      {"row000000004", {{"Atelectasis", "Hernia"}, kSexMale, kViewAP, -1, 1, 100}},
      {"row000000008",
       {{"Nodule", "Emphysema", "Fibrosis", "Pleural_Thickening", "Infiltration"}, kUnknown, kViewPA, 30, 2, 7}},
  };
  PackSplit ps((root_ / "p").string(), "test");
  std::vector<uint8_t> px(16 * 16);
  for (int64_t i = 0; i < ps.size(); ++i) {
    const SampleMeta& m = ps.meta()[static_cast<size_t>(i)];
    SCOPED_TRACE(m.image_index);
    ASSERT_TRUE(want.count(m.image_index));
    const PadWant& w = want.at(m.image_index);
    EXPECT_EQ(positives(m), w.labels);
    EXPECT_EQ(m.sex, w.sex);
    EXPECT_EQ(m.view, w.view);
    EXPECT_EQ(m.age, w.age);
    EXPECT_EQ(m.patient_id, w.patient);
    EXPECT_EQ(m.follow_up, 0);
    ps.read_image(i, px.data());
    for (uint8_t p : px) ASSERT_EQ(p, w.pixel);
  }
  Manifest m = read_manifest((root_ / "p").string());
  EXPECT_TRUE(m.classes_not_evaluable.empty());  // padchest.yaml maps all 14
  const std::string text = cxr::read_text_file(root_ / "p" / "manifest.json");
  EXPECT_EQ(text.find("classes_not_evaluable"), std::string::npos);
  EXPECT_HAS(text, "\"kerley lines\": 1");
  EXPECT_HAS(text, "\"excluding_label\": 1");
  EXPECT_HAS(text, "\"blank_labels\": 1");
  EXPECT_HAS(text, "\"keep_filter\": 1");
  const std::string index = cxr::read_text_file(root_ / "p" / "image_index.csv");
  EXPECT_HAS(index, "row000000002,0/" + kP1 + ",839860488694292331637988235681460987,1,2\n");
}

TEST_F(LabelledCsvTest, UnknownListLabelIsAnErrorNamingTheNearestUnlessIgnored) {
  // A hospital export in a plain format: '|' separated labels, a split column, its own map.
  write("map.yaml",
        "format: cxrtrain.label_map/1\npath: file\npatient: pid\nsex: {column: sex, values: {m: M, f: F}}\nage: age\n"
        "view: {column: view, values: {pa: PA, ap: AP}}\nsplit: {column: set, values: {dev: train, tune: val, holdout: "
        "test}}\n"
        "labels: {kind: list, column: findings, unmapped: [none]}\n"
        "classes: {Atelectasis: [atelectasis], Cardiomegaly: [cardiomegaly], Effusion: [pleural effusion],\n"
        "  Infiltration: not evaluable, Mass: not evaluable, Nodule: not evaluable, Pneumonia: not evaluable,\n"
        "  Pneumothorax: not evaluable, Consolidation: not evaluable, Edema: not evaluable, Emphysema: not evaluable,\n"
        "  Fibrosis: not evaluable, Pleural_Thickening: not evaluable, Hernia: not evaluable}\n");
  fs::path csv = write("export.csv",
                       "file,pid,sex,age,view,set,findings\n"
                       "a.png,7,m,50,pa,dev,cardiomegaly|pleural effusion\n"
                       "b.png,8,f,61,ap,holdout,none\n"
                       "c.png,7,m,51,pa,dev,pleural efusion\n");
  for (const char* n : {"a.png", "b.png", "c.png"}) image(n, 50);
  PackOptions o = options(csv, (root_ / "map.yaml").string(), "p");
  const std::string e = error_of(o);
  EXPECT_HAS(e, "export.csv:4: column 'findings'");
  EXPECT_HAS(e, "'pleural efusion'");
  EXPECT_HAS(e, "nearest: 'pleural effusion'");
  EXPECT_HAS(e, "HINT:");
  EXPECT_HAS(e, "ignore_unknown");

  std::string map = cxr::read_text_file(root_ / "map.yaml");
  map.replace(map.find("unmapped: [none]"), 16, "unmapped: [none], ignore_unknown: true");
  write("map.yaml", map);
  run_pack(o);
  auto train = rows_of("p", "train");
  auto test = rows_of("p", "test");
  ASSERT_EQ(train.size(), 2u);
  ASSERT_EQ(test.size(), 1u);
  EXPECT_EQ(positives(train.at("row000000002")), (std::set<std::string>{"Cardiomegaly", "Effusion"}));
  EXPECT_EQ(positives(train.at("row000000004")), std::set<std::string>{});  // the misspelt name is ignored
  EXPECT_EQ(train.at("row000000002").patient_id, 7);                        // integer PatientIDs are kept
  EXPECT_EQ(test.at("row000000003").patient_id, 8);
  EXPECT_EQ(test.at("row000000003").sex, kSexFemale);
  EXPECT_EQ(test.at("row000000003").view, kViewAP);
  EXPECT_EQ(test.at("row000000003").age, 61);
  EXPECT_EQ(read_manifest((root_ / "p").string()).classes_not_evaluable.size(), 11u);

  // A patient in two splits of the split column leaks: an error naming both lines.
  write("export.csv",
        "file,pid,sex,age,view,set,findings\n"
        "a.png,7,m,50,pa,dev,cardiomegaly\n"
        "b.png,7,f,61,ap,holdout,none\n");
  o.overwrite = true;
  const std::string leak = error_of(o);
  EXPECT_HAS(leak, "patient '7'");
  EXPECT_HAS(leak, "line 2");
  EXPECT_HAS(leak, "line 3");
}

// ---- bad rows, bad maps, missing images ------------------------------------------------------------

TEST_F(LabelledCsvTest, BadRowsNameFileLineAndColumn) {
  chexpert_images();
  struct Case {
    std::string row, expect;
  };
  const std::vector<Case> cases = {
      {"CheXpert-v1.0-small/train/patient00009/study1/view1_frontal.jpg,Male,41,Frontal,AP,,,2.0,,,,,,,,,,,",
       "column 'Cardiomegaly' has value '2.0'"},
      {"CheXpert-v1.0-small/train/patient00009/study1/view1_frontal.jpg,Mal,41,Frontal,AP,,,,,,,,,,,,,,",
       "column 'Sex' has value 'Mal'"},
      {"CheXpert-v1.0-small/train/patient00009/study1/view1_frontal.jpg,Male,41,Frontal,XY,,,,,,,,,,,,,,",
       "column 'AP/PA' has value 'XY'"},
      {"CheXpert-v1.0-small/train/patient00009/study1/view1_frontal.jpg,Male,forty,Frontal,AP,,,,,,,,,,,,,,",
       "column 'Age' has age 'forty'"},
      {"CheXpert-v1.0-small/train/someone/study1/view1_frontal.jpg,Male,41,Frontal,AP,,,,,,,,,,,,,,",
       "column 'Path' value"},
      {"CheXpert-v1.0-small/train/patient00009/study1/view1_frontal.jpg,Male,41,Frontal,AP,,,",
       "the row has 8 fields, the header 19"},
      {"CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,Female,68,Frontal,AP,1.0,,,,,,,,,0.0,,,,1.0",
       "is already on line 2"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.row);
    // The bad row is line 5 (after three good ones), so nothing before it hides the line number.
    const std::string rows = std::string(kChexpertRows);
    size_t third = 0;
    for (int k = 0; k < 3; ++k) third = rows.find('\n', third) + 1;
    fs::path csv =
        write("train.csv", std::string(kChexpertHeader) + rows.substr(0, third) + c.row + "\n" + rows.substr(third));
    PackOptions o = options(csv, kMaps + "chexpert.yaml", "p");
    o.dry_run = true;  // rows are validated before anything is sized or decoded
    const std::string e = error_of(o);
    EXPECT_HAS(e, csv.string() + ":5: ");
    EXPECT_HAS(e, c.expect);
    EXPECT_HAS(e, "HINT:");
  }
}

TEST_F(LabelledCsvTest, BadLabelMapsAreErrorsNamingTheKey) {
  const std::string good = cxr::read_text_file(kMaps + "chexpert.yaml");
  fs::path csv = write("train.csv", std::string(kChexpertHeader) + kChexpertRows);
  auto broken = [&](const std::string& from, const std::string& to) {
    std::string t = good;
    size_t at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    t.replace(at, from.size(), to);
    write("map.yaml", t);
    PackOptions o = options(csv, (root_ / "map.yaml").string(), "p");
    o.dry_run = true;
    return error_of(o);
  };
  std::string e = broken("  Hernia: not evaluable\n", "");
  EXPECT_HAS(e, "'classes' does not list Hernia");
  e = broken("  Edema: [Edema]", "  Oedema: [Edema]");
  EXPECT_HAS(e, "'classes.Oedema' is not an NIH class; did you mean 'Edema'?");
  e = broken("  Edema: [Edema]", "  Edema: [Oedema]");
  EXPECT_HAS(e, "names column 'Oedema'");
  EXPECT_HAS(e, "nearest: 'Edema'");
  e = broken("age: Age", "ages: Age");
  EXPECT_HAS(e, "unknown key 'ages'; did you mean 'age'?");
  e = broken("uncertain: zeros", "uncertain: maybe");
  EXPECT_HAS(e, "'labels.uncertain' is 'maybe'");
  e = broken("{Male: M,", "{Male: X,");
  EXPECT_HAS(e, "'sex.values.Male' is 'X'");
}

TEST_F(LabelledCsvTest, MissingImagesFollowAllowMissing) {
  chexpert_images();
  fs::remove(root_ / "images" / "CheXpert-v1.0-small/train/patient00003/study1/view1_frontal.jpg");
  fs::path csv = write("train.csv", std::string(kChexpertHeader) + kChexpertRows);
  PackOptions o = options(csv, kMaps + "chexpert.yaml", "p");
  o.split_all = "test";
  const std::string e = error_of(o);
  EXPECT_HAS(e, "1 of 6 images");
  EXPECT_HAS(e, "row000000006");
  EXPECT_HAS(e, "--allow-missing");
  EXPECT_FALSE(fs::exists(root_ / "p"));
  o.allow_missing = true;
  PackResult r = run_pack(o);
  EXPECT_EQ(r.images_written, 5);
  EXPECT_EQ(r.missing, 1);
  EXPECT_EQ(cxr::read_text_file(root_ / "p" / "missing_images.txt"), "row000000006\n");
  EXPECT_EQ(rows_of("p", "test").count("row000000006"), 0u);
}

TEST_F(LabelledCsvTest, CsvAndNihRootAreExclusive) {
  fs::path csv = write("train.csv", std::string(kChexpertHeader) + kChexpertRows);
  PackOptions o = options(csv, kMaps + "chexpert.yaml", "p");
  o.nih_root = root_.string();
  std::string e = error_of(o);
  EXPECT_HAS(e, "--csv and --nih-root cannot be used together");
  o.nih_root.clear();
  o.label_map.clear();
  e = error_of(o);
  EXPECT_HAS(e, "--csv needs --label-map");
  o = options(csv, kMaps + "chexpert.yaml", "p");
  o.split_all = "holdout";
  e = error_of(o);
  EXPECT_HAS(e, "--split-all is 'holdout'");
}

// ---- pieces ----------------------------------------------------------------------------------------

TEST(LabelledCsvParts, CsvRecordsAndLabelLists) {
  EXPECT_EQ(split_csv_record("a,\"b, c\",\"say \"\"hi\"\"\",,e"),
            (std::vector<std::string>{"a", "b, c", "say \"hi\"", "", "e"}));
  EXPECT_EQ(parse_label_list("['pleural effusion', ' cardiomegaly']", "|"),
            (std::vector<std::string>{"pleural effusion", "cardiomegaly"}));
  EXPECT_EQ(parse_label_list("[\"a\",'b']", "|"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(parse_label_list("[]", "|"), std::vector<std::string>{});
  EXPECT_EQ(parse_label_list("Effusion|Mass", "|"), (std::vector<std::string>{"Effusion", "Mass"}));
  EXPECT_THROW(parse_label_list("['a', 'b'", "|"), std::invalid_argument);
  EXPECT_THROW(parse_label_list("[a, b]", "|"), std::invalid_argument);
}

TEST(LabelledCsvParts, ManifestWithoutTheFieldHasEveryClassEvaluable) {
  const fs::path dir = fs::temp_directory_path() / ("cxr_manifest_ne_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  Manifest m;
  m.schema = kPackSchema;
  m.source = "nih-cxr14";
  m.classes = class_names();
  m.image_size = 8;
  m.splits.push_back(SplitManifest{"test", {}, {}, {}, 0, 0, {}});
  const std::string old = manifest_json(m, "");
  EXPECT_EQ(old.find("classes_not_evaluable"), std::string::npos);
  cxr::atomic_write_file(dir / "manifest.json", old);
  Manifest back = read_manifest(dir.string());
  EXPECT_TRUE(back.classes_not_evaluable.empty());
  for (int c = 0; c < kNumClasses; ++c) EXPECT_TRUE(back.class_evaluable(c));

  m.classes_not_evaluable = {"Hernia", "Mass"};
  cxr::atomic_write_file(dir / "manifest.json", manifest_json(m, ""));
  back = read_manifest(dir.string());
  EXPECT_EQ(back.classes_not_evaluable, m.classes_not_evaluable);
  EXPECT_FALSE(back.class_evaluable(*class_index("Hernia")));
  EXPECT_FALSE(back.class_evaluable(*class_index("Mass")));
  EXPECT_TRUE(back.class_evaluable(*class_index("Nodule")));

  std::string bad = manifest_json(m, "");
  bad.replace(bad.find("\"Mass\"", bad.find("classes_not_evaluable")), 6, "\"Masses\"");
  cxr::atomic_write_file(dir / "manifest.json", bad);
  try {
    read_manifest(dir.string());
    ADD_FAILURE() << "a misspelt class in classes_not_evaluable was accepted";
  } catch (const cxr::UserError& e) {
    EXPECT_HAS(e.what(), "classes_not_evaluable");
  }
  fs::remove_all(dir);
}

}  // namespace
