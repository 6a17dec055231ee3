// Bucketed gradient averaging for data-parallel training, overlapped with backward (the DDP/Horovod
// scheme). Parameters are grouped into ~25 MB buckets in reverse registration order; autograd hooks copy
// each gradient into its bucket and launch the bucket's non-blocking all-reduce as soon as the bucket is
// complete, always in bucket order, so every rank issues the same collectives in the same order.
#pragma once

#include <torch/nn/module.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "comm/communicator.h"

namespace cxr::comm {

// One bucket as laid out at construction: identical on every rank (checked).
struct BucketLayout {
  std::vector<size_t> params;     // indices into the constructor's parameter list, in bucket order
  at::ScalarType param_dtype;     // every parameter of a bucket has this dtype (and one device)
  at::ScalarType buffer_dtype;    // what is summed: float32 for float32/bfloat16/float16, float64 for float64
  int64_t numel = 0;              // elements in the bucket
  int64_t bytes = 0;              // numel * element size of buffer_dtype: the bytes all-reduced
};

// Timing of gradient communication. Per step (last_step()) or summed over steps (total()).
struct GradientSyncStats {
  int64_t steps = 0;
  int64_t buckets = 0;               // all-reduces issued
  int64_t bytes = 0;                 // bytes all-reduced
  int64_t launched_in_backward = 0;  // buckets launched from hooks (the rest were launched by finish())
  int64_t polls = 0;                 // progress polls of in-flight buckets made from hooks
  // Wall time from the first launch to the last completion the host saw: communication in flight.
  double comm_seconds = 0.0;
  // Wall time finish() spent launching and waiting: the part of comm_seconds backward did not hide.
  // With the NCCL backend the host never blocks, so this is host time only; GPU-side waiting shows
  // up in the next kernels instead.
  double exposed_seconds = 0.0;
};

class GradientSynchronizer {
 public:
  static constexpr int64_t kDefaultBucketBytes = 25 * 1024 * 1024;

  // `params` in registration order (module.parameters()). Those with requires_grad=false are frozen:
  // no bucket, no hook, their .grad() is never touched. Others must be distinct floating leaves
  // (float32, bfloat16, float16, float64); buckets never mix dtypes or devices. A parameter larger
  // than `bucket_bytes` gets a bucket of its own (so bucket_bytes=1 gives one parameter per bucket).
  // Collective: every rank must construct it with the same model; a different layout on any rank
  // throws std::runtime_error on every rank. `comm` must outlive this object. The layout is fixed here:
  // freezing or unfreezing a parameter later needs a new synchroniser.
  GradientSynchronizer(Communicator& comm, std::vector<at::Tensor> params,
                       int64_t bucket_bytes = kDefaultBucketBytes);
  ~GradientSynchronizer();  // removes the hooks; waits for buckets in flight
  GradientSynchronizer(const GradientSynchronizer&) = delete;
  GradientSynchronizer& operator=(const GradientSynchronizer&) = delete;

  // Call once after every backward() and before the optimiser step, on every rank. Launches the buckets
  // the hooks could not (see below), waits for all of them, and sets every trainable parameter's .grad()
  // to the average over ranks, as float accumulated and then cast to the parameter's dtype (.grad() is
  // created if undefined). A parameter that produced no gradient in this step on some rank (unused in its
  // forward) counts as zero there: its .grad() becomes the sum of the other ranks' gradients divided by
  // the world size, zeros if no rank used it. Gradient accumulation over several backward() calls
  // between two finish() calls is not supported: a second gradient for one parameter throws from the
  // hook, naming the parameter; finish() then still completes the buckets already in flight.
  void finish();

  // Buckets in flight are progressed from the hooks (MPI only advances non-blocking collectives inside
  // MPI calls). Hooks of CPU parameters run on the thread that called backward(), so with MPI that must
  // be the MPI thread (MPI_THREAD_FUNNELED); hooks of CUDA parameters run on autograd's device thread.

  const std::vector<BucketLayout>& bucket_layout() const { return layout_; }
  // Bucket indices in the order they were launched in the current/last step (always 0, 1, 2, ...).
  const std::vector<size_t>& launch_order() const { return launch_order_; }
  // Bucket indices in the order their last gradient arrived in the current/last step (any order).
  const std::vector<size_t>& ready_order() const { return ready_order_; }
  const GradientSyncStats& last_step() const { return last_; }
  const GradientSyncStats& total() const { return total_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Slot {
    at::Tensor param;
    size_t bucket = 0;
    int64_t offset = 0;  // into the bucket's buffer, in elements
    bool reported = false;
    unsigned hook = 0;
    bool hooked = false;  // hook registered (requires_grad may change later; the hook must still go)
  };
  // The slot's part of a bucket buffer, shaped (and strided) like its parameter.
  static at::Tensor slot_view(const at::Tensor& buffer, const Slot& slot);
  struct Bucket {
    at::Tensor buffer;  // flat [numel], buffer_dtype, on the parameters' device
    size_t pending = 0;  // parameters that have not reported in this step
    bool ready = false;
    std::unique_ptr<Work> work;
    bool done = false;
  };

  void on_gradient(size_t slot, const at::Tensor& grad);
  void mark_ready(size_t bucket);
  void launch_ready_buckets(bool from_hook);  // in bucket order, stopping at the first not ready
  void poll_in_flight();
  void note_done(Clock::time_point when);
  void begin_step();
  void verify_same_layout_everywhere();
  void reset_step();

  Communicator& comm_;
  std::vector<Slot> slots_;  // one per constructor parameter; frozen ones have no bucket
  std::vector<BucketLayout> layout_;
  std::vector<Bucket> buckets_;
  size_t next_launch_ = 0;  // buckets below this are launched
  std::vector<size_t> launch_order_;
  std::vector<size_t> ready_order_;
  bool any_launched_ = false;
  bool step_open_ = false;  // a gradient arrived or finish() began since the last finish()
  Clock::time_point first_launch_{};
  Clock::time_point last_done_{};
  GradientSyncStats last_;
  GradientSyncStats step_;
  GradientSyncStats total_;
  std::mutex mutex_;  // hooks of parameters on different devices run on different autograd threads
};

// Overwrites every parameter and buffer of `module` (recursively, in registration order) with `root`'s
// values: call once after building the model so every rank starts from the same weights and BN
// statistics. Collective; the module must have the same structure on every rank (checked, throws on
// every rank otherwise). Tensors are sent in coalesced chunks; dtypes the backend cannot carry
// (bfloat16, float16, bool, ...) travel as float32/int32/uint8 and are converted back exactly.
void broadcast_parameters_and_buffers(Communicator& comm, torch::nn::Module& module, int root = 0);

// Makes the buffers of `module` consistent before evaluation or a checkpoint: floating buffers
// (BatchNorm running_mean/running_var) become the average over ranks (running_var is the mean of the
// per-rank variances, not a pooled variance); integer buffers (num_batches_tracked) are broadcast
// from rank 0 instead, since they are counts, not statistics. Collective, like the above.
void average_buffers(Communicator& comm, torch::nn::Module& module);

}  // namespace cxr::comm
