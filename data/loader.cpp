// Prefetching loader (see loader.h). Workers claim batch numbers in order under one mutex, build
// outside it, and file results into a reorder buffer keyed by step; the consumer takes them in order.
// A worker may claim batch k only while k < next_consume_ + prefetch, which bounds memory.
#include "data/loader.h"

#include <opencv2/core.hpp>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>

#include "core/error.h"

namespace cxr::data {
namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Loader::Loader(std::shared_ptr<const PackSplit> split, const DistributedSampler& sampler, LoaderOptions options)
    : split_(std::move(split)),
      sampler_(sampler),
      options_(std::move(options)),
      preprocess_(split_ ? split_->image_size() : 1, options_.preprocess) {
  if (!split_) throw std::invalid_argument("Loader: null PackSplit");
  const int64_t n = options_.rows.empty() ? split_->size() : static_cast<int64_t>(options_.rows.size());
  if (sampler_.options().dataset_size != n) {
    throw std::invalid_argument("Loader: sampler covers " + std::to_string(sampler_.options().dataset_size) +
                                " rows but split '" + split_->name() + "' (or its row subset) has " +
                                std::to_string(n));
  }
  for (int64_t r : options_.rows) {
    if (r < 0 || r >= split_->size())
      throw std::out_of_range("Loader: subset row " + std::to_string(r) + " outside split '" + split_->name() + "'");
  }
  if (options_.workers < 0 || options_.prefetch < 1) {
    throw UserError("loader workers " + std::to_string(options_.workers) + " / prefetch " +
                        std::to_string(options_.prefetch) + " is invalid",
                    "use workers >= 0 (0 = load on the training thread) and prefetch >= 1");
  }
  cv::setNumThreads(1);
  workers_.reserve(static_cast<size_t>(options_.workers));
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    ++generation_;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void Loader::start_epoch(int64_t epoch, int64_t first_batch) {
  const int64_t batches = sampler_.batches_per_epoch();
  if (batches == 0) {
    const auto& so = sampler_.options();
    if (so.dataset_size == 0) {
      throw UserError("split '" + split_->name() + "' has no images to load",
                      "check the split name and the pack (`cxrtrain info <pack>`)");
    }
    throw UserError("split '" + split_->name() + "' has " + std::to_string(so.dataset_size) +
                        " images, fewer than one global batch of " + std::to_string(sampler_.global_batch()) +
                        " (" + std::to_string(so.world_size) + " ranks x " + std::to_string(so.batch_per_rank) +
                        "), so an epoch with tail=drop would be empty",
                    "lower the global batch size, or use a larger split");
  }
  if (first_batch < 0 || first_batch > batches) {
    throw std::out_of_range("start_epoch: first batch " + std::to_string(first_batch) + " outside [0, " +
                            std::to_string(batches) + "]");
  }
  // The permutation is O(n): build it before taking the lock the workers need.
  auto plan = std::make_shared<const EpochPlan>(sampler_.plan(epoch));
  std::unique_lock<std::mutex> lock(mutex_);
  ++generation_;
  idle_cv_.wait(lock, [this] { return building_ == 0; });  // stale builds notice the bump and stop early
  ready_.clear();
  error_ = nullptr;
  error_batch_ = 0;
  plan_ = std::move(plan);
  end_ = batches;
  next_claim_ = next_consume_ = first_batch;
  lock.unlock();
  work_cv_.notify_all();
}

bool Loader::can_claim() const {
  return plan_ && !error_ && next_claim_ < end_ && next_claim_ < next_consume_ + options_.prefetch;
}

void Loader::worker_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_cv_.wait(lock, [this] { return stop_ || can_claim(); });
    if (stop_) return;
    const int64_t k = next_claim_++;
    const uint64_t generation = generation_;
    std::shared_ptr<const EpochPlan> plan = plan_;
    ++building_;
    stats_.peak_queued = std::max(stats_.peak_queued, static_cast<int64_t>(ready_.size()) + building_);
    lock.unlock();

    Batch batch;
    bool built = false;
    std::exception_ptr error;
    try {
      built = build(*plan, k, generation, batch);
    } catch (...) {
      error = std::current_exception();
    }

    lock.lock();
    --building_;
    if (generation == generation_) {
      if (error) {
        if (!error_ || k < error_batch_) {
          error_ = error;
          error_batch_ = k;
        }
      } else if (built) {
        stats_.images_produced += batch.index.size(0);
        ++stats_.batches_produced;
        ready_.emplace(k, std::move(batch));
      }
      ready_cv_.notify_all();
    }
    if (building_ == 0) idle_cv_.notify_all();
    // A stale batch is released here, under the lock; it is rare (restarts only) and cheap.
    batch = Batch{};
  }
}

std::optional<Batch> Loader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!plan_) throw std::logic_error("Loader::next() called before start_epoch()");
  if (next_consume_ >= end_) return std::nullopt;
  const auto t0 = std::chrono::steady_clock::now();

  if (workers_.empty()) {
    // Synchronous mode: the whole build is time the trainer waits for data.
    const int64_t k = next_consume_;
    Batch batch;
    build(*plan_, k, generation_, batch);
    ++next_consume_;
    ++stats_.batches_produced;
    ++stats_.batches_consumed;
    stats_.images_produced += batch.index.size(0);
    stats_.peak_queued = std::max<int64_t>(stats_.peak_queued, 1);
    stats_.wait_ms += ms_since(t0);
    return batch;
  }

  // Every batch below error_batch_ was claimed before it and will arrive (or fail with a lower
  // number), so this wait always ends.
  ready_cv_.wait(lock, [this] {
    return ready_.count(next_consume_) != 0 || (error_ && error_batch_ <= next_consume_);
  });
  stats_.wait_ms += ms_since(t0);
  auto node = ready_.extract(next_consume_);
  if (node.empty()) std::rethrow_exception(error_);
  ++next_consume_;
  ++stats_.batches_consumed;
  lock.unlock();
  work_cv_.notify_all();
  return std::move(node.mapped());
}

bool Loader::build(const EpochPlan& plan, int64_t k, uint64_t generation, Batch& out) {
  thread_local std::vector<int64_t> indices;
  thread_local std::vector<uint8_t> valid;
  thread_local std::vector<uint8_t> raw;
  plan.batch(k, indices, valid);
  const auto b = static_cast<int64_t>(indices.size());
  const int64_t t = preprocess_.output_size();
  const auto s = static_cast<size_t>(split_->image_size());
  raw.resize(s * s);

  out.images = torch::empty({b, 1, t, t}, torch::kFloat32);
  out.labels = torch::empty({b, kNumClasses}, torch::kFloat32);
  out.index = torch::empty({b}, torch::kInt64);
  out.valid = torch::empty({b}, torch::kBool);
  out.epoch = plan.epoch();
  out.step_in_epoch = k;
  float* images = out.images.data_ptr<float>();
  float* labels = out.labels.data_ptr<float>();
  int64_t* index = out.index.data_ptr<int64_t>();
  bool* ok = out.valid.data_ptr<bool>();
  const auto& meta = split_->meta();
  for (int64_t i = 0; i < b; ++i) {
    if (generation_.load(std::memory_order_relaxed) != generation) return false;  // cancelled
    const int64_t sampled = indices[static_cast<size_t>(i)];
    const int64_t row = options_.rows.empty() ? sampled : options_.rows[static_cast<size_t>(sampled)];
    split_->read_image(row, raw.data());
    if (options_.raw_transform) options_.raw_transform(row, raw.data(), static_cast<int>(s));
    const uint64_t seed = options_.preprocess.augment ? augment_seed(options_.seed, plan.epoch(), row) : 0;
    preprocess_.run(raw.data(), images + i * t * t, seed);
    const auto& l = meta[static_cast<size_t>(row)].labels;
    for (int c = 0; c < kNumClasses; ++c) labels[i * kNumClasses + c] = static_cast<float>(l[static_cast<size_t>(c)]);
    index[i] = row;
    ok[i] = valid[static_cast<size_t>(i)] != 0;
  }
  return true;
}

LoaderStats Loader::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace cxr::data
