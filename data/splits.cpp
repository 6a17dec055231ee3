// Patient-wise split assignment (see splits.h).
#include "data/splits.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/random.h"

namespace cxr::data {

SplitAssignment assign_splits(const std::vector<SampleMeta>& rows, const std::vector<std::string>& train_val_list,
                              const std::vector<std::string>& test_list, double val_fraction, uint64_t seed) {
  if (!(val_fraction >= 0 && val_fraction < 1))
    throw UserError("--val-fraction must be in [0, 1), got " + std::to_string(val_fraction));
  std::unordered_map<std::string, bool> listed;  // name -> is_test
  for (const auto& n : train_val_list) listed.emplace(n, false);
  for (const auto& n : test_list) {
    auto [it, inserted] = listed.emplace(n, true);
    if (!inserted) {
      throw UserError("image '" + n + "' is in both train_val_list and test_list",
                      "use the official NIH list files, which do not overlap");
    }
  }
  SplitAssignment out;
  out.split_of.resize(rows.size(), Split::kTrain);
  std::unordered_set<std::string> in_csv;
  std::set<int32_t> test_patients, trainval_patients;
  for (size_t i = 0; i < rows.size(); ++i) {
    auto it = listed.find(rows[i].image_index);
    if (it == listed.end()) {
      throw UserError("image '" + rows[i].image_index + "' of the Data_Entry CSV is in neither train_val_list nor test_list",
                      "use list files that match the CSV (both come with the NIH release)");
    }
    in_csv.insert(rows[i].image_index);
    if (it->second) {
      out.split_of[i] = Split::kTest;
      test_patients.insert(rows[i].patient_id);
    } else {
      trainval_patients.insert(rows[i].patient_id);
    }
  }
  out.listed_but_not_in_csv = static_cast<int64_t>(listed.size() - in_csv.size());
  for (int32_t p : test_patients) {
    if (trainval_patients.count(p)) {
      throw UserError("patient " + std::to_string(p) + " has images in both train_val_list and test_list",
                      "the official NIH split is by patient; check that the list files are the official ones");
    }
  }
  std::vector<int32_t> patients(trainval_patients.begin(), trainval_patients.end());  // sorted: deterministic
  deterministic_shuffle(patients, mix_seed(seed, 0x5e11u));
  auto n_val = static_cast<size_t>(std::llround(val_fraction * static_cast<double>(patients.size())));
  std::unordered_set<int32_t> val(patients.begin(), patients.begin() + static_cast<std::ptrdiff_t>(n_val));
  for (size_t i = 0; i < rows.size(); ++i)
    if (out.split_of[i] != Split::kTest && val.count(rows[i].patient_id)) out.split_of[i] = Split::kVal;

  // Assert the invariant the whole evaluation relies on.
  std::unordered_map<int32_t, Split> home;
  for (size_t i = 0; i < rows.size(); ++i) {
    auto [it, inserted] = home.emplace(rows[i].patient_id, out.split_of[i]);
    if (!inserted && it->second != out.split_of[i]) ++out.shared_patients;
  }
  if (out.shared_patients != 0) throw std::logic_error("patient-wise split produced shared patients");
  return out;
}

std::array<SplitSummary, 3> summarize(const std::vector<SampleMeta>& rows, const std::vector<Split>& split_of) {
  std::array<SplitSummary, 3> out;
  std::array<std::unordered_set<int32_t>, 3> patients;
  for (size_t i = 0; i < rows.size(); ++i) {
    auto s = static_cast<size_t>(split_of[i]);
    ++out[s].images;
    patients[s].insert(rows[i].patient_id);
    for (int c = 0; c < kNumClasses; ++c) out[s].positives[c] += rows[i].labels[c];
  }
  for (size_t s = 0; s < 3; ++s) out[s].patients = static_cast<int64_t>(patients[s].size());
  return out;
}

}  // namespace cxr::data
