// `cxrtrain bench`: throughput harnesses. --loader compares the pack loader with decoding the source
// PNGs on the same images, side by side in one run, and prints both rates and their ratio. --steps N
// times N steps of the real training loop (under mpirun too) and breaks each step into its phases.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>

#include "comm/mpi_runtime.h"
#include "core/config.h"
#include "core/error.h"
#include "core/fs.h"
#include "data/preprocess.h"
#include "launch/allocator.h"
#include "launch/bench_gradcam.h"
#include "launch/bench_loader.h"
#include "launch/bench_stats.h"
#include "launch/bench_train.h"
#include "launch/commands.h"
#include "launch/environment.h"
#include "launch/world.h"

namespace cxr::launch {

namespace {

struct BenchArgs {
  bool loader = false;
  std::string config, pack, split = "train", png_root, json_out;
  std::vector<std::string> overrides;
  int64_t images = 2000;
  double seconds = 10.0;
  TrainBenchOptions train;
  bool train_set = false;  // --steps was given
  bool stats = false;
  StatsBenchOptions stats_options;
  bool gradcam = false;
  GradcamBenchOptions gradcam_options;
  bool default_heap = false;
};

void run_loader(const BenchArgs& a) {
  Config cfg = load_config(a.config, a.overrides);
  const LaunchEnv env = detect_launch();
  LoaderBenchOptions o;
  o.pack_dir = a.pack.empty() ? cfg.data.pack : a.pack;
  if (o.pack_dir.empty()) throw UserError("no pack to read", "pass --pack DIR or --set data.pack=DIR");
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
  std::printf("loader bench (rank %d/%d): %lld distinct images of split '%s'%s, pack %d px -> %d px, batch %d, "
              "up to %lld images per run\n",
              env.world_rank, env.world_size, static_cast<long long>(r.images), o.split.c_str(),
              o.png_root.empty() ? " (no --png-root: pack path only)" : " with a PNG", r.pack_image_size, r.output_size,
              o.batch_size, static_cast<long long>(o.max_images));
  if (!r.warning.empty()) std::printf("warning: %s\n", r.warning.c_str());
  if (o.png_root.empty()) {
    std::printf("%8s %16s %16s\n", "workers", "pack img/s", "images read");
    for (const auto& run : r.runs)
      std::printf("%8d %16.1f %16lld\n", run.workers, run.pack_images_per_s, static_cast<long long>(run.pack_images));
  } else {
    std::printf("%8s %16s %16s %10s\n", "workers", "pack img/s", "PNG img/s", "ratio");
    for (const auto& run : r.runs)
      std::printf("%8d %16.1f %16.1f %9.1fx\n", run.workers, run.pack_images_per_s, run.png_images_per_s, run.speedup);
  }
  if (!a.json_out.empty()) atomic_write_file(a.json_out, r.json + "\n");
  std::fflush(stdout);
}

void run_stats(const BenchArgs& a) {
  const StatsBenchResult r = run_stats_bench(a.stats_options);
  std::printf("statistics of one evaluation (%lld images x 14 classes, %lld patients, %d patient-level bootstrap "
              "resamples, DeLong, AP, calibration, operating points, subgroups): %.2f s (macro AUROC %.4f)\n",
              static_cast<long long>(a.stats_options.images), static_cast<long long>(a.stats_options.patients),
              a.stats_options.resamples, r.seconds, r.macro_auroc);
  if (!a.json_out.empty()) atomic_write_file(a.json_out, r.json + "\n");
  std::fflush(stdout);
}

void run_gradcam(const BenchArgs& a) {
  const GradcamBenchOptions& o = a.gradcam_options;
  const GradcamBenchResult r = run_gradcam_bench(o);
  std::printf("Grad-CAM, %d phantom films at %d px, ResNet-%d: all 14 classes' layer4 maps (one pass) and their region "
              "shares in %.1f s = %.1f img/s (goal: 500 images in < 120 s -> %s)\n"
              "  maps only, side by side on %d images: one pass %.1f img/s, autograd at layer4 %.1f img/s (%.2fx), "
              "autograd at layer3 %.1f img/s (%.2fx)\n",
              o.images, o.size, o.depth, r.seconds, r.images_per_second,
              500.0 / r.images_per_second < 120 ? "met" : "NOT met", std::min(o.autograd_images, o.images),
              r.one_pass_maps_per_second, r.autograd_images_per_second,
              r.one_pass_maps_per_second / r.autograd_images_per_second, r.layer3_images_per_second,
              r.one_pass_maps_per_second / r.layer3_images_per_second);
  std::printf("%s\n", r.json.c_str());
  if (!a.json_out.empty()) atomic_write_file(a.json_out, r.json + "\n");
  std::fflush(stdout);
}

void run_train(const BenchArgs& a) {
  // Config errors surface before any rank starts work, as in `cxrtrain train`.
  Config cfg = load_config(a.config, a.overrides);
  if (!a.pack.empty()) cfg.data.pack = a.pack;
  World world = start_world(cfg);
  trainer::TrainEnv te = base_train_env(cfg, world.env);
  TrainBenchOptions o = a.train;
  o.training_heap = !a.default_heap && use_training_heap();  // before the model and data exist
  run_or_abort(*world.comm, [&] {
    TrainBenchResult r = run_train_bench(cfg, *world.comm, te, o);
    if (world.comm->rank() != 0) return;
    std::fputs(r.table.c_str(), stdout);
    if (a.train.keep) std::printf("  run directory kept: %s\n", r.run_dir.c_str());
    std::printf("%s\n", r.json.c_str());
    std::fflush(stdout);
    if (!a.json_out.empty()) atomic_write_file(a.json_out, r.json + "\n");
  });
}

}  // namespace

void register_bench(CLI::App& app, Context&) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("bench", "Throughput benchmarks (img/s, side by side with a baseline)");
  cmd->footer(
      "Examples:\n"
      "  cxrtrain bench --loader --pack packs/nih256 --png-root /data/nih-cxr14 --set loader.workers=2\n"
      "  mpirun -np 2 cxrtrain bench --config configs/reference_study.yaml --set data.pack=packs/phantom128 \\\n"
      "      --set train.threads=1 --steps 5 --warmup 3 --json bench.json\n"
      "  cxrtrain bench --gradcam                    # 500 films, 224 px, ResNet-50: maps + region shares, img/s\n"
      "  mpirun -np 8 cxrtrain bench --config configs/reference_study.yaml --set data.pack=packs/nih256 \\\n"
      "      --set data.image_size=224 --set train.precision=bf16 --set train.global_batch=512 --steps 50 --warmup 10\n"
      "--steps runs the training loop itself (validation off, run directory in a temporary folder) and\n"
      "reports img/s and data wait / forward / backward / exposed comm / optimiser per step. See benchmarks/.");
  cmd->add_flag("--loader", a->loader, "Pack loader vs decoding the source PNGs, same images, same preprocessing");
  cmd->add_flag("--stats", a->stats,
                "Evaluation statistics on synthetic data of the NIH test split's size (benchmarks/eval_speed.py "
                "runs it beside scikit-learn)");
  cmd->add_flag("--gradcam", a->gradcam,
                "Grad-CAM pass: 14 classes' maps + region shares of phantom films (ResNet-50, 224 px) vs autograd");
  cmd->add_option("--gradcam-images", a->gradcam_options.images, "--gradcam: images")->capture_default_str();
  cmd->add_option("--gradcam-size", a->gradcam_options.size, "--gradcam: image side")->capture_default_str();
  cmd->add_option("--gradcam-depth", a->gradcam_options.depth, "--gradcam: ResNet depth (18, 34, 50)")->capture_default_str();
  cmd->add_option("--gradcam-threads", a->gradcam_options.threads, "--gradcam: torch threads (0 = one per core)")
      ->capture_default_str();
  cmd->add_option("--stats-images", a->stats_options.images, "--stats: images")->capture_default_str();
  cmd->add_option("--stats-patients", a->stats_options.patients, "--stats: patients")->capture_default_str();
  cmd->add_option("--stats-resamples", a->stats_options.resamples, "--stats: bootstrap resamples")->capture_default_str();
  cmd->add_option("--stats-threads", a->stats_options.threads, "--stats: threads (0 = one per core)")->capture_default_str();
  cmd->add_option("--stats-data", a->stats_options.write_data, "--stats: also write the synthetic data to this CSV");
  CLI::Option* steps = cmd->add_option("--steps", a->train.steps,
                                       "Training benchmark: time this many training steps (after --warmup)")
                           ->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", a->train.warmup, "Training benchmark: untimed steps first")->capture_default_str();
  cmd->add_flag("--default-heap", a->default_heap,
                "Training benchmark: leave glibc malloc at its defaults (see launch/allocator.h)");
  cmd->add_flag("--keep", a->train.keep, "Training benchmark: keep the temporary run directory (train.log, timing.jsonl)");
  cmd->add_option("--config", a->config, "YAML config (--loader: data.*, loader.*, train.global_batch; --steps: all)");
  cmd->add_option("--set", a->overrides, "Override a config key: --set data.image_size=224 (repeatable)");
  cmd->add_option("--pack", a->pack, "Pack folder (default: data.pack of the config)");
  cmd->add_option("--split", a->split, "Split to read")->capture_default_str();
  cmd->add_option("--png-root", a->png_root,
                  "Folder searched recursively for the split's source PNGs (without it: the pack path alone, whole split)");
  cmd->add_option("--images", a->images, "Images per path and worker count (cycled)")->capture_default_str();
  cmd->add_option("--seconds", a->seconds, "Time limit per path and worker count")->capture_default_str();
  cmd->add_option("--json", a->json_out, "Also write the result as JSON to this file");
  cmd->callback([a, steps] {
    a->train_set = steps->count() > 0;
    if (a->loader + a->train_set + a->stats + a->gradcam > 1)
      throw UserError("--loader, --steps, --stats and --gradcam are separate benchmarks", "run them one at a time");
    if (a->stats) return run_stats(*a);
    if (a->gradcam) return run_gradcam(*a);
    if (a->loader) return run_loader(*a);
    if (a->train_set) return run_train(*a);
    throw UserError("nothing to benchmark",
                    "pass --loader (data loading), --steps N (training steps), --stats (evaluation statistics) or "
                    "--gradcam (the Grad-CAM pass)");
  });
}

}  // namespace cxr::launch
