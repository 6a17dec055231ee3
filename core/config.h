// The one typed run configuration. Every field has a default; YAML files and `--set a.b=value`
// overrides go through the same parser; an unknown key is an error naming the nearest valid key.
// Adding a field = adding a member with its default and one line in for_each_field().
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace cxr {

struct DataConfig {
  std::string pack;                  // pack directory (manifest.json + shards)
  std::string train_split = "train";
  std::string val_split = "val";
  int image_size = 0;                // network input side in pixels; 0 = the pack's size
  double crop_fraction = 1.0;        // center crop (fraction of the side) before resizing
  double mean = 0.449;               // normalisation on [0,1] pixels: (x - mean) / std; ImageNet's
  double std = 0.226;                // RGB statistics averaged to one channel, the usual choice
  std::string augment = "none";      // none | light (small random scale/shift/brightness)
  std::string verify = "sha256";     // sha256: before training, the ranks hash the shards of the splits
                                     // they read against manifest.json (each a share); none: skip it
                                     // (every chunk's checksum is still verified when it is read)
};

struct LoaderConfig {
  int workers = 2;                   // batch-assembly threads per rank
  int prefetch = 4;                  // batches queued ahead (bounds memory)
  std::string tail = "drop";         // training sampler: drop | pad (see data/sampler.h)
};

struct ModelConfig {
  int depth = 50;                    // ResNet-18/34/50
  double width = 1.0;                // channel multiplier (1 = torchvision's ResNet)
  int in_channels = 1;               // 1 (grey) or 3 (grey replicated, for ImageNet-shaped models)
  bool zero_init_residual = false;   // last BN of each block starts at 0
  std::string norm = "batch";        // batch | none (no BatchNorm: N ranks x B/N == 1 rank x B; tests)
  // BatchNorm statistics in training over fixed groups of bn_group consecutive images of the global batch
  // (the rank r holds images [r*b, (r+1)*b) of it, b = global_batch / ranks), so the model trained is the
  // same at every rank count that fits. 0: over each rank's b images, so the model changes with the rank
  // count (torchvision's BatchNorm per process; the default). G dividing b: "ghost" batches, b/G groups
  // per rank, no communication. G a multiple of b: SyncBatchNorm, statistics all-reduced over the G/b
  // ranks of each group (G = global_batch: over the whole batch, as 1 rank x global_batch; its cost is
  // train.log's bn-sync). Must divide train.global_batch; the ranks must fit (b % G == 0 or G % b == 0).
  // Running statistics: per-rank updates from the mean of the group statistics, averaged over ranks at
  // every checkpoint and evaluation, which makes them independent of the rank count too. Eval-mode and the
  // exported model are plain BatchNorm.
  int bn_group = 0;
};

struct TrainConfig {
  int global_batch = 32;             // summed over ranks; per-rank batch = global_batch / world size
  int epochs = 1;
  int64_t max_steps = 0;             // stop after this many optimiser steps (0 = run all epochs)
  double lr = 1e-3;                  // Adam; the reference study used a fixed rate
  double weight_decay = 0.0;
  std::string schedule = "constant"; // constant | cosine (after warmup)
  int64_t warmup_steps = 0;
  std::string pos_weight = "none";   // none | balanced (negatives/positives per class, from train)
  double grad_clip = 0.0;            // max global L2 norm; 0 = off
  std::string precision = "fp32";    // fp32 | bf16 (autocast; CUDA only)
  bool channels_last = true;         // NHWC activations and conv weights: ResNet-50 steps ~12 % faster on CPU
                                     // (oneDNN), the layout tensor cores want on GPU; numerically the same model
  double bucket_mb = 25.0;           // gradient all-reduce bucket size
  std::string backend = "auto";      // auto | mpi | nccl (auto: NCCL for CUDA, MPI otherwise; mpi on CUDA
                                     // stages every tensor through host memory)
  double collective_timeout_s = 600; // longest a rank waits for one NCCL collective before it aborts the
                                     // communicator and ends the job (a dead or stuck peer)
  std::string device = "auto";       // auto | cpu | cuda
  int threads = 0;                   // torch CPU threads per rank; 0 = cores / ranks on the node
  int64_t checkpoint_every = 0;      // steps between checkpoints (0 = once per epoch only)
  bool evaluate = true;              // validation macro AUROC after each epoch (picks best.pt)
};

struct EvalConfig {
  int batch_size = 32;               // images per rank per inference batch, whatever the number of ranks, so
                                     // an image's scores do not depend on it (validation and evaluate)
  std::string split = "test";        // the split `evaluate` scores
  std::string threshold_split = "val";  // where operating points are chosen
  double target_sensitivity = 0;     // operating point: 0 = Youden's J, else the highest threshold reaching it
  int bootstrap = 2000;              // patient-level bootstrap resamples
  int threads = 0;                   // statistics threads; 0 = one per core
};

// `cxrtrain study`: the stages after training and the phantom a study makes when data.pack does not exist yet.
// None of these keys changes a trained model (a resumed training ignores them).
struct StudySynthConfig {
  int64_t n = 6000;                  // images (when data.pack has no manifest.json, `study` synthesizes it)
  int size = 256;                    // image side in pixels
  int64_t seed = 0;                  // the phantom's seed (not the training seed)
  double label_noise = 1.0;          // text-mining label noise, x each class's documented rate (synth --label-noise)
  std::string shortcut;              // planted markers CLASS:P[:PLACE], comma-separated ("" = none)
  std::string findings = "nih";      // nih | independent (synth --findings)
};

struct StudyConfig {
  int seeds = 1;                     // models trained with seeds seed, seed+1, ...; --seeds overrides
  std::string stages = "synth,train,evaluate,gradcam,robustness,report";  // which stages run, in this order
  StudySynthConfig synth;
  int gradcam_per_class = 100;       // images per class of the Grad-CAM pass
  int64_t gradcam_counterfactual_images = 400;  // films of the causal marker tests; 0 = the whole split
  int64_t gradcam_lesion_images = 24;           // films per class of the lesion-removal test
  int gradcam_deletion_images = 4;   // true positives per class for the deletion curves
  int64_t robustness_attack_images = 400;  // images of the FGSM/PGD probes, spread over the split; 0 = all
  // Extra explicit-parameter shifts of the robustness stage, KIND=PARAMETER, comma-separated ("" = none). The
  // default adds contrast +5 % to severity 1's -5 %: the small-shift control that should change no class.
  std::string robustness_extra = "contrast=1.05";
};

struct LogConfig {
  int interval = 20;                 // steps between log lines
  bool all_ranks = false;            // every rank logs info, not only rank 0
};

struct Config {
  int64_t seed = 0;
  std::string run_dir = "runs/default";
  DataConfig data;
  LoaderConfig loader;
  ModelConfig model;
  TrainConfig train;
  EvalConfig eval;
  StudyConfig study;
  LogConfig log;
};

// Applies a YAML document (file contents) on top of `config`. `origin` names it in errors.
void apply_yaml(Config& config, const std::string& yaml_text, const std::string& origin);
// Applies "a.b=value" overrides in order.
void apply_overrides(Config& config, const std::vector<std::string>& assignments);
// Loads `path` (may be empty: defaults only), applies overrides, validates.
Config load_config(const std::string& path, const std::vector<std::string>& overrides);
// Checks ranges and enumerations; throws UserError naming the key.
void validate(const Config& config);
// The fully resolved configuration as YAML (what rank 0 saves in the run directory).
std::string to_yaml(const Config& config);
// Every valid dotted key, in declaration order.
std::vector<std::string> config_keys();
// (key, value as to_yaml writes it) for every key, in declaration order: equal texts <=> equal values.
std::vector<std::pair<std::string, std::string>> config_values(const Config& config);
// The scalars of a YAML document (as to_yaml writes) by dotted key; UserError naming `origin` if malformed.
std::map<std::string, std::string> yaml_values(const std::string& yaml_text, const std::string& origin);

}  // namespace cxr
