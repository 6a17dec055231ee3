// NIH ChestX-ray14 v2020 statistics that the phantom samples patients and labels from, baked into
// data/nih_stats_table.inc by data/tools/derive_nih_stats.py (a ctest reruns it and diffs).
// Patients fall into images-per-patient groups (1, 2-3, 4-10, 11-30, 31+) because disease and AP
// rates rise steeply with the number of follow-ups (27 % vs 64 % abnormal; 7 % vs 72 % AP).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/classes.h"

namespace cxr::data {

constexpr int kNihPatientGroups = 5;
constexpr int kNihAgeBinYears = 5;
constexpr int kNihAgeBins = 20;  // 0-4 ... 95-99

struct NihPatientCount {
  int32_t images;    // images per patient
  int32_t patients;  // patients with that many images
};

struct NihDemographic {
  int8_t group;      // patient_group(images)
  int8_t sex;        // 0 F, 1 M
  int8_t age_bin;    // age at the first image / kNihAgeBinYears
  int32_t patients;
};

struct NihFinding {
  int8_t group;      // patient_group of the image's patient
  int8_t view;       // 0 PA, 1 AP
  uint16_t labels;   // bit j = class j (kClassNames order); 0 = No Finding
  int32_t images;
};

struct NihStats {
  int64_t images = 0, patients = 0;
  int64_t female_images = 0, male_images = 0, pa_images = 0, ap_images = 0;
  std::array<int64_t, kNumClasses> positives{};
  double repeat_probability = 0;                       // next image repeats (view, labels)
  std::array<double, kNihPatientGroups> age_span{};    // mean max-min age (years) per group
  std::vector<NihPatientCount> images_per_patient;     // ascending images
  std::vector<NihDemographic> demographics;
  std::vector<NihFinding> findings;                    // (group, view, labels) joint counts
  std::string source_file, source_sha256;
};

const NihStats& nih_stats();

// 0: 1 image, 1: 2-3, 2: 4-10, 3: 11-30, 4: 31+ (the same rule as derive_nih_stats.py).
int nih_patient_group(int images);

// {"file", "sha256", "script", "images", "patients"} as a JSON object, for manifests.
std::string nih_stats_provenance_json();

}  // namespace cxr::data
