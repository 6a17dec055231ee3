// DistributedSampler: which split rows each rank reads in each step of an epoch, and the portable
// splitmix64 generator behind it. Every rank gets the same number of batches per epoch (the rule that
// keeps collectives in lockstep) and the same seed + world size gives the same batches on any platform.
// Torch-free.
#pragma once

#include <cstdint>
#include <vector>

#include "core/random.h"

namespace cxr::data {

// The portable generator lives in core/random.h; the data code uses it by these names.
using cxr::mix64;
using cxr::SplitMix64;

// How an epoch's permutation is cut into global batches of G = world_size * batch_per_rank rows.
//   Drop: floor(n / G) batches; the last n mod G rows of the permutation are not read this epoch
//         (they differ from epoch to epoch, so every row is seen over epochs). For training.
//   Pad:  ceil(n / G) batches; the permutation is extended by wrapping to its start, and positions
//         past n are returned with valid = 0 so evaluation can ignore the duplicates. For evaluation.
enum class TailPolicy { Drop, Pad };

struct SamplerOptions {
  int64_t dataset_size = 0;    // n: rows of the split (or subset) being sampled
  int world_size = 1;
  int rank = 0;
  int64_t batch_per_rank = 1;  // b
  uint64_t seed = 0;
  bool shuffle = true;         // false: the permutation is the identity (evaluation order)
  TailPolicy tail = TailPolicy::Drop;
};

// One epoch's permutation, cut into this rank's batches. Immutable, so loader threads share one.
class EpochPlan {
 public:
  EpochPlan(const SamplerOptions& options, int64_t epoch, std::vector<int64_t> permutation, int64_t batches);

  int64_t epoch() const { return epoch_; }
  int64_t batches() const { return batches_; }
  const std::vector<int64_t>& permutation() const { return permutation_; }  // P, size n

  // This rank's part of global batch k (0 <= k < batches()): positions [kG + r*b, kG + (r+1)*b) of P
  // (wrapped for Pad). Both vectors are resized to b; valid[i] = 0 marks a padded duplicate.
  void batch(int64_t k, std::vector<int64_t>& indices, std::vector<uint8_t>& valid) const;

 private:
  SamplerOptions options_;
  int64_t epoch_;
  std::vector<int64_t> permutation_;
  int64_t batches_;
};

class DistributedSampler {
 public:
  // Throws std::invalid_argument for n < 0, world_size < 1, rank outside [0, world_size) or b < 1.
  // n == 0, or n < G with Drop, is accepted and gives 0 batches; the consumer reports it.
  explicit DistributedSampler(const SamplerOptions& options);

  const SamplerOptions& options() const { return options_; }
  int64_t global_batch() const { return options_.batch_per_rank * options_.world_size; }
  // The same on every rank.
  int64_t batches_per_epoch() const;

  // Permutation of [0, n) for `epoch`: Fisher-Yates driven by SplitMix64(epoch_seed(seed, epoch)),
  // identity when shuffle is off. O(n).
  std::vector<int64_t> permutation(int64_t epoch) const;
  // The epoch's plan; build it once per epoch and read batches from it.
  EpochPlan plan(int64_t epoch) const;
  // Convenience for one batch (builds the permutation each call: O(n), prefer plan()).
  void batch(int64_t epoch, int64_t k, std::vector<int64_t>& indices, std::vector<uint8_t>& valid) const;

  // Generator state for an epoch: mix64(mix64(seed) ^ epoch). Hashing twice keeps (seed, epoch) and
  // (seed + 1, epoch - 1) unrelated, which a plain sum would not.
  static uint64_t epoch_seed(uint64_t seed, int64_t epoch);

 private:
  SamplerOptions options_;
};

}  // namespace cxr::data
