// Class names and encodings (see classes.h).
#include "data/classes.h"

namespace cxr::data {

const std::array<const char*, kNumClasses> kClassNames = {
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema",  "Effusion",           "Emphysema",   "Fibrosis",
    "Hernia",      "Infiltration", "Mass",          "Nodule", "Pleural_Thickening", "Pneumonia",   "Pneumothorax"};

const std::array<const char*, kNumExpertLabels> kExpertLabelNames = {"Fracture", "Pneumothorax", "Airspace opacity",
                                                                     "Nodule or mass"};

std::optional<int> class_index(std::string_view name) {
  for (int i = 0; i < kNumClasses; ++i)
    if (name == kClassNames[i]) return i;
  return std::nullopt;
}

std::vector<std::string> class_names() { return {kClassNames.begin(), kClassNames.end()}; }

}  // namespace cxr::data
