// NCCL bootstrap and stream-ordered collectives on raw device pointers (see nccl_core.h). The ordering
// is llm.c's: record an event on the compute stream, make the NCCL stream wait on it, run the
// collective, record a second event the consumer waits on. Nothing here synchronises the device.
#include "comm/nccl_core.h"

#include <memory>
#include <stdexcept>
#include <string>

#include "comm/collective_wait.h"
#include "comm/mpi_check.h"
#include "comm/nccl_check.h"

namespace cxr::comm {

// --- CudaEvent / CudaDeviceScope ---------------------------------------------------------------------

CudaEvent::CudaEvent() { CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming)); }

CudaEvent::~CudaEvent() {
  // Destroying an event whose work is pending is allowed: CUDA releases it once the work completes.
  if (event_ != nullptr) cudaEventDestroy(event_);
}

CudaEvent::CudaEvent(CudaEvent&& other) noexcept : event_(other.event_) { other.event_ = nullptr; }

CudaEvent& CudaEvent::operator=(CudaEvent&& other) noexcept {
  if (this != &other) {
    if (event_ != nullptr) cudaEventDestroy(event_);
    event_ = other.event_;
    other.event_ = nullptr;
  }
  return *this;
}

void CudaEvent::record(cudaStream_t stream) { CUDA_CHECK(cudaEventRecord(event_, stream)); }

bool CudaEvent::query() const {
  cudaError_t status = cudaEventQuery(event_);
  if (status == cudaErrorNotReady) return false;
  CUDA_CHECK(status);
  return true;
}

void CudaEvent::block(cudaStream_t stream) const { CUDA_CHECK(cudaStreamWaitEvent(stream, event_, 0)); }

void CudaEvent::synchronize() const { CUDA_CHECK(cudaEventSynchronize(event_)); }

CudaDeviceScope::CudaDeviceScope(int device) {
  CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device) CUDA_CHECK(cudaSetDevice(device));
}

CudaDeviceScope::~CudaDeviceScope() {
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current != previous_) cudaSetDevice(previous_);
}

// --- bootstrap -----------------------------------------------------------------------------------------

ncclUniqueId broadcast_unique_id(MPI_Comm comm, int root) {
  int rank = 0;
  MPI_CHECK(MPI_Comm_rank(comm, &rank));
  ncclUniqueId id{};
  // Rank `root` must reach the broadcast even if ncclGetUniqueId failed, or the others would hang in it:
  // the failure travels with the id (as a flag in front of it) and every rank throws.
  int ok = 1;
  std::string failure;
  if (rank == root) {
    try {
      NCCL_CHECK(ncclGetUniqueId(&id));
    } catch (const NcclError& e) {
      ok = 0;
      failure = e.what();
    }
  }
  MPI_CHECK(MPI_Bcast(&ok, 1, MPI_INT, root, comm));
  if (!ok) {
    if (rank == root) throw NcclError(failure, ncclSystemError);
    throw NcclError("ncclGetUniqueId failed on the bootstrap root (rank " + std::to_string(root) +
                        " of the communicator); see that rank's error",
                    ncclSystemError);
  }
  MPI_CHECK(MPI_Bcast(&id, static_cast<int>(sizeof id), MPI_BYTE, root, comm));
  return id;
}

size_t nccl_type_size(ncclDataType_t type) {
  switch (type) {
    case ncclInt8: case ncclUint8: return 1;
    case ncclFloat16: return 2;
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 10, 0)
    case ncclBfloat16: return 2;
#endif
    case ncclInt32: case ncclUint32: case ncclFloat32: return 4;
    case ncclInt64: case ncclUint64: case ncclFloat64: return 8;
    default:
      throw std::invalid_argument("unsupported NCCL datatype " + std::to_string(static_cast<int>(type)));
  }
}

// --- NcclCore ------------------------------------------------------------------------------------------

NcclCore::NcclCore(MPI_Comm comm, int device, double timeout_s) : device_(device), timeout_s_(timeout_s) {
  MPI_CHECK(MPI_Comm_rank(comm, &rank_));
  MPI_CHECK(MPI_Comm_size(comm, &size_));
  ncclUniqueId id = broadcast_unique_id(comm, /*root=*/0);

  // CUDA set-up can fail on one rank only (bad device ordinal, no memory); ncclCommInitRank would then
  // wait forever for that rank. So every rank first reports its set-up, and all fail together.
  std::string failure;
  try {
    CudaDeviceScope scope(device_);
    int least = 0, greatest = 0;
    CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
    // Non-blocking: the NCCL stream never synchronises implicitly with the legacy default stream, so
    // communication overlaps compute issued there. High priority: bucket all-reduces are latency-bound.
    CUDA_CHECK(cudaStreamCreateWithPriority(&stream_, cudaStreamNonBlocking, greatest));
    compute_ready_ = std::make_unique<CudaEvent>();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  int first_failed = failure.empty() ? size_ : rank_;
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &first_failed, 1, MPI_INT, MPI_MIN, comm));
  if (first_failed < size_) {
    compute_ready_.reset();
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
    if (!failure.empty()) throw std::runtime_error("NCCL set-up: " + failure);
    throw std::runtime_error("NCCL set-up failed on rank " + std::to_string(first_failed) +
                             " of the communicator (see its error); no NCCL communicator was created");
  }

  CudaDeviceScope scope(device_);
  try {
    NCCL_CHECK(ncclCommInitRank(&comm_, size_, id, rank_));
  } catch (...) {
    compute_ready_.reset();
    cudaStreamDestroy(stream_);
    throw;
  }
}

NcclCore::~NcclCore() {
  // No checks here (a destructor must not throw): on failure there is nothing better to do.
  int previous = -1;
  cudaGetDevice(&previous);
  cudaSetDevice(device_);
  if (!aborted_) {
    // Work still queued on the NCCL stream uses the communicator: let it drain (this stream only).
    cudaStreamSynchronize(stream_);
    ncclCommDestroy(comm_);
  }
  compute_ready_.reset();
  cudaStreamDestroy(stream_);
  if (previous >= 0) cudaSetDevice(previous);
}

void NcclCore::order_after(cudaStream_t compute) {
  compute_ready_->record(compute);
  compute_ready_->block(stream_);
}

void NcclCore::all_reduce(void* data, size_t count, ncclDataType_t type, ncclRedOp_t op, cudaStream_t compute,
                          CudaEvent& done) {
  std::lock_guard<std::mutex> lock(mutex_);
  CudaDeviceScope scope(device_);
  order_after(compute);
  if (count > 0) NCCL_CHECK(ncclAllReduce(data, data, count, type, op, comm_, stream_));
  done.record(stream_);
}

void NcclCore::broadcast(void* data, size_t count, ncclDataType_t type, int root, cudaStream_t compute,
                         CudaEvent& done) {
  std::lock_guard<std::mutex> lock(mutex_);
  CudaDeviceScope scope(device_);
  order_after(compute);
  if (count > 0) NCCL_CHECK(ncclBroadcast(data, data, count, type, root, comm_, stream_));
  done.record(stream_);
}

void NcclCore::all_gather(const void* send, void* recv, size_t count, ncclDataType_t type, cudaStream_t compute,
                          CudaEvent& done) {
  std::lock_guard<std::mutex> lock(mutex_);
  CudaDeviceScope scope(device_);
  order_after(compute);
  if (count > 0) NCCL_CHECK(ncclAllGather(send, recv, count, type, comm_, stream_));
  done.record(stream_);
}

void NcclCore::all_gatherv(const void* send, void* recv, const std::vector<size_t>& counts, ncclDataType_t type,
                           cudaStream_t compute, CudaEvent& done) {
  if (counts.size() != static_cast<size_t>(size_)) {
    throw std::invalid_argument("all_gatherv: " + std::to_string(counts.size()) + " counts for " +
                                std::to_string(size_) + " ranks");
  }
  const size_t element = nccl_type_size(type);
  std::lock_guard<std::mutex> lock(mutex_);
  CudaDeviceScope scope(device_);
  order_after(compute);
  // Uneven gather as one broadcast per rank, fused into a single launch by the group.
  NCCL_CHECK(ncclGroupStart());
  size_t offset = 0;
  for (int r = 0; r < size_; ++r) {
    const size_t n = counts[static_cast<size_t>(r)];
    if (n > 0) {  // every rank sees the same counts, so every rank skips the same broadcasts
      char* slot = static_cast<char*>(recv) + offset * element;
      ncclResult_t result = ncclBroadcast(r == rank_ ? send : slot, slot, n, type, r, comm_, stream_);
      if (result != ncclSuccess) {
        ncclGroupEnd();
        NCCL_CHECK(result);
      }
    }
    offset += n;
  }
  NCCL_CHECK(ncclGroupEnd());
  done.record(stream_);
}

void NcclCore::check_async_error() {
  ncclResult_t async = ncclSuccess;
  NCCL_CHECK(ncclCommGetAsyncError(comm_, &async));
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 14, 0)
  if (async == ncclInProgress) return;
#endif
  if (async != ncclSuccess) throw_nccl_error(async, "NCCL communicator (asynchronous error)", __FILE__, __LINE__);
}

std::string NcclCore::async_error() noexcept {
  ncclResult_t async = ncclSuccess;
  if (aborted_) return "the communicator was aborted";
  if (ncclCommGetAsyncError(comm_, &async) != ncclSuccess) return "ncclCommGetAsyncError failed";
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 14, 0)
  if (async == ncclInProgress) return "";
#endif
  if (async == ncclSuccess) return "";
  std::string text = ncclGetErrorString(async);
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 13, 0)
  if (const char* last = ncclGetLastError(comm_)) {
    if (*last) text += std::string(" (") + last + ")";
  }
#endif
  return text;
}

void NcclCore::wait(const CudaEvent& done, const char* what) {
  wait_for_collective([&] { return done.query(); }, [&] { return async_error(); }, [&] { abort(); }, timeout_s_,
                      std::string("NCCL ") + what + " on rank " + std::to_string(rank_) + " of " +
                          std::to_string(size_));
}

void NcclCore::abort() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  if (aborted_) return;
  aborted_ = true;
  ncclCommAbort(comm_);
}

}  // namespace cxr::comm
