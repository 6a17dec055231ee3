// `cxrtrain info PACKDIR`: splits, counts, patients, shards, prevalence and image size of a pack.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "core/fs.h"
#include "data/manifest.h"
#include "launch/commands.h"

namespace cxr::launch {

void register_info(CLI::App& app, Context&) {
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("info", "Describe a pack (splits, counts, patients, prevalence, image size)");
  cmd->add_option("path", *path, "Pack folder")->required();
  cmd->add_flag("--json", *json, "Print manifest.json as is");
  cmd->callback([path, json] {
    if (*json) {
      std::fputs(read_text_file(std::filesystem::path(*path) / "manifest.json").c_str(), stdout);
      return;
    }
    data::Manifest m = data::read_manifest(*path);
    std::printf("pack %s\n  schema %s, source %s, image size %dx%d, %zu classes\n", path->c_str(), m.schema.c_str(),
                m.source.c_str(), m.image_size, m.image_size, m.classes.size());
    std::printf("\n%-20s", "");
    for (const auto& s : m.splits) std::printf(" %10s", s.name.c_str());
    std::printf("\n%-20s", "images");
    for (const auto& s : m.splits) std::printf(" %10lld", static_cast<long long>(s.count));
    std::printf("\n%-20s", "patients");
    for (const auto& s : m.splits) std::printf(" %10lld", static_cast<long long>(s.patients));
    std::printf("\n%-20s", "shards");
    for (const auto& s : m.splits) std::printf(" %10zu", s.shards.size());
    std::printf("\n\nprevalence (positives)\n");
    for (size_t c = 0; c < m.classes.size(); ++c) {
      std::printf("%-20s", m.classes[c].c_str());
      for (const auto& s : m.splits) {
        double p = s.count ? 100.0 * static_cast<double>(s.positives[c]) / static_cast<double>(s.count) : 0.0;
        std::printf(" %6.2f%% %5lld", p, static_cast<long long>(s.positives[c]));
      }
      std::printf("\n");
    }
  });
}

}  // namespace cxr::launch
