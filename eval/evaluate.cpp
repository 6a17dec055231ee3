// `cxrtrain evaluate` (see evaluate.h).
#include "eval/evaluate.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <unordered_map>

#include "comm/communicator.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/run_dir.h"
#include "data/classes.h"
#include "data/manifest.h"
#include "data/pack_reader.h"
#include "data/preprocess.h"
#include "eval/predictions.h"
#include "trainer/checkpoint.h"
#include "trainer/inference.h"
#include "trainer/model_setup.h"
#include "trainer/shard_verify.h"

namespace cxr::eval {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

constexpr int K = data::kNumClasses;

EvaluationOptions stats_options(const Config& cfg, int64_t images_in_split) {
  EvaluationOptions o;
  o.split = cfg.eval.split;
  o.threshold_split = cfg.eval.threshold_split;
  o.resamples = cfg.eval.bootstrap;
  o.seed = static_cast<uint64_t>(cfg.seed);
  o.threads = cfg.eval.threads;
  if (cfg.eval.target_sensitivity > 0) o.target_sensitivity = cfg.eval.target_sensitivity;
  o.images_in_split = images_in_split;
  return o;
}

// Rows of a predictions file matched to the split's rows by image_index: every row must name an image of
// the split; every image of the split must have a row unless allow_partial. Returns the split rows in file
// order and the probabilities in that order.
ScoredSplit match_rows(const PredictionRows& rows, const data::PackSplit& split, const std::string& file,
                       bool allow_partial, std::vector<int64_t>* split_rows = nullptr) {
  std::unordered_map<std::string, int64_t> row_of;
  for (int64_t r = 0; r < split.size(); ++r) row_of.emplace(split.meta()[static_cast<size_t>(r)].image_index, r);
  ScoredSplit out;
  out.has_expert_labels = split.has_expert_labels();
  for (int c = 0; c < K; ++c) out.not_evaluable[static_cast<size_t>(c)] = !split.manifest().class_evaluable(c);
  out.probability = rows.probability;
  std::vector<uint8_t> covered(static_cast<size_t>(split.size()), 0);
  for (size_t i = 0; i < rows.image_index.size(); ++i) {
    auto it = row_of.find(rows.image_index[i]);
    if (it == row_of.end()) {
      const std::string where = rows.line.empty() ? file : file + ":" + std::to_string(rows.line[i]);
      throw UserError(where + ": image '" + rows.image_index[i] + "' is not in split '" + split.name() + "'",
                      "score the split the pack has (cxrtrain info PACK lists its splits), or pass --split");
    }
    covered[static_cast<size_t>(it->second)] = 1;
    out.meta.push_back(split.meta()[static_cast<size_t>(it->second)]);
    if (split_rows) split_rows->push_back(it->second);
  }
  const auto missing = static_cast<int64_t>(std::count(covered.begin(), covered.end(), uint8_t{0}));
  if (missing > 0 && !allow_partial) {
    const auto first = std::find(covered.begin(), covered.end(), uint8_t{0}) - covered.begin();
    throw UserError(file + " has " + std::to_string(rows.image_index.size()) + " rows but split '" + split.name() +
                        "' has " + std::to_string(split.size()) + " images: " + std::to_string(missing) +
                        " are missing (the first: '" + split.meta()[static_cast<size_t>(first)].image_index + "')",
                    "score every image of the split, or pass --allow-partial (the report then says so)");
  }
  return out;
}

ScoredSplit scored_from_logits(const torch::Tensor& logits, const data::PackSplit& split) {
  ScoredSplit s;
  s.meta = split.meta();
  s.has_expert_labels = split.has_expert_labels();
  for (int c = 0; c < K; ++c) s.not_evaluable[static_cast<size_t>(c)] = !split.manifest().class_evaluable(c);
  const auto n = static_cast<size_t>(logits.size(0));
  const double* z = logits.data_ptr<double>();
  s.probability.resize(n * K);
  for (size_t i = 0; i < n * K; ++i) s.probability[i] = 1.0 / (1.0 + std::exp(-z[i]));
  return s;
}

PredictionRows rows_of(const ScoredSplit& s) {
  PredictionRows r;
  for (const auto& m : s.meta) r.image_index.push_back(m.image_index);
  r.probability = s.probability;
  return r;
}

std::string csv_of(const ScoredSplit& s) {
  std::vector<int32_t> patient;
  std::vector<uint8_t> labels;
  for (const auto& m : s.meta) {
    patient.push_back(m.patient_id);
    labels.insert(labels.end(), m.labels.begin(), m.labels.end());
  }
  return predictions_csv(rows_of(s), patient, labels);
}

// Another model's probabilities on exactly the evaluated images, in their order.
std::vector<double> aligned_other(const std::string& file, const ScoredSplit& evaluated) {
  const PredictionRows other = read_predictions(file);
  std::unordered_map<std::string, size_t> at;
  for (size_t i = 0; i < other.image_index.size(); ++i) at.emplace(other.image_index[i], i);
  std::vector<double> out;
  out.reserve(evaluated.meta.size() * K);
  for (const auto& m : evaluated.meta) {
    auto it = at.find(m.image_index);
    if (it == at.end())
      throw UserError(file + " has no row for image '" + m.image_index + "'",
                      "--compare needs the other model's predictions on the same images");
    out.insert(out.end(), other.probability.begin() + static_cast<std::ptrdiff_t>(it->second * K),
               other.probability.begin() + static_cast<std::ptrdiff_t>((it->second + 1) * K));
  }
  return out;
}

// metrics.json last: a folder with metrics.json holds a finished evaluation.
void write_outputs(const fs::path& dir, const ScoredSplit& evaluated, const std::string& split, const json& metrics) {
  fs::create_directories(dir);
  atomic_write_file(dir / "predictions.csv", csv_of(evaluated));
  atomic_write_file(dir / "curves.json", roc_curves(evaluated, split).dump() + "\n");
  atomic_write_file(dir / "metrics.json", metrics.dump(2) + "\n");
}

}  // namespace

json evaluate_run(const Config& cfg, comm::Communicator& world, int local_rank, const RunEvaluationOptions& o,
                  std::string* out_dir) {
  const auto t0 = std::chrono::steady_clock::now();
  bool fell_back = false;
  const std::string checkpoint = run_checkpoint(o.run_dir, o.checkpoint, &fell_back);
  if (fell_back) spdlog::info("{} has no best.pt (no validation picked one): evaluating last.pt", o.run_dir);

  // Data first, as in training: a bad pack stops every rank before anything is computed or written.
  bool thresholds = !cfg.eval.threshold_split.empty() && cfg.eval.threshold_split != cfg.eval.split;
  if (thresholds) {
    // A pack of another data set packed with --split-all test has an empty 'val': score it without operating
    // points (metrics.json gives each threshold as null with "no val split to choose it on") rather than stop.
    // A split the pack does not have at all still stops below (PackSplit names it).
    const data::Manifest manifest = data::read_manifest(cfg.data.pack);
    for (const auto& s : manifest.splits)
      if (s.name == cfg.eval.threshold_split && s.count == 0) {
        spdlog::warn("split '{}' (eval.threshold_split) of {} has no images: no operating points (thresholds, "
                     "sensitivity, specificity) are chosen; AUROCs are unaffected",
                     cfg.eval.threshold_split, cfg.data.pack);
        thresholds = false;
      }
  }
  std::vector<std::string> splits = {cfg.eval.split};
  if (thresholds) splits.push_back(cfg.eval.threshold_split);
  if (cfg.data.verify == "sha256") trainer::verify_shards(cfg.data.pack, splits, world);
  auto split = std::make_shared<const data::PackSplit>(cfg.data.pack, cfg.eval.split);
  std::shared_ptr<const data::PackSplit> threshold_split;
  if (thresholds) threshold_split = std::make_shared<const data::PackSplit>(cfg.data.pack, cfg.eval.threshold_split);

  const torch::Device device = trainer::pick_device(cfg, local_rank);
  trainer::ResNet model = trainer::build_model(cfg, device);
  const trainer::TrainState state = trainer::load_model_state(checkpoint, *model);
  const std::string pack_sha = data::manifest_sha256(cfg.data.pack);
  if (!state.pack_sha256.empty() && state.pack_sha256 != pack_sha)
    spdlog::warn("the checkpoint was trained on another pack (manifest sha256 {} vs {}): evaluating anyway",
                 state.pack_sha256.substr(0, 12), pack_sha.substr(0, 12));
  trainer::ScoringOptions so;
  so.preprocess = data::preprocess_options(cfg.data);
  so.batch_per_rank = cfg.eval.batch_size;
  so.workers = cfg.loader.workers;
  so.prefetch = cfg.loader.prefetch;
  so.bf16 = cfg.train.precision == "bf16";
  so.format = trainer::input_memory_format(cfg);
  spdlog::info("scoring split '{}' ({} images) with {} (step {}) on {} ranks", cfg.eval.split, split->size(),
               checkpoint, state.step, world.size());
  const torch::Tensor logits = trainer::score_split(model, split, world, device, so);
  torch::Tensor threshold_logits;
  if (threshold_split) threshold_logits = trainer::score_split(model, threshold_split, world, device, so);
  const double score_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (world.rank() != 0) return nullptr;

  const ScoredSplit evaluated = scored_from_logits(logits, *split);
  const ScoredSplit chosen_on = threshold_split ? scored_from_logits(threshold_logits, *threshold_split) : ScoredSplit{};
  std::vector<double> other;
  if (!o.compare.empty()) other = aligned_other(o.compare, evaluated);
  const auto t1 = std::chrono::steady_clock::now();
  json metrics = evaluate_split(evaluated, chosen_on, stats_options(cfg, split->size()), other, o.compare);
  const double stats_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  metrics["model"] = {{"run_dir", o.run_dir}, {"checkpoint", checkpoint}, {"step", state.step},
                      {"pack", cfg.data.pack}, {"pack_manifest_sha256", pack_sha}, {"ranks", world.size()}};
  metrics["seconds"] = {{"scoring", score_seconds}, {"statistics", stats_seconds}};
  const fs::path dir = fs::path(o.run_dir) / "eval" / cfg.eval.split;
  write_outputs(dir, evaluated, cfg.eval.split, metrics);
  if (threshold_split) {
    const fs::path tdir = fs::path(o.run_dir) / "eval" / cfg.eval.threshold_split;
    fs::create_directories(tdir);
    atomic_write_file(tdir / "predictions.csv", csv_of(chosen_on));
  }
  if (out_dir) *out_dir = dir.string();
  return metrics;
}

json evaluate_predictions_file(const PredictionsEvaluationOptions& o) {
  if (o.out_dir.empty()) throw UserError("--out is required with --predictions", "the folder to write metrics.json to");
  const data::PackSplit split(o.pack, o.stats.split);
  const PredictionRows rows = read_predictions(o.predictions);
  const ScoredSplit evaluated = match_rows(rows, split, o.predictions, o.allow_partial);
  ScoredSplit chosen_on;
  if (!o.threshold_predictions.empty()) {
    const data::PackSplit tsplit(o.pack, o.stats.threshold_split);
    chosen_on = match_rows(read_predictions(o.threshold_predictions), tsplit, o.threshold_predictions, true);
  }
  std::vector<double> other;
  if (!o.compare.empty()) other = aligned_other(o.compare, evaluated);
  EvaluationOptions stats = o.stats;
  stats.images_in_split = split.size();
  json metrics = evaluate_split(evaluated, chosen_on, stats, other, o.compare);
  metrics["model"] = {{"predictions", o.predictions}, {"pack", o.pack},
                      {"pack_manifest_sha256", data::manifest_sha256(o.pack)}};
  write_outputs(o.out_dir, evaluated, o.stats.split, metrics);
  return metrics;
}

}  // namespace cxr::eval
