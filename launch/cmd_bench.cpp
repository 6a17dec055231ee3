// `cxrtrain bench`: throughput harnesses. --loader compares the pack loader with decoding the source
// PNGs on the same images, side by side in one run, and prints both rates and their ratio.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "core/config.h"
#include "core/error.h"
#include "core/fs.h"
#include "data/preprocess.h"
#include "launch/bench_loader.h"
#include "launch/commands.h"
#include "launch/environment.h"

namespace cxr::launch {

namespace {

struct BenchArgs {
  bool loader = false;
  std::string config, pack, split = "train", png_root, json_out;
  std::vector<std::string> overrides;
  int64_t images = 2000;
  double seconds = 10.0;
};

void run_loader(const BenchArgs& a) {
  Config cfg = load_config(a.config, a.overrides);
  const LaunchEnv env = detect_launch();
  LoaderBenchOptions o;
  o.pack_dir = a.pack.empty() ? cfg.data.pack : a.pack;
  if (o.pack_dir.empty()) throw UserError("no pack to read", "pass --pack DIR or --set data.pack=DIR");
  if (a.png_root.empty()) throw UserError("--png-root is required", "the folder holding the source PNGs of the pack");
  o.split = a.split;
  o.png_root = a.png_root;
  o.preprocess = data::preprocess_options(cfg.data);
  o.batch_size = std::max(1, cfg.train.global_batch / env.world_size);
  o.workers = cfg.loader.workers;
  o.prefetch = cfg.loader.prefetch;
  o.max_images = a.images;
  o.max_seconds = a.seconds;
  o.seed = static_cast<uint64_t>(cfg.seed);
  LoaderBenchResult r = run_loader_bench(o);
  std::printf("loader bench (rank %d/%d): %lld images of split '%s', pack %d px -> %d px, batch %d\n",
              env.world_rank, env.world_size, static_cast<long long>(r.images), o.split.c_str(), r.pack_image_size,
              r.output_size, o.batch_size);
  std::printf("%8s %16s %16s %10s\n", "workers", "pack img/s", "PNG img/s", "ratio");
  for (const auto& run : r.runs)
    std::printf("%8d %16.1f %16.1f %9.1fx\n", run.workers, run.pack_images_per_s, run.png_images_per_s, run.speedup);
  if (!a.json_out.empty()) atomic_write_file(a.json_out, r.json + "\n");
  std::fflush(stdout);
}

}  // namespace

void register_bench(CLI::App& app, Context&) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("bench", "Throughput benchmarks (img/s, side by side with a baseline)");
  cmd->footer("Example:\n  cxrtrain bench --loader --pack packs/nih256 --png-root /data/nih-cxr14 --set loader.workers=2");
  cmd->add_flag("--loader", a->loader, "Pack loader vs decoding the source PNGs, same images, same preprocessing");
  cmd->add_option("--config", a->config, "YAML config (data.*, loader.*, train.global_batch are used)");
  cmd->add_option("--set", a->overrides, "Override a config key: --set data.image_size=224 (repeatable)");
  cmd->add_option("--pack", a->pack, "Pack folder (default: data.pack of the config)");
  cmd->add_option("--split", a->split, "Split to read")->capture_default_str();
  cmd->add_option("--png-root", a->png_root, "Folder searched recursively for the split's source PNGs");
  cmd->add_option("--images", a->images, "Images per path and worker count (cycled)")->capture_default_str();
  cmd->add_option("--seconds", a->seconds, "Time limit per path and worker count")->capture_default_str();
  cmd->add_option("--json", a->json_out, "Also write the result as JSON to this file");
  cmd->callback([a] {
    if (!a->loader) throw UserError("nothing to benchmark", "pass --loader (training benchmarks come with the trainer)");
    run_loader(*a);
  });
}

}  // namespace cxr::launch
