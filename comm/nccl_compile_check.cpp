// cxr_nccl_compile_check: builds and links the NCCL core (nccl_core, nccl_check) without CUDA LibTorch,
// so that path cannot rot on CPU-only machines, and doubles as a GPU smoke test:
//   mpirun -np 2 cxr_nccl_compile_check      (one GPU per rank; ranks on a node share them round-robin)
// On GPUs it all-reduces, broadcasts and gathers raw device buffers and checks every value by formula;
// without a usable GPU it prints the NCCL version and exits 77 (ctest's "skipped").
#include <cuda_runtime_api.h>
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "comm/mpi_check.h"
#include "comm/nccl_check.h"
#include "comm/nccl_core.h"

namespace {

constexpr int kSkipped = 77;

using cxr::comm::CudaEvent;
using cxr::comm::NcclCore;

// A device buffer of `n` floats, freed on scope exit.
class DeviceFloats {
 public:
  explicit DeviceFloats(size_t n) : n_(n) { CUDA_CHECK(cudaMalloc(&data_, std::max<size_t>(n, 1) * sizeof(float))); }
  ~DeviceFloats() { cudaFree(data_); }
  DeviceFloats(const DeviceFloats&) = delete;
  DeviceFloats& operator=(const DeviceFloats&) = delete;
  float* get() { return static_cast<float*>(data_); }
  void upload(const std::vector<float>& host, cudaStream_t stream) {
    CUDA_CHECK(cudaMemcpyAsync(data_, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice, stream));
  }
  std::vector<float> download(cudaStream_t stream) {
    std::vector<float> host(n_);
    CUDA_CHECK(cudaMemcpyAsync(host.data(), data_, n_ * sizeof(float), cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));  // this stream only, never the device
    return host;
  }

 private:
  void* data_ = nullptr;
  size_t n_;
};

int failures = 0;

void expect(bool ok, const std::string& what, int rank) {
  if (!ok) {
    ++failures;
    std::fprintf(stderr, "rank %d: FAILED %s\n", rank, what.c_str());
  }
}

// Every rank agrees on whether every rank has a GPU of its own, so that none enters NCCL alone. Two
// ranks on one GPU cannot be tested (NCCL refuses a communicator with a duplicate GPU): skipped too.
// "Its own" is decided by PCI bus id, so ranks that each see one different GPU (CUDA_VISIBLE_DEVICES
// per rank, srun --gpus-per-task) still run.
bool every_rank_has_its_own_gpu(int& device, std::string& why) {
  MPI_Comm node;
  MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
  int local_rank = 0, local_size = 1;
  MPI_CHECK(MPI_Comm_rank(node, &local_rank));
  MPI_CHECK(MPI_Comm_size(node, &local_size));
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) count = 0;
  cudaGetLastError();  // clear the error a missing driver leaves behind
  device = count > 0 ? local_rank % count : -1;
  constexpr int kBusIdLength = 32;
  char bus_id[kBusIdLength] = {};
  if (device >= 0 && cudaDeviceGetPCIBusId(bus_id, kBusIdLength, device) != cudaSuccess) {
    cudaGetLastError();
    std::snprintf(bus_id, kBusIdLength, "unknown-%d", local_rank);
  }
  std::vector<char> all(static_cast<size_t>(local_size) * kBusIdLength);
  MPI_CHECK(MPI_Allgather(bus_id, kBusIdLength, MPI_CHAR, all.data(), kBusIdLength, MPI_CHAR, node));
  MPI_CHECK(MPI_Comm_free(&node));
  std::vector<std::string> ids;
  for (int r = 0; r < local_size; ++r) ids.emplace_back(all.data() + static_cast<size_t>(r) * kBusIdLength);
  std::sort(ids.begin(), ids.end());
  const bool distinct = std::adjacent_find(ids.begin(), ids.end()) == ids.end();
  int state[2] = {count > 0 ? 1 : 0, distinct ? 1 : 0};
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, state, 2, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
  if (!state[0]) why = "no usable CUDA device on every rank";
  else if (!state[1]) why = "two ranks of a node would share a GPU (" + std::to_string(local_size) +
                            " ranks here): NCCL forbids a duplicate GPU in one communicator";
  return state[0] && state[1];
}

void run_checks(int rank, int size, int device) {
  NcclCore core(MPI_COMM_WORLD, device);
  cxr::comm::CudaDeviceScope scope(device);
  cudaStream_t compute = nullptr;
  CUDA_CHECK(cudaStreamCreateWithFlags(&compute, cudaStreamNonBlocking));

  // all_reduce: element i of rank r is (i mod 5)(r+1), so the sum is (i mod 5) n(n+1)/2.
  constexpr size_t kCount = 1 << 20;
  DeviceFloats data(kCount);
  std::vector<float> host(kCount);
  for (size_t i = 0; i < kCount; ++i) host[i] = static_cast<float>(i % 5) * static_cast<float>(rank + 1);
  data.upload(host, compute);  // enqueued on `compute`; the NCCL stream is ordered after it by an event
  CudaEvent done;
  core.all_reduce(data.get(), kCount, ncclFloat32, ncclSum, compute, done);
  core.wait(done, "all_reduce");  // the host waits with a deadline, polling NCCL's asynchronous errors
  done.block(compute);
  std::vector<float> sum = data.download(compute);
  bool ok = true;
  for (size_t i = 0; i < kCount && ok; ++i) ok = sum[i] == static_cast<float>(i % 5) * (size * (size + 1) / 2.0f);
  expect(ok, "all_reduce sum", rank);

  // broadcast from the last rank: its values are 7 + i.
  DeviceFloats root_data(1000);
  std::vector<float> mine(1000);
  for (size_t i = 0; i < mine.size(); ++i) mine[i] = rank == size - 1 ? 7.0f + static_cast<float>(i) : -1.0f;
  root_data.upload(mine, compute);
  core.broadcast(root_data.get(), mine.size(), ncclFloat32, size - 1, compute, done);
  done.block(compute);
  std::vector<float> got = root_data.download(compute);
  ok = true;
  for (size_t i = 0; i < got.size() && ok; ++i) ok = got[i] == 7.0f + static_cast<float>(i);
  expect(ok, "broadcast", rank);

  // all_gatherv: rank r sends r+1 copies of r; rank k's block starts at k(k+1)/2.
  std::vector<size_t> counts;
  for (int r = 0; r < size; ++r) counts.push_back(static_cast<size_t>(r + 1));
  DeviceFloats send(static_cast<size_t>(rank + 1));
  DeviceFloats recv(static_cast<size_t>(size * (size + 1) / 2));
  send.upload(std::vector<float>(static_cast<size_t>(rank + 1), static_cast<float>(rank)), compute);
  core.all_gatherv(send.get(), recv.get(), counts, ncclFloat32, compute, done);
  done.block(compute);
  std::vector<float> gathered = recv.download(compute);
  ok = true;
  for (int k = 0; k < size && ok; ++k) {
    for (int j = 0; j <= k && ok; ++j) ok = gathered[static_cast<size_t>(k * (k + 1) / 2 + j)] == static_cast<float>(k);
  }
  expect(ok, "all_gatherv", rank);
  core.check_async_error();
  CUDA_CHECK(cudaStreamDestroy(compute));
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int status = 0;
  try {
    int device = -1;
    std::string why;
    if (!every_rank_has_its_own_gpu(device, why)) {
      if (rank == 0) {
        std::printf("%s linked; %s: GPU checks skipped\n", cxr::comm::nccl_version_string().c_str(), why.c_str());
      }
      status = kSkipped;
    } else {
      run_checks(rank, size, device);
      int all_failures = failures;
      MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &all_failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
      if (rank == 0) {
        std::printf("%s: %s on %d ranks\n", cxr::comm::nccl_version_string().c_str(),
                    all_failures == 0 ? "all checks passed" : "CHECKS FAILED", size);
      }
      status = all_failures == 0 ? 0 : 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: %s\n", rank, e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
  return status;
}
