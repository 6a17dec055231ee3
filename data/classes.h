// The 14 NIH ChestX-ray14 classes in label-column order, spelled as NIH does, and the encodings
// used by every pack (sex, view, expert labels).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cxr::data {

constexpr int kNumClasses = 14;
extern const std::array<const char*, kNumClasses> kClassNames;

// Index of an NIH class name (exact spelling); nullopt when unknown.
std::optional<int> class_index(std::string_view name);
std::vector<std::string> class_names();

// Sex: 0 F, 1 M, -1 unknown. View: 0 PA, 1 AP, -1 other.
constexpr int8_t kSexFemale = 0, kSexMale = 1, kUnknown = -1;
constexpr int8_t kViewPA = 0, kViewAP = 1;
constexpr const char* kSexEncoding = "0=F,1=M,-1=unknown";
constexpr const char* kViewEncoding = "0=PA,1=AP,-1=other";

// Google 2019 expert labels, columns of `expert_labels` int8 [N,4] (1 yes, 0 no, -1 not reviewed).
constexpr int kNumExpertLabels = 4;
extern const std::array<const char*, kNumExpertLabels> kExpertLabelNames;

}  // namespace cxr::data
