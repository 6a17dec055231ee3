// Statistics benchmark (see bench_stats.h). The synthetic test set has NIH's class prevalences, patients
// with several films each, and scores that separate each class to a different degree.
#include "launch/bench_stats.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "core/error.h"
#include "core/random.h"
#include "data/classes.h"
#include "eval/evaluation.h"

namespace cxr::launch {

StatsBenchResult run_stats_bench(const StatsBenchOptions& o) {
  if (o.images < 100 || o.patients < 10 || o.patients > o.images)
    throw UserError("bench --stats: need at least 100 images and 10 patients, and no more patients than images");
  // NIH v2020 prevalences (of all 112,120 images), Atelectasis ... Pneumothorax.
  const double prevalence[data::kNumClasses] = {0.103, 0.025, 0.042, 0.021, 0.119, 0.022, 0.015,
                                                0.002, 0.177, 0.052, 0.056, 0.030, 0.013, 0.047};
  SplitMix64 rng(o.seed);
  auto normal = [&] {  // Box-Muller
    const double u = std::max(rng.uniform(), 1e-300), v = rng.uniform();
    return std::sqrt(-2 * std::log(u)) * std::cos(2 * M_PI * v);
  };
  eval::ScoredSplit s;
  s.meta.resize(static_cast<size_t>(o.images));
  s.probability.resize(static_cast<size_t>(o.images) * data::kNumClasses);
  std::vector<double> patient_effect(static_cast<size_t>(o.patients));
  for (auto& e : patient_effect) e = 0.5 * normal();
  for (int64_t i = 0; i < o.images; ++i) {
    auto& m = s.meta[static_cast<size_t>(i)];
    // Films spread over the patients unevenly: the first patients have the most films.
    const auto p = static_cast<int32_t>(std::floor(std::pow(rng.uniform(), 1.5) * static_cast<double>(o.patients)));
    m.patient_id = p;
    m.image_index = std::to_string(i);
    m.sex = static_cast<int8_t>(rng.below(2));
    m.age = static_cast<int16_t>(10 + rng.below(80));
    m.view = static_cast<int8_t>(rng.below(2));
    for (int c = 0; c < data::kNumClasses; ++c) {
      const bool y = rng.uniform() < prevalence[c];
      m.labels[static_cast<size_t>(c)] = y;
      const double separation = 0.4 + 0.1 * c;  // AUROC from ~0.61 to ~0.90
      const double z = patient_effect[static_cast<size_t>(p)] + normal() + (y ? separation * 1.4 : 0.0) - 2.5;
      s.probability[static_cast<size_t>(i) * data::kNumClasses + static_cast<size_t>(c)] = 1 / (1 + std::exp(-z));
    }
  }
  if (!o.write_data.empty()) {
    std::ofstream out(o.write_data);
    out << "patient";
    for (const auto& c : data::class_names()) out << ",label_" << c;
    for (const auto& c : data::class_names()) out << "," << c;
    out << "\n";
    char buf[32];
    for (size_t i = 0; i < s.meta.size(); ++i) {
      out << s.meta[i].patient_id;
      for (int c = 0; c < data::kNumClasses; ++c) out << "," << int(s.meta[i].labels[static_cast<size_t>(c)]);
      for (int c = 0; c < data::kNumClasses; ++c) {
        std::snprintf(buf, sizeof buf, ",%.17g", s.probability[i * data::kNumClasses + static_cast<size_t>(c)]);
        out << buf;
      }
      out << "\n";
    }
    if (!out) throw UserError("cannot write '" + o.write_data + "'");
  }
  eval::EvaluationOptions eo;
  eo.resamples = o.resamples;
  eo.seed = o.seed;
  eo.threads = o.threads;
  const auto t0 = std::chrono::steady_clock::now();
  // Operating points chosen on the same data: the benchmark times the statistics, not the threshold rule.
  const nlohmann::ordered_json m = eval::evaluate_split(s, s, eo);
  StatsBenchResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.macro_auroc = m["macro"]["auroc"].get<double>();
  nlohmann::ordered_json j;
  j["bench"] = "stats";
  j["images"] = o.images;
  j["patients"] = o.patients;
  j["classes"] = data::kNumClasses;
  j["bootstrap_resamples"] = o.resamples;
  j["threads"] = o.threads;
  j["seconds"] = r.seconds;
  j["macro_auroc"] = r.macro_auroc;
  nlohmann::ordered_json per = nlohmann::ordered_json::object();
  for (const auto& [name, c] : m["classes"].items()) per[name] = {{"auroc", c["auroc"]}, {"se_delong", c["auroc_se_delong"]},
                                                                   {"ci95_bootstrap", c["auroc_ci95_bootstrap"]},
                                                                   {"average_precision", c["average_precision"]},
                                                                   {"brier", c["brier"]}};
  j["per_class"] = per;
  r.json = j.dump(2);
  return r;
}

}  // namespace cxr::launch
