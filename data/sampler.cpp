// Distributed sampler (see sampler.h): seeded Fisher-Yates permutations cut into equal per-rank
// batches, with the tail of each epoch dropped or padded.
#include "data/sampler.h"

#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

namespace cxr::data {

EpochPlan::EpochPlan(const SamplerOptions& options, int64_t epoch, std::vector<int64_t> permutation,
                     int64_t batches)
    : options_(options), epoch_(epoch), permutation_(std::move(permutation)), batches_(batches) {}

void EpochPlan::batch(int64_t k, std::vector<int64_t>& indices, std::vector<uint8_t>& valid) const {
  if (k < 0 || k >= batches_) {
    throw std::out_of_range("batch " + std::to_string(k) + " outside epoch of " + std::to_string(batches_) +
                            " batches");
  }
  const int64_t b = options_.batch_per_rank;
  const int64_t n = options_.dataset_size;
  const int64_t first = k * b * options_.world_size + options_.rank * b;
  indices.resize(static_cast<size_t>(b));
  valid.resize(static_cast<size_t>(b));
  for (int64_t i = 0; i < b; ++i) {
    const int64_t pos = first + i;  // < n always for Drop; may pass n (several times if n < G) for Pad
    indices[static_cast<size_t>(i)] = permutation_[static_cast<size_t>(pos % n)];
    valid[static_cast<size_t>(i)] = pos < n ? 1 : 0;
  }
}

DistributedSampler::DistributedSampler(const SamplerOptions& options) : options_(options) {
  if (options.dataset_size < 0) throw std::invalid_argument("sampler: dataset_size < 0");
  if (options.world_size < 1) throw std::invalid_argument("sampler: world_size < 1");
  if (options.rank < 0 || options.rank >= options.world_size) {
    throw std::invalid_argument("sampler: rank " + std::to_string(options.rank) + " outside world of " +
                                std::to_string(options.world_size));
  }
  if (options.batch_per_rank < 1) throw std::invalid_argument("sampler: batch_per_rank < 1");
}

int64_t DistributedSampler::batches_per_epoch() const {
  const int64_t n = options_.dataset_size, g = global_batch();
  if (n == 0) return 0;
  return options_.tail == TailPolicy::Drop ? n / g : (n + g - 1) / g;
}

uint64_t DistributedSampler::epoch_seed(uint64_t seed, int64_t epoch) {
  return mix64(mix64(seed) ^ static_cast<uint64_t>(epoch));
}

std::vector<int64_t> DistributedSampler::permutation(int64_t epoch) const {
  std::vector<int64_t> p(static_cast<size_t>(options_.dataset_size));
  std::iota(p.begin(), p.end(), int64_t{0});
  if (!options_.shuffle) return p;
  deterministic_shuffle(p, epoch_seed(options_.seed, epoch));
  return p;
}

EpochPlan DistributedSampler::plan(int64_t epoch) const {
  return EpochPlan(options_, epoch, permutation(epoch), batches_per_epoch());
}

void DistributedSampler::batch(int64_t epoch, int64_t k, std::vector<int64_t>& indices,
                               std::vector<uint8_t>& valid) const {
  plan(epoch).batch(k, indices, valid);
}

}  // namespace cxr::data
