// The training loop (see train_loop.h). Collective order is identical on every rank: the per-step
// finite-loss check, the bucketed gradient all-reduce, the interval loss average, buffer averaging
// and the validation gather happen at the same steps everywhere, and nothing rank-dependent wraps them.
#include "trainer/train_loop.h"

#include <nlohmann/json.hpp>
#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <functional>
#include <limits>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "comm/communicator.h"
#include "comm/gradient_sync.h"
#include "comm/model_communicator.h"
#include "comm/mpi_check.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/run_dir.h"
#include "core/sha256.h"
#include "core/strings.h"
#include "core/version.h"
#include "data/classes.h"
#include "data/loader.h"
#include "data/manifest.h"
#include "data/pack_reader.h"
#include "data/preprocess.h"
#include "eval/auroc.h"
#include "trainer/checkpoint.h"
#include "trainer/fused_adam.h"
#include "trainer/inference.h"
#include "trainer/model_setup.h"
#include "trainer/resnet.h"
#include "trainer/resume.h"
#include "trainer/schedule.h"
#include "trainer/shard_verify.h"
#include "trainer/step_timer.h"
#include "trainer/torchvision_export.h"

namespace cxr::trainer {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

// Per-class negatives/positives over the train split (the usual "balanced" BCE weighting).
torch::Tensor balanced_pos_weight(const data::PackSplit& split) {
  std::vector<float> w(data::kNumClasses);
  for (int c = 0; c < data::kNumClasses; ++c) {
    int64_t pos = 0;
    for (const auto& m : split.meta()) pos += m.labels[c];
    const int64_t neg = split.size() - pos;
    w[c] = pos > 0 ? static_cast<float>(neg) / static_cast<float>(pos) : 1.0f;
  }
  return torch::tensor(w);
}

// environment.jsonl: one line per start and resume of the run, what the report's method card shows
// (ranks, backend, hardware, versions); the config files hold the settings.
void record_session(const fs::path& run_dir, const json& session) {
  const fs::path path = run_dir / kEnvironmentFile;
  std::string text = fs::exists(path) ? read_text_file(path) : std::string();
  if (!text.empty() && text.back() != '\n') text += '\n';  // a line torn by a crash stays a line of its own
  atomic_write_file(path, text + session.dump() + "\n");
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// metrics.jsonl: deterministic content only (no timings), so equal runs give equal files. On resume
// the lines past the checkpoint's step are dropped, so a resumed run's file equals a straight one's.
class MetricsLog {
 public:
  MetricsLog(const fs::path& path, int64_t keep_up_to_step, bool enabled) : path_(path), enabled_(enabled) {
    if (!enabled_) return;
    std::string kept;
    if (fs::exists(path_)) {
      std::ifstream in(path_);
      std::string line;
      while (std::getline(in, line)) {
        if (line.empty()) continue;
        auto j = json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded()) continue;  // a line torn by a kill mid-write
        if (j.value("step", int64_t{0}) <= keep_up_to_step) kept += line + "\n";
      }
    }
    atomic_write_file(path_, kept);
    out_.open(path_, std::ios::app);
  }
  void write(const json& j) {
    if (!enabled_) return;
    out_ << j.dump() << "\n";
    out_.flush();
  }
  // On disk before a checkpoint that claims them is: a power loss must not keep a checkpoint at step S
  // and lose lines up to S, which a resumed run would never write again.
  void sync() {
    if (!enabled_) return;
    out_.flush();
    fsync_file(path_);
  }

 private:
  fs::path path_;
  bool enabled_;
  std::ofstream out_;
};

struct Validation {
  eval::ClassAuroc auroc;
  int64_t images = 0;
};

// Validation AUROC from the gathered logits (every rank computes the same, so on a non-finite score every
// rank fails the same way). Logits in double, not sigmoids in float: AUROC needs only the order, which
// saturated sigmoids lose.
Validation validate(ResNet& model, const std::shared_ptr<const data::PackSplit>& split, comm::Communicator& world,
                    const torch::Device& device, const ScoringOptions& scoring, int64_t step) {
  const torch::Tensor logits = score_split(model, split, world, device, scoring);
  Validation v;
  v.images = logits.size(0);
  const auto n = static_cast<size_t>(logits.size(0));
  std::vector<double> scores(logits.data_ptr<double>(), logits.data_ptr<double>() + n * data::kNumClasses);
  std::vector<uint8_t> labels(scores.size());
  for (size_t r = 0; r < n; ++r)
    for (int c = 0; c < data::kNumClasses; ++c)
      labels[r * data::kNumClasses + c] = split->meta()[r].labels[static_cast<size_t>(c)];
  try {
    v.auroc = eval::auroc_per_class(scores, labels, data::kNumClasses, data::class_names());
  } catch (const eval::NonFiniteScore& e) {
    // The same fail-fast path as a non-finite loss: every rank holds the same scores and stops here.
    spdlog::error("non-finite validation score after step {}: {}", step, e.what());
    throw std::runtime_error("non-finite validation score after step " + std::to_string(step) + " (" + e.what() +
                             "); training stopped, the last good checkpoint is kept");
  }
  return v;
}

std::string macro_text(const eval::ClassAuroc& a) {
  if (!a.macro) return "undefined (no class has both positives and negatives)";
  return fmt::format("{:.4f} (over {} of {} classes)", *a.macro, a.defined, data::kNumClasses);
}

std::string first_non_finite(torch::nn::Module& model) {
  for (const auto& p : model.named_parameters()) {
    if (p.value().grad().defined() && !torch::isfinite(p.value().grad()).all().item<bool>())
      return "grad of " + p.key();
  }
  return "";
}

}  // namespace

std::string module_digest(torch::nn::Module& module) {
  Sha256 h;
  auto add = [&](const std::string& name, const torch::Tensor& t) {
    auto c = t.detach().to(torch::kCPU).contiguous();
    h.update(name.data(), name.size());
    for (int64_t d : c.sizes()) h.update(&d, sizeof d);
    h.update(c.data_ptr(), static_cast<size_t>(c.numel()) * c.element_size());
  };
  for (const auto& p : module.named_parameters()) add(p.key(), p.value());
  for (const auto& b : module.named_buffers()) add(b.key(), b.value());
  return h.hex_digest();
}

TrainSummary train(const Config& cfg, comm::Communicator& world, const TrainEnv& env) {
  const int rank = world.rank(), world_size = world.size();
  if (cfg.train.global_batch % world_size != 0) {
    throw UserError("train.global_batch " + std::to_string(cfg.train.global_batch) + " is not divisible by the " +
                        std::to_string(world_size) + " ranks",
                    "per-rank batch = global_batch / ranks; pick a multiple of the rank count");
  }
  if (cfg.data.pack.empty()) throw UserError("data.pack is not set", "--set data.pack=DIR (made by cxrtrain pack/synth)");
  const int64_t batch_per_rank = cfg.train.global_batch / world_size;
  const torch::Device device = pick_device(cfg, env.local_rank);
  if (cfg.train.precision == "bf16" && !device.is_cuda())
    throw UserError("train.precision=bf16 needs a CUDA device", "use train.precision=fp32 on CPU");
  // Model tensors (gradients, parameters, BN buffers) go over NCCL on GPUs; host values over `world`.
  // The rank's GPU is the current device for everything below, not only for guarded calls.
  c10::OptionalDeviceGuard device_guard;
  if (device.is_cuda()) device_guard.reset_device(device);
  comm::ModelCommunicator model_comm =
      comm::model_communicator(world, device, cfg.train.backend, cfg.train.collective_timeout_s);
  comm::Communicator& tensors = *model_comm.comm;
  if (env.threads > 0) torch::set_num_threads(env.threads);

  // Data first: a damaged or inconsistent pack stops every rank (exit 2) before anything is written or
  // trained. The shards' bytes against manifest.json (shared over the ranks), then each split's schema.
  std::vector<std::string> splits_read = {cfg.data.train_split};
  if (cfg.train.evaluate) splits_read.push_back(cfg.data.val_split);
  if (cfg.data.verify == "sha256") verify_shards(cfg.data.pack, splits_read, world);
  auto train_split = std::make_shared<const data::PackSplit>(cfg.data.pack, cfg.data.train_split);
  std::shared_ptr<const data::PackSplit> val_split;
  if (cfg.train.evaluate) val_split = std::make_shared<const data::PackSplit>(cfg.data.pack, cfg.data.val_split);
  const std::string pack_sha256 = data::manifest_sha256(cfg.data.pack);

  const fs::path run_dir = cfg.run_dir;
  const fs::path ckpt_dir = run_dir / "checkpoints";
  const fs::path last = ckpt_dir / "last.pt";
  const std::vector<std::string> candidates = resume_candidates(run_dir.string(), env.resume);
  if (env.resume.empty() && (fs::exists(last) || fs::exists(previous_checkpoint_path(last.string())))) {
    throw UserError("run directory '" + run_dir.string() + "' already holds checkpoints",
                    "pass --resume auto to continue it, or choose another run_dir");
  }

  // Model and optimiser: same seed everywhere, then rank 0's values are broadcast regardless.
  torch::manual_seed(static_cast<uint64_t>(cfg.seed));
  ResNet model = build_model(cfg, device);
  // model.bn_group at this rank count; collective over `tensors` when a BatchNorm group spans some ranks.
  const BatchNormSetup bn_setup = setup_batch_norm(cfg, model, tensors, batch_per_rank);
  model->batch_norm_groups().synchronize_cuda = env.sync_cuda_phases && device.is_cuda();
  const bool bf16 = cfg.train.precision == "bf16";
  const torch::MemoryFormat format = input_memory_format(cfg);
  FusedAdam optim(model->parameters(), torch::optim::AdamOptions(cfg.train.lr).weight_decay(cfg.train.weight_decay));
  TrainState st;
  st.world_size = world_size;
  st.config_yaml = to_yaml(cfg);
  st.pack_sha256 = pack_sha256;
  std::string resumed_from;
  // Every rank must see the same checkpoints (run_dir on a file system all ranks share): a rank that
  // resumes and one that starts fresh would enter different collectives and hang.
  const double seen = static_cast<double>(candidates.size());
  if (world.all_reduce_max(seen) != -world.all_reduce_max(-seen)) {
    throw UserError("the ranks see different checkpoints in '" + (run_dir / "checkpoints").string() +
                        "' (this rank: " + std::to_string(candidates.size()) + ")",
                    "put run_dir on a file system every rank shares (rank 0 writes, every rank reads)");
  }
  if (!candidates.empty()) {
    // Each rank takes the first candidate it can read whose settings may be resumed (a refusal is an
    // error, not a reason to fall back); all then agree on the latest one every rank could read, so a
    // last.pt torn by a node crash falls back to last.prev.pt everywhere.
    size_t mine = candidates.size();
    std::string error;
    for (size_t i = 0; i < candidates.size() && mine == candidates.size(); ++i) {
      try {
        const TrainState saved = read_checkpoint_state(candidates[i]);
        check_resume(saved, candidates[i], cfg, pack_sha256, world_size, env.resume_force);
        st = load_checkpoint(candidates[i], *model, optim);
        mine = i;
      } catch (const ResumeRefused&) {
        throw;
      } catch (const UserError& e) {
        error = e.what();
        const std::string why = error.substr(0, error.find('\n'));  // without the HINT line
        if (i + 1 < candidates.size()) spdlog::warn("{}; falling back to {}", why, candidates[i + 1]);
      }
    }
    const auto agreed = static_cast<size_t>(world.all_reduce_max(static_cast<double>(mine)));
    if (agreed >= candidates.size()) {
      throw UserError("no checkpoint of '" + run_dir.string() + "' can be loaded (tried " + join(candidates, ", ") +
                          "): " + error,
                      "restore a checkpoint from a copy, or start a new run directory");
    }
    if (mine != agreed) st = load_checkpoint(candidates[agreed], *model, optim);
    resumed_from = candidates[agreed];
    for (const auto& f : check_resume(st, resumed_from, cfg, pack_sha256, world_size, env.resume_force))
      spdlog::warn("resuming with a changed setting, as --resume-force allows: {}", f);
    // The unreadable newer files are moved aside, so the next save rotates the good checkpoint into
    // last.prev.pt instead of the damaged one.
    if (rank == 0) {
      for (size_t i = 0; i < agreed; ++i) {
        const std::string aside = candidates[i] + ".damaged";
        durable_rename(candidates[i], aside);
        spdlog::warn("moved the unreadable {} aside to {}", candidates[i], aside);
      }
    }
    st.config_yaml = to_yaml(cfg);
    st.pack_sha256 = pack_sha256;
    st.world_size = world_size;
  } else {
    comm::broadcast_parameters_and_buffers(tensors, *model, 0);
  }
  std::optional<LogFile> log_file;  // train.log, for this run only
  if (rank == 0) {
    fs::create_directories(ckpt_dir);
    // Every resolved config is kept: config.yaml for the first start, config.resume-N.yaml for each resume.
    const std::string config_name = resumed_from.empty() || !fs::exists(run_dir / "config.yaml")
                                        ? "config.yaml"
                                        : next_resume_config_name(run_dir.string());
    atomic_write_file(run_dir / config_name, to_yaml(cfg));
    log_file.emplace((run_dir / "train.log").string());
    record_session(run_dir, {{"started_utc", utc_now()},
                             {"config", config_name},
                             {"resumed_from", resumed_from.empty() ? json(nullptr) : json(resumed_from)},
                             {"step", st.step},
                             {"ranks", world_size},
                             {"backend", model_comm.backend},
                             {"device", device.str()},
                             {"hardware", hardware_description(device)},
                             {"host", comm::host_name()},
                             {"precision", cfg.train.precision},
                             {"cxrtrain", CXR_VERSION},
                             {"libtorch", TORCH_VERSION}});
  }
  world.barrier();
  if (!resumed_from.empty())
    spdlog::info("resumed from {} at step {} (epoch {}, batch {})", resumed_from, st.step, st.epoch, st.next_batch);

  // Loaders.
  data::SamplerOptions so;
  so.dataset_size = train_split->size();
  so.world_size = world_size;
  so.rank = rank;
  so.batch_per_rank = batch_per_rank;
  so.seed = static_cast<uint64_t>(cfg.seed);
  so.tail = cfg.loader.tail == "pad" ? data::TailPolicy::Pad : data::TailPolicy::Drop;
  data::LoaderOptions lo;
  lo.preprocess = data::preprocess_options(cfg.data);
  lo.workers = cfg.loader.workers;
  lo.prefetch = cfg.loader.prefetch;
  lo.seed = static_cast<uint64_t>(cfg.seed);
  data::Loader loader(train_split, data::DistributedSampler(so), lo);
  if (loader.batches_per_epoch() == 0) {
    throw UserError("split '" + cfg.data.train_split + "' has " + std::to_string(train_split->size()) +
                        " images, fewer than one global batch of " + std::to_string(cfg.train.global_batch),
                    "lower train.global_batch or use a larger pack");
  }
  ScoringOptions scoring;
  scoring.preprocess = lo.preprocess;
  scoring.batch_per_rank = cfg.eval.batch_size;
  scoring.workers = cfg.loader.workers;
  scoring.prefetch = cfg.loader.prefetch;
  scoring.bf16 = bf16;
  scoring.format = format;
  torch::Tensor pos_weight;
  if (cfg.train.pos_weight == "balanced") pos_weight = balanced_pos_weight(*train_split).to(device);

  const int64_t per_epoch = loader.batches_per_epoch();
  const int64_t total_steps = cfg.train.max_steps > 0 ? std::min(cfg.train.max_steps, cfg.train.epochs * per_epoch)
                                                      : cfg.train.epochs * per_epoch;
  comm::GradientSynchronizer sync(tensors, model->parameters(),
                                  static_cast<size_t>(cfg.train.bucket_mb * 1024.0 * 1024.0));
  MetricsLog metrics(run_dir / "metrics.jsonl", st.step, rank == 0);
  MetricsLog timing(run_dir / "timing.jsonl", st.step, rank == 0);
  spdlog::info("training ResNet-{} (width {}) on {} ranks, {} per rank, {} steps/epoch, {} steps, device {}, "
               "gradients over {}, {}{}",
               cfg.model.depth, cfg.model.width, world_size, batch_per_rank, per_epoch, total_steps, device.str(),
               model_comm.backend, cfg.train.precision, cfg.train.channels_last ? ", channels_last" : "");
  if (cfg.model.bn_group > 0) spdlog::info("{}", bn_setup.description);

  TrainSummary summary;
  summary.device = device.str();
  summary.backend = model_comm.backend;
  StepTimer timer;
  // The open logging interval: the sum of its steps' mean losses comes back from the checkpoint,
  // so a resumed run logs the same numbers as a straight one wherever it stopped.
  double interval_loss = st.interval_loss;
  int64_t interval_steps = st.interval_steps, interval_images = 0;
  int64_t timed_interval_steps = 0;  // steps of the open interval run by this process (timing only)
  double images_after_first = 0, seconds_after_first = 0;
  bool first_interval_done = false;
  comm::GradientSyncStats comm_at_timing_start;  // sync totals when the timed intervals begin
  std::clock_t cpu_at_log = std::clock();          // process CPU time at the last log line
  bool poison_validation = false;
  model->train();

  auto timed = [](const std::function<void()>& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  auto checkpoint = [&](const fs::path& path) {
    st.interval_loss = interval_loss;
    st.interval_steps = interval_steps;
    const double seconds = timed([&] {
      comm::average_buffers(tensors, *model);
      metrics.sync();
      if (rank == 0) save_checkpoint(path.string(), *model, optim, st);
    });
    summary.checkpoint_seconds += seconds;
    timing.write({{"step", st.step}, {"checkpoint_seconds", seconds}});
    timing.sync();
  };

  // GPU work is asynchronous: without a device sync its time lands in whichever phase next waits on it.
  const bool sync_phases = env.sync_cuda_phases && device.is_cuda();
  auto mark = [&](Phase phase) {
    if (sync_phases) torch::cuda::synchronize(device.index());
    timer.mark(phase);
  };

  bool stop_now = false;
  while (st.epoch < cfg.train.epochs && st.step < total_steps) {
    loader.start_epoch(st.epoch, st.next_batch);
    timer.start();
    while (st.step < total_steps) {
      auto batch = loader.next();
      if (!batch) break;
      mark(Phase::kData);
      const double lr = learning_rate(cfg.train.lr, cfg.train.schedule, cfg.train.warmup_steps, total_steps, st.step);
      for (auto& group : optim.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
      optim.zero_grad();
      auto x = batch->images.to(device, /*non_blocking=*/true).contiguous(format);
      auto y = batch->labels.to(device, /*non_blocking=*/true);
      torch::Tensor logits;
      {
        Autocast autocast(bf16);
        logits = model->forward(x);
      }
      auto loss = torch::binary_cross_entropy_with_logits(logits.to(torch::kFloat), y, /*weight=*/{}, pos_weight);
      if (env.fault_kind == "nan" && st.step == env.fault_step && rank == env.fault_rank)
        loss = loss * std::numeric_limits<float>::quiet_NaN();
      if (env.fault_kind == "throw" && st.step == env.fault_step && rank == env.fault_rank)
        throw std::runtime_error("injected fault at step " + std::to_string(st.step));
      if (env.fault_kind == "valnan" && st.step >= env.fault_step && rank == env.fault_rank) poison_validation = true;
      const double loss_value = loss.item<double>();
      mark(Phase::kForward);
      // One tiny all-reduce per step: the sum of every rank's loss (for the log) and whether any rank's is
      // non-finite, so all ranks stop together.
      const bool bad = !std::isfinite(loss_value);
      auto loss_sync = torch::tensor({bad ? 0.0 : loss_value, bad ? 1.0 : 0.0}, torch::kDouble);
      world.all_reduce_sum(loss_sync);
      if (loss_sync[1].item<double>() > 0) {
        if (bad) spdlog::error("non-finite loss ({}) at step {} on rank {} (tensor: loss)", loss_value, st.step, rank);
        throw std::runtime_error("non-finite loss at step " + std::to_string(st.step) +
                                 "; training stopped, the last good checkpoint is kept");
      }
      mark(Phase::kComm);
      loss.backward();
      mark(Phase::kBackward);
      sync.finish();
      mark(Phase::kComm);
      if (cfg.train.grad_clip > 0) {
        const double norm = torch::nn::utils::clip_grad_norm_(model->parameters(), cfg.train.grad_clip);
        if (!std::isfinite(norm)) {
          throw std::runtime_error("non-finite gradient at step " + std::to_string(st.step) + " on rank " +
                                   std::to_string(rank) + " (" + first_non_finite(*model) + ")");
        }
      }
      optim.step();
      mark(Phase::kOptim);
      ++st.step;
      ++st.next_batch;
      interval_loss += loss_sync[0].item<double>() / double(world_size);  // the step's mean loss
      ++interval_steps;
      ++timed_interval_steps;
      interval_images += x.size(0) * world_size;

      if (st.step % cfg.log.interval == 0 || st.step == total_steps) {
        const double mean_loss = interval_loss / double(interval_steps);
        // Training throughput from the step phases only: validation, checkpoints and this logging excluded.
        const double secs = timer.total_ms() / 1e3;
        const double ips = secs > 0 ? double(interval_images) / secs : 0;
        if (first_interval_done) {
          images_after_first += double(interval_images);
          seconds_after_first += secs;
          summary.data_ms += timer.ms(Phase::kData);
          summary.forward_ms += timer.ms(Phase::kForward);
          summary.backward_ms += timer.ms(Phase::kBackward);
          summary.exposed_comm_ms += timer.ms(Phase::kComm);
          summary.optimizer_ms += timer.ms(Phase::kOptim);
          summary.timed_steps += timed_interval_steps;
          summary.cpu_ms += double(std::clock() - cpu_at_log) * 1e3 / CLOCKS_PER_SEC;
        }
        if (!first_interval_done) comm_at_timing_start = sync.total();
        cpu_at_log = std::clock();
        first_interval_done = true;
        const double per = timed_interval_steps > 0 ? 1.0 / double(timed_interval_steps) : 0.0;
        // SyncBatchNorm's collectives run inside forward and backward; they are shown apart, as bn-sync, and
        // taken out of fwd and bwd (TrainSummary's forward/backward times still include them).
        const BatchNormSyncTime& bn_time = model->batch_norm_groups().time;
        const double bn_forward_ms = bn_time.forward_seconds * 1e3 * per;
        const double bn_backward_ms = bn_time.backward_seconds * 1e3 * per;
        const double forward_ms = timer.ms(Phase::kForward) * per - bn_forward_ms;
        const double backward_ms = timer.ms(Phase::kBackward) * per - bn_backward_ms;
        const std::string bn_sync =
            bn_setup.synchronised ? fmt::format(" + bn-sync {:.1f}", bn_forward_ms + bn_backward_ms) : std::string();
        spdlog::info("step {}/{} epoch {} loss {:.4f} lr {:.3g} | {:.1f} img/s | step {:.1f} ms = data-wait {:.1f} + fwd "
                     "{:.1f} + bwd {:.1f}{} + exposed-comm {:.1f} + optim {:.1f}",
                     st.step, total_steps, st.epoch, mean_loss, lr, ips, timer.total_ms() * per,
                     timer.ms(Phase::kData) * per, forward_ms, backward_ms, bn_sync,
                     timer.ms(Phase::kComm) * per, timer.ms(Phase::kOptim) * per);
        metrics.write({{"step", st.step}, {"epoch", st.epoch}, {"loss", std::stod(fmt(mean_loss))}, {"lr", lr}});
        json timing_line = {{"step", st.step},
                            {"images_per_second", ips},
                            {"step_ms", timer.total_ms() * per},
                            {"data_wait_ms", timer.ms(Phase::kData) * per},
                            {"forward_ms", forward_ms},
                            {"backward_ms", backward_ms},
                            {"exposed_comm_ms", timer.ms(Phase::kComm) * per},
                            {"optimizer_ms", timer.ms(Phase::kOptim) * per}};
        if (bn_setup.synchronised) timing_line["bn_sync_ms"] = bn_forward_ms + bn_backward_ms;
        timing.write(timing_line);
        timer.reset();
        model->batch_norm_groups().time = BatchNormSyncTime{};
        interval_loss = 0;
        interval_steps = interval_images = timed_interval_steps = 0;
      }
      if (cfg.train.checkpoint_every > 0 && st.step % cfg.train.checkpoint_every == 0) checkpoint(last);
      if (env.stop_after_steps > 0 && st.step >= env.stop_after_steps) {
        spdlog::info("stopping after {} steps as asked", st.step);
        stop_now = true;
        break;
      }
      timer.start();  // logging and checkpoint time is charged to no phase
    }
    if (stop_now) break;
    if (st.next_batch < per_epoch && st.step >= total_steps) break;  // max_steps ended mid-epoch
    ++st.epoch;
    st.next_batch = 0;
    ++summary.epochs_completed;
    comm::average_buffers(tensors, *model);
    if (val_split) {
      Validation v;
      scoring.poison = poison_validation;
      const double seconds = timed([&] { v = validate(model, val_split, world, device, scoring, st.step); });
      summary.validation_seconds += seconds;
      json per = json::object();
      for (int c = 0; c < data::kNumClasses; ++c) {
        const auto& a = v.auroc.per_class[static_cast<size_t>(c)];
        per[data::kClassNames[c]] = a ? json(std::stod(fmt(*a))) : json(nullptr);
      }
      const json macro = v.auroc.macro ? json(std::stod(fmt(*v.auroc.macro))) : json(nullptr);
      metrics.write({{"step", st.step},
                     {"epoch", st.epoch},
                     {"val_macro_auroc", macro},
                     {"val_macro_classes", v.auroc.defined},
                     {"val_auroc", per}});
      timing.write({{"step", st.step}, {"validation_seconds", seconds}});
      spdlog::info("epoch {} validation macro AUROC {} on {} images in {:.1f} s", st.epoch, macro_text(v.auroc),
                   v.images, seconds);
      summary.last_val_macro = v.auroc.macro;
      summary.last_val_auroc = v.auroc.per_class;
      summary.last_val_classes = v.auroc.defined;
      if (v.auroc.macro && (!st.best_auroc || *v.auroc.macro > *st.best_auroc)) {
        st.best_auroc = v.auroc.macro;
        st.interval_loss = interval_loss;
        st.interval_steps = interval_steps;
        if (rank == 0) save_checkpoint((ckpt_dir / "best.pt").string(), *model, optim, st, /*keep_previous=*/false);
        spdlog::info("best.pt: epoch {} is the best so far by validation macro AUROC {}", st.epoch,
                     macro_text(v.auroc));
      } else if (!v.auroc.macro) {
        spdlog::warn("best.pt not updated at epoch {}: no validation class has both positives and negatives", st.epoch);
      }
    }
    checkpoint(last);
  }
  if (!stop_now && st.next_batch > 0) checkpoint(last);  // max_steps ended mid-epoch
  if (rank == 0 && !stop_now) export_torchvision_weights(model, (ckpt_dir / "torchvision_resnet.pt").string());
  world.barrier();
  if (stop_now) comm::average_buffers(tensors, *model);  // every rank stops at the same step
  summary.state_digest = module_digest(*model);
  spdlog::info("rank {} state digest {} after {} steps", rank, summary.state_digest, st.step);
  if (summary.timed_steps > 0) {
    const double n = double(summary.timed_steps);
    summary.data_ms /= n;
    summary.forward_ms /= n;
    summary.backward_ms /= n;
    summary.exposed_comm_ms /= n;
    summary.optimizer_ms /= n;
    summary.comm_in_flight_ms = (sync.total().comm_seconds - comm_at_timing_start.comm_seconds) * 1e3 / n;
    summary.comm_bytes_per_step = double(sync.total().bytes - comm_at_timing_start.bytes) / n;
    summary.cpu_ms /= n;
  }
  summary.steps = st.step;
  summary.best_val_auroc = st.best_auroc;
  summary.images_per_second = seconds_after_first > 0 ? images_after_first / seconds_after_first : 0;
  return summary;
}

}  // namespace cxr::trainer
