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
      "support and what they do not. index.html loads nothing from the network.");
  cmd->add_option("--run", o->run_dir, "Run directory (reads RUN/eval/<split>/, writes RUN/report/)");
  cmd->add_option("--eval", o->eval_dir, "An evaluate output folder (metrics.json, curves.json) instead of a run's");
  cmd->add_option("--split", o->split, "The evaluated split (default: the run's eval.split, test)");
  cmd->add_option("--out", o->out_dir, "Output folder (default RUN/report, or EVAL/report)");
  cmd->callback([o] {
    const report::ReportFiles f = report::write_report(*o);
    std::printf("report: %s\n        %s (and %zu more files in %s)\n", f.index_html.c_str(), f.markdown.c_str(),
                f.files.size() - 2, f.out_dir.c_str());
    std::fflush(stdout);
  });
}

}  // namespace cxr::launch
