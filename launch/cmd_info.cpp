// `cxrtrain info PACKDIR`: splits, counts, patients, shards, prevalence and image size of a pack, after
// the cheap checks (every shard's attributes, dataset types and shapes, and row values against
// manifest.json); --verify also hashes every shard and reads every chunk with its checksum.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>

#include "core/fs.h"
#include "core/strings.h"
#include "data/manifest.h"
#include "data/pack_reader.h"
#include "data/pack_verify.h"
#include "launch/commands.h"

namespace cxr::launch {

void register_info(CLI::App& app, Context&) {
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto verify = std::make_shared<bool>(false);
  auto threads = std::make_shared<int>(0);
  auto no_progress = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("info", "Describe and check a pack (splits, counts, patients, prevalence, image size)");
  cmd->add_option("path", *path, "Pack folder")->required();
  cmd->add_flag("--json", *json, "Print manifest.json as is (no checks)");
  cmd->add_flag("--verify", *verify,
                "Also check every shard's sha256 against manifest.json and read every image/mask chunk with its "
                "Fletcher-32 checksum (reads the whole pack)");
  cmd->add_option("--threads", *threads, "--verify: threads (0 = one per core)")->capture_default_str();
  cmd->add_flag("--no-progress", *no_progress, "--verify: no progress bar");
  cmd->footer("Exit status: 0 = the pack passed the checks, 2 = it is damaged or inconsistent (the message names the\n"
              "shard and dataset), 1 = another failure.");
  cmd->callback([path, json, verify, threads, no_progress] {
    if (*json) {
      std::fputs(read_text_file(std::filesystem::path(*path) / "manifest.json").c_str(), stdout);
      return;
    }
    data::Manifest m = data::read_manifest(*path);
    std::printf("pack %s\n  schema %s, source %s, image size %dx%d, %zu classes\n", path->c_str(), m.schema.c_str(),
                m.source.c_str(), m.image_size, m.image_size, m.classes.size());
    if (m.source == "labelled-csv") {  // which label map made it (provenance keys of data/packer.cpp)
      const auto raw = nlohmann::json::parse(read_text_file(std::filesystem::path(*path) / "manifest.json"));
      const auto lm = raw.value("label_map", nlohmann::json::object());
      std::printf("  labelled CSV via label map %s (%s, uncertain labels: %s)\n", lm.value("name", "?").c_str(),
                  lm.value("file", "?").c_str(), lm.value("uncertain", "n/a (list labels)").c_str());
    }
    if (!m.classes_not_evaluable.empty())
      std::printf("  classes not evaluable: %s (no source label maps onto them; label 0 means unknown)\n",
                  join(m.classes_not_evaluable, ", ").c_str());
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
    std::fflush(stdout);
    if (*verify) {
      const data::PackVerifyReport r = data::verify_pack(*path, *threads, !*no_progress);
      std::printf("\nverified: %lld shards by sha256, %lld images%s by their chunk checksums, row values and "
                  "manifest counts, in %.1f s\n",
                  static_cast<long long>(r.shards - r.shards_without_digest), static_cast<long long>(r.images),
                  r.masks ? (" and " + std::to_string(r.masks) + " lesion masks").c_str() : "", r.seconds);
      if (r.shards_without_digest)
        std::printf("warning: %lld shards have no sha256 in manifest.json (a pack of an older cxrtrain): their bytes "
                    "were not compared\n", static_cast<long long>(r.shards_without_digest));
      if (!r.checksummed)
        std::printf("warning: the pack's chunks carry no checksums (an older cxrtrain): damaged images cannot be "
                    "detected; re-create the pack\n");
      return;
    }
    int64_t shards = 0;
    bool checksummed = true;
    for (const auto& s : m.splits) {
      const data::PackSplit split(*path, s.name);  // attributes, dataset types/shapes, row values
      shards += static_cast<int64_t>(s.shards.size());
      checksummed = checksummed && split.checksummed();
    }
    std::printf("\nchecks passed: %lld shards match manifest.json (attributes, dataset types and shapes, row values)%s; "
                "--verify also checks every byte\n",
                static_cast<long long>(shards), checksummed ? ", chunks checksummed" : "; NO chunk checksums (older pack)");
  });
}

}  // namespace cxr::launch
