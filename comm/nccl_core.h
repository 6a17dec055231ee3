// The NCCL machinery below the torch-facing NcclCommunicator, on raw device pointers: the unique id
// from rank 0 by MPI_Bcast, ncclCommInitRank, and a dedicated NCCL stream ordered after the caller's
// compute stream through a CUDA event (never a device-wide sync). Needs only MPI, NCCL and the CUDA
// runtime, so it also builds on machines without CUDA LibTorch (target cxr_nccl_compile_check).
#pragma once

#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace cxr::comm {

// An owned CUDA event without timing data (cheap to record and query). Movable, not copyable.
class CudaEvent {
 public:
  CudaEvent();  // on the current device
  ~CudaEvent();
  CudaEvent(CudaEvent&& other) noexcept;
  CudaEvent& operator=(CudaEvent&& other) noexcept;
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;

  void record(cudaStream_t stream);
  bool query() const;                     // true once the work before the last record() has finished
  void block(cudaStream_t stream) const;  // `stream` waits for it on the GPU; the host does not block
  void synchronize() const;               // the host waits for it
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

// Makes `device` current for the scope and restores the previous device after.
class CudaDeviceScope {
 public:
  explicit CudaDeviceScope(int device);
  ~CudaDeviceScope();
  CudaDeviceScope(const CudaDeviceScope&) = delete;
  CudaDeviceScope& operator=(const CudaDeviceScope&) = delete;

 private:
  int previous_ = -1;
};

// Rank `root` of `comm` creates the id, every rank receives it. Collective over `comm`.
ncclUniqueId broadcast_unique_id(MPI_Comm comm, int root);

// Bytes per element of an NCCL datatype.
size_t nccl_type_size(ncclDataType_t type);

class NcclCore {
 public:
  // Collective over `comm` (an MPI communicator, used only to bootstrap): creates an NCCL communicator
  // of the same ranks on CUDA device `device`, and the NCCL stream (non-blocking, high priority).
  // `timeout_s` bounds every wait() (see collective_wait.h).
  NcclCore(MPI_Comm comm, int device, double timeout_s = 600.0);
  // Unless aborted: waits for the NCCL stream (that stream only), then destroys the communicator. After
  // abort() it never touches the stream, so a communicator with a dead peer cannot hang its destruction.
  ~NcclCore();
  NcclCore(const NcclCore&) = delete;
  NcclCore& operator=(const NcclCore&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  ncclComm_t handle() const { return comm_; }

  // Every collective below: (1) the NCCL stream waits, through an event, for the work enqueued so far on
  // `compute`; (2) the collective is enqueued on the NCCL stream; (3) `done` is recorded after it. They
  // return at once. Buffers are device pointers on device(); the caller keeps them alive and unchanged
  // until `done`, and makes their consumers wait on `done` (CudaEvent::block). Counts are elements.
  // Every rank must call the same collectives in the same order; a zero count (the same on every rank)
  // launches nothing but still records `done`. Thread-safe.
  void all_reduce(void* data, size_t count, ncclDataType_t type, ncclRedOp_t op, cudaStream_t compute,
                  CudaEvent& done);
  void broadcast(void* data, size_t count, ncclDataType_t type, int root, cudaStream_t compute, CudaEvent& done);
  // recv holds size() * count elements, rank r's at r * count.
  void all_gather(const void* send, void* recv, size_t count, ncclDataType_t type, cudaStream_t compute,
                  CudaEvent& done);
  // counts[r] elements from rank r, concatenated in rank order into recv; send holds counts[rank()].
  void all_gatherv(const void* send, void* recv, const std::vector<size_t>& counts, ncclDataType_t type,
                   cudaStream_t compute, CudaEvent& done);

  // Throws NcclError if the communicator failed asynchronously (a peer died, the network dropped):
  // pollers call it so that a failure surfaces as an error instead of a hang.
  void check_async_error();
  // The host waits until `done` has happened, polling the communicator's asynchronous error meanwhile;
  // on an error or after the timeout it aborts the communicator and throws CollectiveFailed. No
  // device-wide synchronisation: only this event is polled.
  void wait(const CudaEvent& done, const char* what);
  // Describes a pending asynchronous error ("" when there is none); never throws.
  std::string async_error() noexcept;
  // Aborts the communicator: pending operations are cancelled, every later call fails. Never throws.
  void abort() noexcept;

 private:
  void order_after(cudaStream_t compute);  // step (1) above

  std::mutex mutex_;  // NCCL calls on one communicator must not interleave between threads
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<CudaEvent> compute_ready_;  // reused by order_after()
  int rank_ = 0;
  int size_ = 1;
  int device_ = 0;
  double timeout_s_ = 600.0;
  bool aborted_ = false;
};

}  // namespace cxr::comm
