// Bucketed, overlapped gradient averaging (see gradient_sync.h), and the model-state collectives that
// keep ranks consistent. Nothing here knows the backend: it sees only Communicator and Work, so the
// same code drives MPI_Iallreduce on CPU tensors and NCCL on its own stream for CUDA tensors.
#include "comm/gradient_sync.h"

#include <torch/torch.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <string>

namespace cxr::comm {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::string describe_param(size_t index, const at::Tensor& p) {
  std::ostringstream s;
  s << "parameter #" << index << " (shape " << p.sizes() << ", " << c10::toString(p.scalar_type()) << ")";
  return s.str();
}

at::ScalarType buffer_dtype_for(at::ScalarType param_dtype) {
  return param_dtype == at::kDouble ? at::kDouble : at::kFloat;
}

// FNV-1a over 64-bit words: a layout fingerprint that every rank computes the same way.
struct Fingerprint {
  uint64_t value = 1469598103934665603ULL;
  void add(int64_t word) {
    for (int byte = 0; byte < 8; ++byte) {
      value ^= static_cast<uint64_t>(word >> (8 * byte)) & 0xffU;
      value *= 1099511628211ULL;
    }
  }
};

// Gathers `fields` from every rank and throws the same message on every rank if any rank differs
// from rank 0. `describe(fields)` renders one rank's fields for the message.
template <typename Describe>
void require_same_on_every_rank(Communicator& comm, const std::vector<int64_t>& fields, const char* what,
                                const char* hint, Describe describe) {
  at::Tensor mine = torch::tensor(fields, torch::kInt64);
  at::Tensor all = comm.all_gather(mine);
  const int64_t* p = all.data_ptr<int64_t>();
  const size_t k = fields.size();
  std::vector<int64_t> first(p, p + k);
  for (int r = 1; r < comm.size(); ++r) {
    std::vector<int64_t> other(p + k * static_cast<size_t>(r), p + k * static_cast<size_t>(r + 1));
    if (other != first) {
      throw std::runtime_error(std::string(what) + ": rank " + std::to_string(r) + " has " + describe(other) +
                               " but rank 0 has " + describe(first) + " (seen on rank " +
                               std::to_string(comm.rank()) + "). HINT: " + hint);
    }
  }
}

// --- Coalesced transfers for broadcast_parameters_and_buffers / average_buffers ---------------------

// What a tensor travels as: the dtypes every backend carries (float32, float64, int64, int32, uint8).
at::ScalarType wire_dtype(at::ScalarType t) {
  switch (t) {
    case at::kFloat: case at::kDouble: case at::kLong: case at::kInt: case at::kByte:
      return t;
    case at::kBFloat16: case at::kHalf:
      return at::kFloat;  // exact: both widen losslessly to float32
    case at::kBool:
      return at::kByte;
    case at::kChar: case at::kShort:
      return at::kInt;
    default:
      throw std::invalid_argument("model state of dtype " + std::string(c10::toString(t)) +
                                  " cannot be communicated (floating, integer and bool tensors can)");
  }
}

constexpr int64_t kChunkBytes = 64LL * 1024 * 1024;

// Consecutive tensors of one wire dtype and device, flattened into one message of at most
// kChunkBytes (one tensor may exceed it alone).
struct Chunk {
  at::ScalarType wire;
  at::Device device;
  std::vector<at::Tensor> tensors;
  int64_t numel = 0;
};

std::vector<Chunk> make_chunks(const std::vector<at::Tensor>& tensors) {
  std::vector<Chunk> chunks;
  for (const at::Tensor& t : tensors) {
    at::ScalarType wire = wire_dtype(t.scalar_type());
    int64_t bytes = t.numel() * static_cast<int64_t>(c10::elementSize(wire));
    bool fits = !chunks.empty() && chunks.back().wire == wire && chunks.back().device == t.device() &&
                (chunks.back().numel * static_cast<int64_t>(c10::elementSize(wire)) + bytes <= kChunkBytes);
    if (!fits) chunks.push_back(Chunk{wire, t.device(), {}, 0});
    chunks.back().tensors.push_back(t);
    chunks.back().numel += t.numel();
  }
  return chunks;
}

at::Tensor flatten(const Chunk& chunk) {
  std::vector<at::Tensor> flat;
  flat.reserve(chunk.tensors.size());
  for (const at::Tensor& t : chunk.tensors) flat.push_back(t.detach().reshape({-1}).to(chunk.wire));
  if (flat.empty()) return torch::empty({0}, torch::TensorOptions().dtype(chunk.wire).device(chunk.device));
  return torch::cat(flat);
}

void unflatten(const Chunk& chunk, const at::Tensor& flat) {
  int64_t offset = 0;
  for (const at::Tensor& t : chunk.tensors) {
    at::Tensor target = t;  // shares storage: the copy lands in the module
    target.detach().copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

// Same number of tensors with the same shapes and dtypes on every rank, or a clear error everywhere.
void require_same_structure(Communicator& comm, const std::vector<at::Tensor>& tensors, const char* what) {
  Fingerprint fp;
  int64_t total = 0;
  for (const at::Tensor& t : tensors) {
    fp.add(static_cast<int64_t>(t.scalar_type()));
    fp.add(t.dim());
    for (int64_t d : t.sizes()) fp.add(d);
    total += t.numel();
  }
  std::vector<int64_t> fields = {static_cast<int64_t>(tensors.size()), total, static_cast<int64_t>(fp.value)};
  require_same_on_every_rank(comm, fields, what,
                             "every rank must build the same model (same architecture and options)",
                             [](const std::vector<int64_t>& f) {
                               std::ostringstream s;
                               s << f[0] << " tensors of " << f[1] << " elements (shape/dtype fingerprint "
                                 << std::hex << static_cast<uint64_t>(f[2]) << ")";
                               return s.str();
                             });
}

void broadcast_tensors(Communicator& comm, const std::vector<at::Tensor>& tensors, int root) {
  for (const Chunk& chunk : make_chunks(tensors)) {
    at::Tensor flat = flatten(chunk);
    comm.broadcast(flat, root);
    unflatten(chunk, flat);
  }
}

}  // namespace

// --- GradientSynchronizer ----------------------------------------------------------------------------

GradientSynchronizer::GradientSynchronizer(Communicator& comm, std::vector<at::Tensor> params, int64_t bucket_bytes)
    : comm_(comm) {
  if (bucket_bytes < 1) {
    throw std::invalid_argument("GradientSynchronizer: bucket size must be at least 1 byte, got " +
                                std::to_string(bucket_bytes));
  }
  slots_.resize(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const at::Tensor& p = params[i];
    if (!p.defined()) throw std::invalid_argument("GradientSynchronizer: parameter #" + std::to_string(i) + " is undefined");
    for (size_t j = 0; j < i; ++j) {
      if (p.is_same(params[j])) {
        throw std::invalid_argument("GradientSynchronizer: " + describe_param(i, p) + " is the same tensor as #" +
                                    std::to_string(j) + "; pass each parameter once (module.parameters() does)");
      }
    }
    slots_[i].param = p;
    if (!p.requires_grad()) continue;
    if (!p.is_leaf()) {
      throw std::invalid_argument("GradientSynchronizer: " + describe_param(i, p) +
                                  " is not a leaf tensor; pass the model's parameters, not tensors computed from them");
    }
    switch (p.scalar_type()) {
      case at::kFloat: case at::kBFloat16: case at::kHalf: case at::kDouble:
        break;
      default:
        throw std::invalid_argument("GradientSynchronizer: " + describe_param(i, p) +
                                    " has no supported floating dtype (float32, bfloat16, float16, float64)");
    }
  }

  // Reverse registration order approximates the order gradients become ready in backward. One bucket
  // per (dtype, device) is open at a time; a bucket closes when the next parameter would overflow it.
  struct Open {
    at::ScalarType dtype;
    at::Device device;
    size_t bucket;
  };
  std::vector<Open> open;
  for (size_t k = params.size(); k-- > 0;) {
    const at::Tensor& p = slots_[k].param;
    if (!p.requires_grad()) continue;
    at::ScalarType buffer_dtype = buffer_dtype_for(p.scalar_type());
    int64_t bytes = p.numel() * static_cast<int64_t>(c10::elementSize(buffer_dtype));
    auto it = std::find_if(open.begin(), open.end(),
                           [&](const Open& o) { return o.dtype == p.scalar_type() && o.device == p.device(); });
    if (it != open.end() && layout_[it->bucket].bytes + bytes > bucket_bytes) {
      open.erase(it);
      it = open.end();
    }
    if (it == open.end()) {
      layout_.push_back(BucketLayout{{}, p.scalar_type(), buffer_dtype, 0, 0});
      open.push_back(Open{p.scalar_type(), p.device(), layout_.size() - 1});
      it = open.end() - 1;
    }
    BucketLayout& bucket = layout_[it->bucket];
    slots_[k].bucket = it->bucket;
    slots_[k].offset = bucket.numel;
    bucket.params.push_back(k);
    bucket.numel += p.numel();
    bucket.bytes += bytes;
  }
  // Buckets were created in the order of their first parameter, which is the launch order.

  buckets_.resize(layout_.size());
  for (size_t b = 0; b < layout_.size(); ++b) {
    const at::Tensor& first = slots_[layout_[b].params.front()].param;
    buckets_[b].buffer =
        torch::zeros({layout_[b].numel}, torch::TensorOptions().dtype(layout_[b].buffer_dtype).device(first.device()));
  }
  reset_step();
  verify_same_layout_everywhere();

  // Hooks last: if anything above threw, no hook points at a half-built object.
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i].param.requires_grad()) continue;
    slots_[i].hook = slots_[i].param.register_hook([this, i](const at::Tensor& grad) { on_gradient(i, grad); });
    slots_[i].hooked = true;
  }
}

GradientSynchronizer::~GradientSynchronizer() {
  for (Slot& slot : slots_) {
    if (slot.hooked) {
      try {
        slot.param.remove_hook(slot.hook);
      } catch (...) {
        // Removing a hook cannot fail for a live leaf; nothing useful to do in a destructor if it does.
      }
    }
  }
  // Bucket Works wait for themselves when destroyed (see Work).
}

void GradientSynchronizer::verify_same_layout_everywhere() {
  Fingerprint fp;
  int64_t trainable = 0, numel = 0;
  for (const BucketLayout& b : layout_) {
    fp.add(static_cast<int64_t>(b.params.size()));
    fp.add(b.numel);
    fp.add(static_cast<int64_t>(b.buffer_dtype));
    trainable += static_cast<int64_t>(b.params.size());
    numel += b.numel;
  }
  std::vector<int64_t> fields = {static_cast<int64_t>(layout_.size()), trainable, numel,
                                 static_cast<int64_t>(fp.value)};
  require_same_on_every_rank(
      comm_, fields, "GradientSynchronizer",
      "every rank must pass the same model parameters, freeze the same ones and use the same bucket size",
      [](const std::vector<int64_t>& f) {
        std::ostringstream s;
        s << f[0] << " buckets over " << f[1] << " trainable parameters (" << f[2] << " elements, fingerprint "
          << std::hex << static_cast<uint64_t>(f[3]) << ")";
        return s.str();
      });
}

void GradientSynchronizer::reset_step() {
  for (size_t b = 0; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    bucket.pending = layout_[b].params.size();
    bucket.ready = false;
    bucket.work.reset();
    bucket.done = false;
  }
  for (Slot& slot : slots_) slot.reported = false;
  next_launch_ = 0;
  any_launched_ = false;
  last_done_ = Clock::time_point{};
  step_ = GradientSyncStats{};
  step_open_ = false;
}

at::Tensor GradientSynchronizer::slot_view(const at::Tensor& buffer, const Slot& slot) {
  const at::Tensor& p = slot.param;
  // With the parameter's own strides (channels_last weights, say), copying its gradient in and the
  // average back out are plain memcpys instead of transposing copies; DDP's bucket views do the same.
  if (p.is_non_overlapping_and_dense())
    return buffer.as_strided(p.sizes(), p.strides(), buffer.storage_offset() + slot.offset);
  return buffer.narrow(0, slot.offset, p.numel()).view(p.sizes());
}

void GradientSynchronizer::on_gradient(size_t index, const at::Tensor& grad) {
  std::lock_guard<std::mutex> lock(mutex_);
  begin_step();
  Slot& slot = slots_[index];
  if (slot.reported) {
    throw std::runtime_error(
        "GradientSynchronizer: " + describe_param(index, slot.param) +
        " received a second gradient before finish(). HINT: call finish() after every backward(); gradient "
        "accumulation over several backward() calls (or a second backward through a retained graph) is not "
        "supported by the synchroniser");
  }
  at::Tensor target = slot_view(buckets_[slot.bucket].buffer, slot);
  {
    torch::NoGradGuard no_grad;
    if (!grad.defined()) {
      target.zero_();  // an undefined gradient means zero
    } else {
      if (grad.is_sparse() || !grad.sizes().equals(slot.param.sizes())) {
        throw std::runtime_error("GradientSynchronizer: " + describe_param(index, slot.param) +
                                 " received a gradient of shape " + c10::str(grad.sizes()) +
                                 (grad.is_sparse() ? " (sparse)" : "") + "; dense gradients of the parameter's shape are required");
      }
      target.copy_(grad);  // widens bfloat16/float16 to the float32 buffer
    }
  }
  slot.reported = true;
  if (--buckets_[slot.bucket].pending == 0) mark_ready(slot.bucket);
  launch_ready_buckets(/*from_hook=*/true);
  poll_in_flight();
}

void GradientSynchronizer::mark_ready(size_t b) {
  buckets_[b].ready = true;
  ready_order_.push_back(b);
}

void GradientSynchronizer::launch_ready_buckets(bool from_hook) {
  // Strictly in bucket order: a bucket that completes early waits for its predecessors, so the k-th
  // all-reduce of a step is the same bucket on every rank whatever order gradients arrive in.
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].ready) {
    Bucket& bucket = buckets_[next_launch_];
    if (!any_launched_) {
      any_launched_ = true;
      first_launch_ = Clock::now();
    }
    bucket.work = comm_.all_reduce_sum_async(bucket.buffer);
    launch_order_.push_back(next_launch_);
    step_.buckets += 1;
    step_.bytes += layout_[next_launch_].bytes;
    if (from_hook) step_.launched_in_backward += 1;
    ++next_launch_;
  }
}

void GradientSynchronizer::poll_in_flight() {
  // Open MPI advances a non-blocking collective only inside MPI calls; testing the in-flight buckets
  // from every hook lets them progress while backward computes the next gradients.
  for (size_t b = 0; b < next_launch_; ++b) {
    Bucket& bucket = buckets_[b];
    if (bucket.done) continue;
    step_.polls += 1;
    if (bucket.work->is_completed()) {
      bucket.done = true;
      note_done(Clock::now());
    }
  }
}

void GradientSynchronizer::note_done(Clock::time_point when) { last_done_ = std::max(last_done_, when); }

void GradientSynchronizer::begin_step() {
  if (step_open_) return;
  // The orders of the previous step stay readable until the first event of this one.
  launch_order_.clear();
  ready_order_.clear();
  step_open_ = true;
}

void GradientSynchronizer::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  const Clock::time_point start = Clock::now();
  begin_step();
  {
    torch::NoGradGuard no_grad;
    // Parameters without a gradient this step count as zero, and complete their buckets. "Has a bucket"
    // is decided at construction (hooked), not by requires_grad now: a parameter frozen later still
    // completes its bucket, one unfrozen later has no slot to write.
    for (size_t i = 0; i < slots_.size(); ++i) {
      Slot& slot = slots_[i];
      if (!slot.hooked || slot.reported) continue;
      buckets_[slot.bucket].buffer.narrow(0, slot.offset, slot.param.numel()).zero_();
      slot.reported = true;
      if (--buckets_[slot.bucket].pending == 0) mark_ready(slot.bucket);
    }
  }
  launch_ready_buckets(/*from_hook=*/false);
  // A hook that threw (second gradient) may leave buckets unlaunched with all their parameters
  // reported; every bucket is ready by now, so all were launched above.
  for (Bucket& bucket : buckets_) {
    if (bucket.done) continue;
    bucket.work->wait();
    bucket.done = true;
    note_done(Clock::now());
  }
  const Clock::time_point waited = Clock::now();

  {
    torch::NoGradGuard no_grad;
    // sum / world straight into each gradient: one pass over the bytes instead of dividing the whole
    // bucket and then copying it out.
    // A CPU 0-dim double: a scalar to any buffer's dtype and device, no allocation on the device.
    const at::Tensor world = torch::scalar_tensor(static_cast<double>(comm_.size()), torch::kDouble);
    for (size_t b = 0; b < buckets_.size(); ++b) {
      at::Tensor& buffer = buckets_[b].buffer;
      for (size_t index : layout_[b].params) {
        at::Tensor& param = slots_[index].param;
        at::Tensor sum = slot_view(buffer, slots_[index]);
        at::Tensor& grad = param.mutable_grad();
        if (grad.defined()) {
          at::div_out(grad, sum, world);  // narrows back to bfloat16/float16 where the parameter is
        } else {
          grad = sum.div(world).to(param.scalar_type());
        }
      }
    }
  }

  step_.steps = 1;
  step_.exposed_seconds = seconds_between(start, waited);
  step_.comm_seconds = any_launched_ ? std::max(0.0, seconds_between(first_launch_, last_done_)) : 0.0;
  last_ = step_;
  total_.steps += 1;
  total_.buckets += step_.buckets;
  total_.bytes += step_.bytes;
  total_.launched_in_backward += step_.launched_in_backward;
  total_.polls += step_.polls;
  total_.comm_seconds += step_.comm_seconds;
  total_.exposed_seconds += step_.exposed_seconds;

  reset_step();
}

// --- Model state -------------------------------------------------------------------------------------

void broadcast_parameters_and_buffers(Communicator& comm, torch::nn::Module& module, int root) {
  std::vector<at::Tensor> tensors = module.parameters(/*recurse=*/true);
  for (const at::Tensor& b : module.buffers(/*recurse=*/true)) tensors.push_back(b);
  require_same_structure(comm, tensors, "broadcast_parameters_and_buffers");
  torch::NoGradGuard no_grad;
  broadcast_tensors(comm, tensors, root);
}

void average_buffers(Communicator& comm, torch::nn::Module& module) {
  std::vector<at::Tensor> buffers = module.buffers(/*recurse=*/true);
  require_same_structure(comm, buffers, "average_buffers");
  std::vector<at::Tensor> statistics, counts;
  for (const at::Tensor& b : buffers) (at::isFloatingType(b.scalar_type()) ? statistics : counts).push_back(b);

  torch::NoGradGuard no_grad;
  const double world = static_cast<double>(comm.size());
  for (const Chunk& chunk : make_chunks(statistics)) {
    at::Tensor flat = flatten(chunk);  // float32 (float64 stays float64): summed in at least float
    comm.all_reduce_sum(flat);
    flat.div_(world);
    unflatten(chunk, flat);
  }
  broadcast_tensors(comm, counts, /*root=*/0);
}

}  // namespace cxr::comm
