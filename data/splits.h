// Split assignment: the official test list -> "test"; train_val split by *patient* into "train"
// and "val" (a seeded fraction of patients to val), so no patient is in two splits (asserted).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/pack_format.h"

namespace cxr::data {

enum class Split : int8_t { kTrain = 0, kVal = 1, kTest = 2 };
constexpr std::array<const char*, 3> kSplitNames = {"train", "val", "test"};

struct SplitAssignment {
  std::vector<Split> split_of;           // one per metadata row
  int64_t listed_but_not_in_csv = 0;     // list names without a CSV row (partial CSVs)
  int64_t shared_patients = 0;           // patients in more than one split; always 0 after success
};

// Every CSV row must be in exactly one of the lists (UserError naming the image otherwise).
// val_fraction of train_val's patients (rounded) go to val, chosen by a seeded shuffle.
SplitAssignment assign_splits(const std::vector<SampleMeta>& rows, const std::vector<std::string>& train_val_list,
                              const std::vector<std::string>& test_list, double val_fraction, uint64_t seed);

struct SplitSummary {
  int64_t images = 0;
  int64_t patients = 0;
  std::array<int64_t, kNumClasses> positives{};
};
std::array<SplitSummary, 3> summarize(const std::vector<SampleMeta>& rows, const std::vector<Split>& split_of);

}  // namespace cxr::data
