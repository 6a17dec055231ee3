// `cxrtrain report`: renders an evaluation (cxrtrain evaluate's output folder) as report/index.html,
// report.md, plots and data (report/report.h). Single process, no model: it reads files only.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>

#include "launch/commands.h"
#include "report/report.h"

namespace cxr::launch {

void register_report(CLI::App& app, Context&) {
  auto o = std::make_shared<report::ReportOptions>();
  CLI::App* cmd = app.add_subcommand(
      "report", "Render an evaluation as a self-contained HTML report (+ Markdown, SVG plots, JSON data)");
  cmd->footer(
      "Examples:\n"
      "  cxrtrain evaluate --run runs/study && cxrtrain report --run runs/study   # writes runs/study/report/\n"
      "  cxrtrain report --run runs/study --split val     # after `evaluate --run runs/study --split val`\n"
      "  cxrtrain report --eval eval_other                # an `evaluate --predictions ... --out eval_other`\n"
      "The report holds the method card (from the run's resolved config and environment.jsonl), the per-class\n"
      "table and forest plot, ROC curves, reliability diagrams, subgroup heat maps with q-values, underdiagnosis,\n"
      "expert labels, published numbers with their caveats, and generated statements of what the numbers\n"
      "support and what they do not. index.html loads nothing from the network.\n"
      "  cxrtrain report --run runs/study --seeds runs/study/seeds/summary.json   # + seed-to-seed variation\n"
      "--seeds adds the section from `cxrtrain study --seeds K`: AUROC mean/SD/range per class over seeds, seed vs\n"
      "test-sampling variance, seeds needed for a 0.02-wide interval, orderings that hold or flip, per-film instability\n"
      "(Zech et al. 2019) and what K seeds can and cannot support; without it the section says \"not run\".");
  cmd->add_option("--run", o->run_dir, "Run directory (reads RUN/eval/<split>/, writes RUN/report/)");
  cmd->add_option("--eval", o->eval_dir, "An evaluate output folder (metrics.json, curves.json) instead of a run's");
  cmd->add_option("--split", o->split, "The evaluated split (default: the run's eval.split, test)");
  cmd->add_option("--out", o->out_dir, "Output folder (default RUN/report, or EVAL/report)");
  cmd->add_option("--seeds", o->seeds_summary, "seeds/summary.json of `cxrtrain study --seeds K` (seed-to-seed section)");
  cmd->callback([o] {
    const report::ReportFiles f = report::write_report(*o);
    std::printf("report: %s\n        %s (and %zu more files in %s)\n", f.index_html.c_str(), f.markdown.c_str(),
                f.files.size() - 2, f.out_dir.c_str());
    std::fflush(stdout);
  });
}

}  // namespace cxr::launch
