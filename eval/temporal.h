// The temporal proxy (metrics.json "temporal"): NIH numbers each patient's films in time ("Follow-up #",
// 0 = the patient's first film; the phantom writes the same), so per-class AUROC by follow-up band, with
// DeLong intervals and an unpaired DeLong test of each band against the first films (Benjamini-Hochberg
// over these comparisons, a family of their own). A proxy only: later films come from sicker patients
// imaged repeatedly, not from later years. Torch-free.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "eval/evaluation.h"

namespace cxr::eval {

// A band of 0-based follow-up numbers [first, last] (last -1: open above). The bands, with NIH's 0-based
// number mapped to the film's 1-based place in the patient's series:
//   "first film"  follow-up 0        (film 1)
//   "films 2-5"   follow-up 1 to 4   (films 2 to 5)
//   "films 6-20"  follow-up 5 to 19  (films 6 to 20)
//   "films 21+"   follow-up >= 20    (after the 20th film)
struct FollowUpBand {
  std::string name;
  int32_t first = 0, last = -1;
};
const std::vector<FollowUpBand>& follow_up_bands();

// The band index (into follow_up_bands()) of a follow-up number; -1 for a negative (unknown) one.
int follow_up_band(int32_t follow_up);

// The "temporal" object of metrics.json: "bands" (definitions and counts), "rows" (band x class: n_images,
// n_patients, n_pos, n_neg, auroc, auroc_ci95_delong, and for the later bands gap, p_value, q_value against
// the first films; nulls with a "reason"), "tests" (what was tested and how), "caveat".
nlohmann::ordered_json temporal_proxy(const ScoredSplit& evaluated);

}  // namespace cxr::eval
