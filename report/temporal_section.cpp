// The "Time (follow-up proxy)" section (see temporal_section.h).
#include "report/temporal_section.h"

#include <map>
#include <utility>

#include "report/conclusions.h"
#include "report/format.h"

namespace cxr::report {

using json = nlohmann::ordered_json;

json temporal_view(const EvaluationResult& r) {
  if (!r.temporal) {
    return {{"temporal", nullptr},
            {"temporal_not_computed",
             {{"text", "not computed: this metrics.json predates the follow-up proxy; run cxrtrain evaluate again to compute it"}}}};
  }
  const TemporalResult& t = *r.temporal;
  std::map<std::pair<std::string, std::string>, const TemporalRow*> cell;
  for (const auto& row : t.rows) cell[{row.class_name, row.band}] = &row;
  json header = json::array();
  for (size_t b = 0; b < t.bands.size(); ++b)
    header.push_back({{"name", t.bands[b].name}, {"later", b > 0},
                      {"counts", thousands(t.bands[b].n_images) + " images, " + thousands(t.bands[b].n_patients) +
                                     " patients"}});
  json rows = json::array();
  int flagged = 0;
  for (const auto& name : data::class_names()) {
    json cells = json::array();
    for (size_t b = 0; b < t.bands.size(); ++b) {
      const auto it = cell.find({name, t.bands[b].name});
      json c = {{"later", b > 0}, {"flagged", false}};
      if (it == cell.end()) {
        c["value"] = "n/a";
        c["q"] = "";
      } else {
        const TemporalRow& x = *it->second;
        c["value"] = !x.auroc ? std::string("n/a")
                     : x.ci_delong ? fixed(*x.auroc) + " " + interval(x.ci_delong)
                                   : fixed(*x.auroc) + " (no CI)";  // a single positive or negative: no DeLong variance
        c["q"] = x.q_value && x.gap ? p_value(*x.q_value) + " (" + signed_fixed(*x.gap) + ")"
                 : x.gap   ? "untested (" + signed_fixed(*x.gap) + ")"
                           : std::string("n/a");
        c["flagged"] = x.q_value && *x.q_value < kFdrLevel;
        flagged += x.q_value && *x.q_value < kFdrLevel;
      }
      cells.push_back(c);
    }
    rows.push_back({{"name", name}, {"cells", cells}});
  }
  json view = {{"header", header},
               {"rows", rows},
               {"reference", t.bands[0].name},
               {"min_cases", std::to_string(t.min_cases)},
               {"fdr", fixed(kFdrLevel, 2)},
               {"n_flagged", std::to_string(flagged)},
               {"caveat", t.caveat}};
  if (t.images_without_follow_up > 0)
    view["unknown"] = thousands(t.images_without_follow_up) + " images without a follow-up number are in no band.";
  return {{"temporal", view}, {"temporal_not_computed", nullptr}};
}

}  // namespace cxr::report
