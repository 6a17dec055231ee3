// Learnability probe: trains a TinyCnn on a pack's train split for a fixed wall-clock budget
// (single process, Adam, BCE-with-logits) and scores per-class AUROC on another split. Used to show
// that the phantom's classes differ in difficulty by design, before the full trainer is involved.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cxr::trainer {

struct ProbeOptions {
  std::string pack;
  std::string train_split = "train";
  std::string eval_split = "test";
  int image_size = 0;         // input side; 0 = the pack's (otherwise the loader area-resizes)
  int batch = 64;
  double seconds = 60;        // training budget (wall clock)
  int64_t max_steps = 0;      // also stop after this many steps (0 = no limit); a step budget makes
                              // the result independent of machine speed, as tests need
  double lr = 3e-3;
  int width = 16;             // channels of the first block
  uint64_t seed = 0;
  int threads = 0;            // torch intra-op threads; 0 = leave as is
  int workers = 1;            // loader threads (1 keeps the batch order, so results, reproducible)
  bool progress = true;
};

struct ProbeResult {
  std::vector<std::optional<double>> auroc;  // per class, on eval_split
  std::optional<double> macro;
  int macro_classes = 0;  // how many of the 14 classes the macro averages
  int64_t steps = 0, images = 0;
  double train_seconds = 0, images_per_second = 0;
  std::string json;
};

ProbeResult run_probe(const ProbeOptions& options);

}  // namespace cxr::trainer
