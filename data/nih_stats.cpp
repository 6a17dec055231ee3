// The baked NIH v2020 statistics (see nih_stats.h); the numbers live in nih_stats_table.inc.
#include "data/nih_stats.h"

#include <nlohmann/json.hpp>

#include <iterator>

namespace cxr::data {
namespace {

#include "data/nih_stats_table.inc"

}  // namespace

int nih_patient_group(int images) {
  if (images <= 1) return 0;
  if (images <= 3) return 1;
  if (images <= 10) return 2;
  if (images <= 30) return 3;
  return 4;
}

const NihStats& nih_stats() {
  static const NihStats stats = [] {
    NihStats s;
    s.images = kNihImages;
    s.patients = kNihPatients;
    s.female_images = kNihFemaleImages;
    s.male_images = kNihMaleImages;
    s.pa_images = kNihPaImages;
    s.ap_images = kNihApImages;
    for (int c = 0; c < kNumClasses; ++c) s.positives[c] = kNihPositives[c];
    s.repeat_probability = kNihRepeatProbability;
    for (int g = 0; g < kNihPatientGroups; ++g) s.age_span[g] = kNihAgeSpan[g];
    s.images_per_patient.assign(std::begin(kNihImagesPerPatient), std::end(kNihImagesPerPatient));
    s.demographics.assign(std::begin(kNihDemographics), std::end(kNihDemographics));
    s.findings.assign(std::begin(kNihFindings), std::end(kNihFindings));
    s.source_file = kNihSourceFile;
    s.source_sha256 = kNihSourceSha256;
    return s;
  }();
  return stats;
}

std::string nih_stats_provenance_json() {
  const NihStats& s = nih_stats();
  nlohmann::ordered_json j;
  j["file"] = s.source_file;
  j["sha256"] = s.source_sha256;
  j["script"] = "data/tools/derive_nih_stats.py";
  j["table"] = "data/nih_stats_table.inc";
  j["images"] = s.images;
  j["patients"] = s.patients;
  return j.dump();
}

}  // namespace cxr::data
