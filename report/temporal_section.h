// The report's "Time (follow-up proxy)" section from metrics.json "temporal" (eval/temporal.h): a class x band
// table of AUROC [95 % DeLong CI], each later band with the q-value of its gap to the first films, and the
// caveat that follow-up films are sicker patients, not later years. Without "temporal" (metrics.json written
// before it existed) the section says "not computed".
#pragma once

#include <nlohmann/json.hpp>

#include "report/evaluation_result.h"

namespace cxr::report {

// The view's "temporal" object (or "temporal_not_computed" when the evaluation has none).
nlohmann::ordered_json temporal_view(const EvaluationResult& evaluation);

}  // namespace cxr::report
