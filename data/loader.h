// Prefetching batch loader: worker threads read pack images, preprocess them and assemble whole
// batches in sampler order while the trainer computes. At most `prefetch` batches are alive inside
// the loader at any time, whatever the size of the data; a worker's exception reaches the consumer
// at the batch it belongs to. Batches are CPU tensors; the trainer moves them to its device.
#pragma once

#include <torch/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "data/pack_reader.h"
#include "data/preprocess.h"
#include "data/sampler.h"

namespace cxr::data {

struct LoaderOptions {
  PreprocessOptions preprocess;    // crop, resize to the model side, normalise, augment
  int workers = 4;                 // threads; 0 = build each batch on the caller's thread in next()
  int prefetch = 4;                // most batches built ahead of the consumer (>= 1)
  uint64_t seed = 0;               // augmentation seed (the sampler has its own)
  // Split rows the sampler draws from: sampler index i reads row rows[i]. Empty = every row, i.e.
  // the sampler's dataset_size must equal the split size. Lets evaluation or a benchmark use a subset.
  std::vector<int64_t> rows;
  // Applied to each raw pack image (uint8 [S,S], in place) before preprocessing, with its split row: the
  // robustness probes' controlled shifts and phantom re-renderings. Called from the worker threads at
  // once, so it must be thread-safe and a pure function of (row, image) for results not to depend on
  // threads or ranks. Empty = none.
  std::function<void(int64_t row, uint8_t* image, int size)> raw_transform;
};

struct Batch {
  torch::Tensor images;   // [B,1,T,T] float32, normalised
  torch::Tensor labels;   // [B,14] float32, 0/1 in class order
  torch::Tensor index;    // [B] int64, split rows (padded positions repeat a real row)
  torch::Tensor valid;    // [B] bool, false for Pad duplicates that evaluation must ignore
  int64_t epoch = 0;
  int64_t step_in_epoch = 0;
};

struct LoaderStats {
  int64_t batches_produced = 0;    // batches built and queued (restarts discard unfinished ones)
  int64_t batches_consumed = 0;    // batches returned by next()
  int64_t images_produced = 0;
  int64_t peak_queued = 0;         // most batches alive in the loader at once (built + being built)
  double wait_ms = 0.0;            // time the consumer spent blocked in next(): the "data-wait"
};

class Loader {
 public:
  // `sampler` must index `options.rows` (or the whole split when rows is empty). Starts the worker
  // threads, which idle until start_epoch(). Sets OpenCV to one thread: parallelism comes from the
  // workers, and nested pools would oversubscribe the cores the trainer needs.
  Loader(std::shared_ptr<const PackSplit> split, const DistributedSampler& sampler, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Begins (or restarts) `epoch` at batch `first_batch`, so a resumed run continues mid-epoch with
  // exactly the batches it would have seen. Work for a previous epoch is cancelled and discarded.
  // Throws UserError when the sampler yields no batches (empty split, or fewer rows than one global
  // batch with TailPolicy::Drop), std::out_of_range for first_batch outside [0, batches_per_epoch()].
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // The next batch of the epoch in sampler order, or nullopt at its end. Rethrows the exception of a
  // worker that failed on this batch (again on every call until the next start_epoch).
  std::optional<Batch> next();

  int64_t batches_per_epoch() const { return sampler_.batches_per_epoch(); }
  int image_size() const { return preprocess_.output_size(); }
  const DistributedSampler& sampler() const { return sampler_; }
  const PackSplit& split() const { return *split_; }
  LoaderStats stats() const;

 private:
  // Fills `out` with batch k; false when cancelled by a newer generation.
  bool build(const EpochPlan& plan, int64_t k, uint64_t generation, Batch& out);
  void worker_loop();
  bool can_claim() const;  // mutex_ held

  std::shared_ptr<const PackSplit> split_;
  DistributedSampler sampler_;
  LoaderOptions options_;
  Preprocessor preprocess_;

  mutable std::mutex mutex_;
  std::condition_variable work_cv_;   // workers: a batch may be claimed, or stop
  std::condition_variable ready_cv_;  // consumer: the awaited batch (or its error) arrived
  std::condition_variable idle_cv_;   // start_epoch: no batch is being built
  // Bumped by start_epoch and the destructor; a build whose generation is stale stops early and
  // its result is dropped. Atomic so builds can poll it without the mutex.
  std::atomic<uint64_t> generation_{0};
  bool stop_ = false;
  std::shared_ptr<const EpochPlan> plan_;
  int64_t end_ = 0;            // batches in the epoch
  int64_t next_claim_ = 0;     // next batch a worker will build
  int64_t next_consume_ = 0;   // next batch next() returns
  int64_t building_ = 0;
  std::map<int64_t, Batch> ready_;     // reorder buffer: built batches by step
  std::exception_ptr error_;           // first failure of this epoch ...
  int64_t error_batch_ = 0;            // ... and the batch it belongs to (the lowest failing one)
  LoaderStats stats_;
  std::vector<std::thread> workers_;
};

}  // namespace cxr::data
