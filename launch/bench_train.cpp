// Training-step benchmark (see bench_train.h). The timed window is the trainer's own: log.interval is
// set to the warm-up length, so the first logged interval (which train() never counts) is the warm-up,
// and max_steps = warm-up + steps ends the run at the last timed step, inside the first epoch.
#include "launch/bench_train.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <random>
#include <unistd.h>

#include "comm/communicator.h"
#include "core/error.h"
#include "data/manifest.h"
#include "launch/scaling_probe.h"

namespace cxr::launch {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

// Global batches per epoch of the train split, as the trainer's sampler cuts it.
int64_t batches_per_epoch(const Config& cfg, const data::Manifest& manifest) {
  const int64_t n = manifest.split(cfg.data.train_split).count;
  const int64_t g = cfg.train.global_batch;
  return cfg.loader.tail == "pad" ? (n + g - 1) / g : n / g;
}

// A fresh directory under the system temp folder, unique per job (rank 0 makes it).
fs::path make_temp_run_dir() {
  std::random_device entropy;
  for (int attempt = 0; attempt < 100; ++attempt) {
    char name[64];
    std::snprintf(name, sizeof name, "cxrtrain-bench-%d-%08x", static_cast<int>(::getpid()), entropy());
    fs::path dir = fs::temp_directory_path() / name;
    if (fs::create_directory(dir)) return dir;
  }
  throw std::runtime_error("could not create a temporary run directory under " + fs::temp_directory_path().string());
}

TrainBenchRank from_summary(int rank, const trainer::TrainSummary& s, int global_batch) {
  TrainBenchRank r;
  r.rank = rank;
  r.images_per_second = s.images_per_second;
  r.step_ms = s.images_per_second > 0 ? 1e3 * global_batch / s.images_per_second : 0;
  r.data_ms = s.data_ms;
  r.forward_ms = s.forward_ms;
  r.backward_ms = s.backward_ms;
  r.exposed_comm_ms = s.exposed_comm_ms;
  r.optimizer_ms = s.optimizer_ms;
  r.other_ms = r.step_ms - (r.data_ms + r.forward_ms + r.backward_ms + r.exposed_comm_ms + r.optimizer_ms);
  r.comm_in_flight_ms = s.comm_in_flight_ms;
  r.cpu_ms = s.cpu_ms;
  return r;
}

// The fields of one rank as a vector, in a fixed order, so one all_gather per field carries them all.
std::vector<double TrainBenchRank::*> gathered_fields() {
  return {&TrainBenchRank::images_per_second, &TrainBenchRank::step_ms,         &TrainBenchRank::data_ms,
          &TrainBenchRank::forward_ms,        &TrainBenchRank::backward_ms,     &TrainBenchRank::exposed_comm_ms,
          &TrainBenchRank::optimizer_ms,      &TrainBenchRank::other_ms,        &TrainBenchRank::comm_in_flight_ms,
          &TrainBenchRank::cpu_ms};
}

double percent(double part, double whole) { return whole > 0 ? 100.0 * part / whole : 0.0; }

json rank_json(const TrainBenchRank& r) {
  return {{"rank", r.rank},
          {"images_per_second", r.images_per_second},
          {"step_ms", r.step_ms},
          {"data_wait_ms", r.data_ms},
          {"forward_ms", r.forward_ms},
          {"backward_ms", r.backward_ms},
          {"exposed_comm_ms", r.exposed_comm_ms},
          {"optimizer_ms", r.optimizer_ms},
          {"other_ms", r.other_ms},
          {"comm_in_flight_ms", r.comm_in_flight_ms},
          {"cpu_ms", r.cpu_ms}};
}

}  // namespace

TrainBenchResult run_train_bench(const Config& config, comm::Communicator& world, trainer::TrainEnv env,
                                 const TrainBenchOptions& options) {
  if (options.steps < 1) throw UserError("--steps must be at least 1", "e.g. --steps 5");
  if (options.warmup < 1)
    throw UserError("--warmup must be at least 1",
                    "the first step allocates buffers and picks kernels; it is never part of the timing");
  if (config.data.pack.empty()) throw UserError("data.pack is not set", "--set data.pack=DIR (made by cxrtrain pack/synth)");
  const data::Manifest manifest = data::read_manifest(config.data.pack);
  const int64_t total = options.warmup + options.steps;
  const int64_t per_epoch = batches_per_epoch(config, manifest);
  if (per_epoch < total) {
    throw UserError("split '" + config.data.train_split + "' of " + config.data.pack + " gives " +
                        std::to_string(per_epoch) + " steps of global batch " +
                        std::to_string(config.train.global_batch) + " per epoch; the benchmark needs " +
                        std::to_string(total) + " (warm-up + timed) inside one epoch",
                    "use a larger pack (cxrtrain synth --n ...) or fewer --steps/--warmup");
  }

  TrainBenchResult result;
  result.world_size = world.size();
  result.threads = env.threads;
  result.image_size = config.data.image_size > 0 ? config.data.image_size : manifest.image_size;

  // Rank 0 picks the run directory; everyone must pass the same path to train().
  result.run_dir = world.broadcast_string(world.rank() == 0 ? make_temp_run_dir().string() : "", 0);

  Config cfg = config;
  cfg.run_dir = result.run_dir;
  cfg.train.evaluate = false;
  cfg.train.max_steps = total;
  cfg.train.epochs = std::max(cfg.train.epochs, 1);
  cfg.train.checkpoint_every = 0;
  cfg.log.interval = static_cast<int>(options.warmup);
  env.stop_after_steps = total;  // ends train() before its end-of-run checkpoint and weight export
  env.sync_cuda_phases = true;   // exact phase times on GPUs (the per-step loss check syncs anyway)
  env.resume.clear();

  trainer::TrainSummary summary;
  try {
    summary = trainer::train(cfg, world, env);
  } catch (...) {
    if (world.rank() == 0 && !options.keep) {
      std::error_code ignored;
      fs::remove_all(result.run_dir, ignored);
    }
    throw;
  }
  if (summary.timed_steps != options.steps) {
    throw std::logic_error("the trainer timed " + std::to_string(summary.timed_steps) + " steps, the benchmark asked for " +
                           std::to_string(options.steps));
  }
  result.timed_steps = summary.timed_steps;
  result.device = summary.device;
  result.backend = summary.backend;
  result.comm_mb_per_step = summary.comm_bytes_per_step / (1024.0 * 1024.0);

  // Every rank's numbers to rank 0: one small all_gather per field.
  const TrainBenchRank mine = from_summary(world.rank(), summary, config.train.global_batch);
  std::vector<TrainBenchRank> ranks(static_cast<size_t>(world.size()));
  for (auto field : gathered_fields()) {
    const std::vector<double> all = world.all_gather(mine.*field);
    for (size_t r = 0; r < ranks.size(); ++r) {
      ranks[r].rank = static_cast<int>(r);
      ranks[r].*field = all[r];
    }
  }
  world.barrier();
  // For `cxrtrain scaling`: blocking all-reduce timings at a few sizes on this machine (collective).
  const std::vector<AllReduceTiming> allreduce = time_allreduce(world, {4096, 65536, 1 << 20, 4 << 20}, 5);
  if (world.rank() == 0 && !options.keep) fs::remove_all(result.run_dir);
  if (world.rank() != 0) return result;
  result.ranks = ranks;

  // The job runs at the pace of its slowest rank; phases are averaged over ranks.
  TrainBenchRank& job = result.job;
  job.rank = -1;
  job.images_per_second = std::min_element(ranks.begin(), ranks.end(), [](const auto& a, const auto& b) {
                            return a.images_per_second < b.images_per_second;
                          })->images_per_second;
  job.step_ms = job.images_per_second > 0 ? 1e3 * config.train.global_batch / job.images_per_second : 0;
  for (auto field : gathered_fields()) {
    if (field == &TrainBenchRank::images_per_second || field == &TrainBenchRank::step_ms) continue;
    double sum = 0;
    for (const auto& r : ranks) sum += r.*field;
    job.*field = sum / double(ranks.size());
  }
  // Whatever the mean phases leave of the slowest rank's step is "other" (logging, imbalance).
  job.other_ms = job.step_ms - (job.data_ms + job.forward_ms + job.backward_ms + job.exposed_comm_ms + job.optimizer_ms);

  const int64_t per_rank = config.train.global_batch / world.size();
  char line[256];
  std::string& t = result.table;
  std::snprintf(line, sizeof line,
                "train bench: ResNet-%d (width %g), %d rank(s) x %d thread(s), global batch %d (%lld/rank), %d px, "
                "%lld warm-up + %lld timed steps\n  device %s, gradients over %s, %s%s\n",
                config.model.depth, config.model.width, world.size(), env.threads, config.train.global_batch,
                static_cast<long long>(per_rank), result.image_size, static_cast<long long>(options.warmup),
                static_cast<long long>(options.steps), result.device.c_str(), result.backend.c_str(),
                config.train.precision.c_str(), config.train.channels_last ? ", channels_last" : "");
  t += line;
  std::snprintf(line, sizeof line, "  %.2f img/s, %.1f ms/step (slowest rank)\n", job.images_per_second, job.step_ms);
  t += line;
  std::snprintf(line, sizeof line, "  %-22s %10s %8s\n", "phase (mean of ranks)", "ms/step", "% step");
  t += line;
  const std::pair<const char*, double> rows[] = {{"data wait", job.data_ms},         {"forward", job.forward_ms},
                                                 {"backward", job.backward_ms},       {"exposed comm", job.exposed_comm_ms},
                                                 {"optimiser", job.optimizer_ms},     {"other", job.other_ms}};
  for (const auto& [name, ms] : rows) {
    std::snprintf(line, sizeof line, "  %-22s %10.1f %7.1f%%\n", name, ms, percent(ms, job.step_ms));
    t += line;
  }
  std::snprintf(line, sizeof line, "  gradient all-reduce: %.1f MiB/step, %.1f ms/step in flight, %.1f ms of it exposed\n",
                result.comm_mb_per_step, job.comm_in_flight_ms, job.exposed_comm_ms);
  t += line;
  std::snprintf(line, sizeof line, "  CPU time: %.1f ms/step per rank (%.0f%% of the wall step); heap: %s\n",
                job.cpu_ms, percent(job.cpu_ms, job.step_ms),
                options.training_heap ? "training (launch/allocator.h)" : "glibc default");
  t += line;
  if (ranks.size() > 1) {
    t += "  per rank img/s:";
    for (const auto& r : ranks) {
      std::snprintf(line, sizeof line, " %.2f", r.images_per_second);
      t += line;
    }
    t += "\n";
  }

  json j;
  j["bench"] = "train";
  j["model"] = {{"depth", config.model.depth}, {"width", config.model.width}, {"in_channels", config.model.in_channels}};
  j["device"] = result.device;
  j["backend"] = result.backend;
  j["precision"] = config.train.precision;
  j["channels_last"] = config.train.channels_last;
  j["world_size"] = world.size();
  j["threads"] = env.threads;
  j["global_batch"] = config.train.global_batch;
  j["batch_per_rank"] = per_rank;
  j["image_size"] = result.image_size;
  j["warmup_steps"] = options.warmup;
  j["timed_steps"] = result.timed_steps;
  j["loader_workers"] = config.loader.workers;
  j["bucket_mb"] = config.train.bucket_mb;
  j["comm_mib_per_step"] = result.comm_mb_per_step;
  j["training_heap"] = options.training_heap;
  json jj = rank_json(job);
  jj.erase("rank");
  for (auto& [key, value] : jj.items()) j[key] = value;
  j["percent_of_step"] = {{"data_wait", percent(job.data_ms, job.step_ms)},
                          {"forward", percent(job.forward_ms, job.step_ms)},
                          {"backward", percent(job.backward_ms, job.step_ms)},
                          {"exposed_comm", percent(job.exposed_comm_ms, job.step_ms)},
                          {"optimizer", percent(job.optimizer_ms, job.step_ms)},
                          {"other", percent(job.other_ms, job.step_ms)}};
  j["per_rank"] = json::array();
  for (const auto& r : ranks) j["per_rank"].push_back(rank_json(r));
  // The gradient buckets in launch order and the all-reduce timings (`cxrtrain scaling` models with them).
  j["buckets"] = json::array();
  for (const auto& b : gradient_buckets(config)) j["buckets"].push_back({{"bytes", b.bytes}, {"params", b.params}});
  j["allreduce_probe"] = {{"backend", world.size() > 1 ? "world (mpi, host memory)" : "none (1 rank)"},
                          {"points", json::array()}};
  for (const auto& t : allreduce) j["allreduce_probe"]["points"].push_back({{"bytes", t.bytes}, {"seconds", t.seconds}});
  j["run_dir"] = result.run_dir;
  j["run_dir_kept"] = options.keep;
  result.json = j.dump();
  return result;
}

}  // namespace cxr::launch
