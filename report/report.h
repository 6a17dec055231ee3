// `cxrtrain report`: one evaluation rendered as report/index.html (self-contained: inline SVG and CSS, a
// Content-Security-Policy that forbids every network load, all text escaped by the Mustache templates),
// report/report.md with the same content, plots/*.svg, and data/*.json (the statistics behind every plot
// and table). With RUN/gradcam/cam_stats.json (`cxrtrain gradcam`; RUN is --run, or the run an evaluation
// folder RUN/eval/<split> lies in) an "Interpretability (Grad-CAM)" section, data/cam_stats.json and the shown
// overlays as gradcam/<Class>.png (embedded in index.html as data: URIs); without it the section says "not run".
// With ReportOptions::seeds_summary a "Seed-to-seed variation" section (report/seed_section.h) and
// data/seeds_summary.json; without it that section says "not run" too. With RUN/robustness/robustness.json
// (`cxrtrain probe-shift`) a "Robustness" section (report/robustness_section.h), plots/robustness_heatmap.svg,
// plots/robustness_adversarial.svg (when attacks ran), their data and data/robustness.json; without it the
// section says "not measured".
// Inputs are read and checked in full first; the folder is built aside and renamed into place, so a failed
// report leaves the previous one as it was.
#pragma once

#include <string>
#include <vector>

namespace cxr::report {

struct ReportOptions {
  std::string run_dir;   // a training run: its resolved config and environment.jsonl fill the method card
  std::string eval_dir;  // the evaluate output folder; default run_dir/eval/<split>
  std::string split;     // default: the run's eval.split (test)
  std::string out_dir;   // default: run_dir/report, or eval_dir/report without a run
  // seeds/summary.json of `cxrtrain study --seeds K`: adds the seed-to-seed section. The initializer keeps the
  // four-field aggregate initialisations of the options warning-free.
  std::string seeds_summary{};
};

struct ReportFiles {
  std::string out_dir, index_html, markdown;
  std::vector<std::string> files;  // everything written, relative to out_dir
};

ReportFiles write_report(const ReportOptions& options);

}  // namespace cxr::report
