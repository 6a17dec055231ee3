// Published per-class AUROCs on NIH ChestX-ray14 shown beside a run's, with what makes them not directly
// comparable. Numbers as the papers print them (NIH class order); nullopt where a source gives none.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "data/classes.h"

namespace cxr::report {

struct PublishedResult {
  std::string key;       // "reference", "wang2017", "chexnet"
  std::string name;      // as the report's column header shows it
  std::string citation;
  std::array<std::optional<double>, data::kNumClasses> auroc;
  std::optional<double> mean;  // the mean the source reports
  std::vector<std::string> caveats;
};

const std::vector<PublishedResult>& published_results();

}  // namespace cxr::report
