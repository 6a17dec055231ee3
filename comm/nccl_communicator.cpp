// NCCL backend of Communicator (see nccl_communicator.h): argument checks and torch stream plumbing
// around NcclCore, which holds every NCCL and CUDA call on raw pointers. Without CXR_HAVE_NCCL only
// the factory is compiled, and it explains how to get the backend.
#include "comm/nccl_communicator.h"

#include <torch/torch.h>

#include <exception>
#include <stdexcept>
#include <string>

#ifdef CXR_HAVE_NCCL
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "comm/mpi_communicator.h"
#include "comm/nccl_check.h"
#include "comm/nccl_core.h"
#endif

namespace cxr::comm {

#ifndef CXR_HAVE_NCCL

bool nccl_backend_available() { return false; }

std::unique_ptr<Communicator> make_nccl_communicator(MPI_Comm, int, double) {
  throw std::runtime_error(
      "this cxrtrain was built without the NCCL backend. HINT: rebuild with -DCXR_WITH_NCCL=ON against a CUDA "
      "build of LibTorch with NCCL installed (set NCCL_ROOT if it is not under the CUDA toolkit), or train on "
      "the CPU with the MPI backend");
}

#else  // CXR_HAVE_NCCL

namespace {

ncclDataType_t nccl_type(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return ncclFloat32;
    case at::kDouble: return ncclFloat64;
    case at::kLong: return ncclInt64;
    case at::kInt: return ncclInt32;
    case at::kByte: return ncclUint8;
    case at::kHalf: return ncclFloat16;
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 10, 0)
    case at::kBFloat16: return ncclBfloat16;
#endif
    default:
      throw std::invalid_argument("dtype " + std::string(c10::toString(type)) +
                                  " is not supported by the NCCL backend (float32, float64, int64, int32, uint8, "
                                  "float16, bfloat16 are)");
  }
}

cudaStream_t current_stream(int device) {
  return c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)).stream();
}

// Defined, of a supported dtype, on the CPU or on this communicator's GPU (and contiguous if in place).
void check_nccl_tensor(const at::Tensor& t, int device, bool in_place, const char* op) {
  if (!t.defined()) throw std::invalid_argument(std::string(op) + ": the tensor is undefined");
  const bool here = t.is_cuda() && t.get_device() == device;
  if (!here && !t.device().is_cpu()) {
    throw std::invalid_argument(std::string(op) + ": the tensor is on " + t.device().str() +
                                " but this NCCL communicator drives cuda:" + std::to_string(device) +
                                "; move it there first");
  }
  nccl_type(t.scalar_type());
  if (in_place && !t.is_contiguous()) {
    throw std::invalid_argument(std::string(op) +
                                ": the tensor is not contiguous; it is updated in place, so pass t.contiguous() "
                                "and read the result from that tensor");
  }
}

class CompletedWork final : public Work {
 public:
  void wait() override {}
  bool is_completed() override { return true; }
};

class NcclWork final : public Work {
 public:
  NcclWork(at::Tensor tensor, CudaEvent done, NcclCore& core)
      : tensor_(std::move(tensor)), done_(std::move(done)), core_(core) {}
  ~NcclWork() override {
    // The tensor's memory may be reused by the caching allocator on the current stream once we drop
    // it: order that stream after the collective first. Errors cannot be thrown from here.
    if (!waited_) {
      try {
        order_current_stream();
      } catch (...) {
      }
    }
  }
  void wait() override {
    if (waited_) return;
    core_.wait(done_, "all_reduce");
    order_current_stream();
  }
  bool is_completed() override {
    if (done_.query()) return true;
    core_.check_async_error();  // a failed peer shows up here instead of as a hang
    return false;
  }

 private:
  void order_current_stream() {
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(core_.device()));
    done_.block(current_stream(core_.device()));
    waited_ = true;
  }

  at::Tensor tensor_;
  CudaEvent done_;
  NcclCore& core_;
  bool waited_ = false;
};

}  // namespace

bool nccl_backend_available() { return true; }

std::unique_ptr<Communicator> make_nccl_communicator(MPI_Comm parent, int device, double timeout_s) {
  return std::make_unique<NcclCommunicator>(parent, device, timeout_s);
}

NcclCommunicator::NcclCommunicator(MPI_Comm parent, int device, double timeout_s)
    : device_(device), timeout_s_(timeout_s), uncaught_at_start_(std::uncaught_exceptions()) {
  control_ = std::make_unique<MpiCommunicator>(parent);
  core_ = std::make_unique<NcclCore>(control_->handle(), device, timeout_s);
}

NcclCommunicator::~NcclCommunicator() {
  // Destroyed by an exception on its way to run_or_abort: a peer may never join the pending work, so
  // cancel it rather than wait for the NCCL stream to drain.
  if (core_ && std::uncaught_exceptions() > uncaught_at_start_) core_->abort();
}

int NcclCommunicator::rank() const { return control_->rank(); }
int NcclCommunicator::size() const { return control_->size(); }

void NcclCommunicator::barrier() { control_->barrier(); }

namespace {

// Runs `collective(device_tensor, stream, done)` on `t` in place and waits for it with the deadline;
// CPU tensors are staged through the GPU.
template <typename Collective>
void in_place(at::Tensor& t, NcclCore& core, const char* what, Collective collective) {
  const int device = core.device();
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device));
  cudaStream_t stream = current_stream(device);
  at::Tensor on_device = t.is_cuda() ? t : t.to(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device)));
  CudaEvent done;
  collective(on_device, stream, done);
  core.wait(done, what);
  done.block(stream);
  if (!t.is_cuda()) t.copy_(on_device);
}

}  // namespace

void NcclCommunicator::all_reduce_sum(at::Tensor& t) {
  check_nccl_tensor(t, device_, /*in_place=*/true, "all_reduce_sum");
  in_place(t, *core_, "all_reduce", [&](at::Tensor& d, cudaStream_t s, CudaEvent& done) {
    core_->all_reduce(d.data_ptr(), static_cast<size_t>(d.numel()), nccl_type(d.scalar_type()), ncclSum, s, done);
  });
}

void NcclCommunicator::all_reduce_max(at::Tensor& t) {
  check_nccl_tensor(t, device_, /*in_place=*/true, "all_reduce_max");
  in_place(t, *core_, "all_reduce(max)", [&](at::Tensor& d, cudaStream_t s, CudaEvent& done) {
    core_->all_reduce(d.data_ptr(), static_cast<size_t>(d.numel()), nccl_type(d.scalar_type()), ncclMax, s, done);
  });
}

std::unique_ptr<Work> NcclCommunicator::all_reduce_sum_async(at::Tensor& t) {
  check_nccl_tensor(t, device_, /*in_place=*/true, "all_reduce_sum_async");
  if (!t.is_cuda()) {
    all_reduce_sum(t);
    return std::make_unique<CompletedWork>();
  }
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  CudaEvent done;
  core_->all_reduce(t.data_ptr(), static_cast<size_t>(t.numel()), nccl_type(t.scalar_type()), ncclSum,
                    current_stream(device_), done);
  return std::make_unique<NcclWork>(t, std::move(done), *core_);
}

void NcclCommunicator::broadcast(at::Tensor& t, int root) {
  check_nccl_tensor(t, device_, /*in_place=*/true, "broadcast");
  if (root < 0 || root >= size()) {  // the same test on every rank: all throw
    throw std::invalid_argument("broadcast: root " + std::to_string(root) + " does not exist in a communicator of " +
                                std::to_string(size()) + " ranks");
  }
  in_place(t, *core_, "broadcast", [&](at::Tensor& d, cudaStream_t s, CudaEvent& done) {
    core_->broadcast(d.data_ptr(), static_cast<size_t>(d.numel()), nccl_type(d.scalar_type()), root, s, done);
  });
}

at::Tensor NcclCommunicator::gather(const at::Tensor& t, bool equal_rows, const char* op) {
  check_nccl_tensor(t, device_, /*in_place=*/false, op);
  std::vector<int64_t> rows = control_->gather_shapes(t, equal_rows, op);
  const at::Device gpu(at::kCUDA, static_cast<c10::DeviceIndex>(device_));
  c10::cuda::CUDAGuard guard(gpu.index());
  at::Tensor in = (t.dim() == 0 ? t.reshape({1}) : t).to(gpu).contiguous();
  int64_t row_elements = 1;
  for (int64_t d = 1; d < in.dim(); ++d) row_elements *= in.size(d);
  std::vector<size_t> counts;
  int64_t total_rows = 0;
  for (int64_t r : rows) {
    counts.push_back(static_cast<size_t>(r * row_elements));
    total_rows += r;
  }
  std::vector<int64_t> out_shape = in.sizes().vec();
  out_shape[0] = total_rows;
  at::Tensor out = torch::empty(out_shape, in.options());

  cudaStream_t stream = current_stream(device_);
  CudaEvent done;
  if (equal_rows) {
    core_->all_gather(in.data_ptr(), out.data_ptr(), counts[0], nccl_type(in.scalar_type()), stream, done);
  } else {
    core_->all_gatherv(in.data_ptr(), out.data_ptr(), counts, nccl_type(in.scalar_type()), stream, done);
  }
  core_->wait(done, op);
  done.block(stream);
  return t.is_cuda() ? out : out.cpu();
}

at::Tensor NcclCommunicator::all_gather(const at::Tensor& t) { return gather(t, /*equal_rows=*/true, "all_gather"); }

at::Tensor NcclCommunicator::all_gatherv(const at::Tensor& t) {
  return gather(t, /*equal_rows=*/false, "all_gatherv");
}

std::unique_ptr<Communicator> NcclCommunicator::split(int color, int key) {
  std::unique_ptr<Communicator> part = control_->split(color, key);
  if (!part) return nullptr;
  // A fresh NCCL communicator bootstrapped over the MPI group (ncclCommSplit needs NCCL >= 2.18).
  return std::make_unique<NcclCommunicator>(static_cast<MpiCommunicator&>(*part).handle(), device_, timeout_s_);
}

void NcclCommunicator::abort(int code) {
  core_->abort();  // cancels NCCL work a peer may never join, so MPI_Abort is not stuck behind it
  control_->abort(code);
}

#endif  // CXR_HAVE_NCCL

}  // namespace cxr::comm
