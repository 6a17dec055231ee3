// NCCL_CHECK(expr) and CUDA_CHECK(expr): every NCCL and CUDA runtime return code goes through these. A
// failure throws an exception whose message names the call, source location, rank, host, the library's
// own error text and a HINT line. Error kinds map to types: a misuse of the API (invalid argument or
// usage) is NcclUsageError, anything else NcclError; CUDA failures are CudaError. No torch here.
#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <stdexcept>
#include <string>

namespace cxr::comm {

class NcclError : public std::runtime_error {
 public:
  NcclError(const std::string& what, ncclResult_t code) : std::runtime_error(what), code_(code) {}
  ncclResult_t code() const { return code_; }

 private:
  ncclResult_t code_;
};

// ncclInvalidArgument / ncclInvalidUsage: the caller passed something NCCL cannot take.
class NcclUsageError : public NcclError {
 public:
  using NcclError::NcclError;
};

class CudaError : public std::runtime_error {
 public:
  CudaError(const std::string& what, cudaError_t code) : std::runtime_error(what), code_(code) {}
  cudaError_t code() const { return code_; }

 private:
  cudaError_t code_;
};

[[noreturn]] void throw_nccl_error(ncclResult_t code, const char* expr, const char* file, int line);
[[noreturn]] void throw_cuda_error(cudaError_t code, const char* expr, const char* file, int line);

inline void nccl_check(ncclResult_t code, const char* expr, const char* file, int line) {
  if (code != ncclSuccess) throw_nccl_error(code, expr, file, line);
}

inline void cuda_check(cudaError_t code, const char* expr, const char* file, int line) {
  if (code != cudaSuccess) throw_cuda_error(code, expr, file, line);
}

// "NCCL 2.28.9 (headers 2.28.9)": the library actually loaded, then the headers compiled against.
std::string nccl_version_string();

// "NVIDIA H200, 139.8 GiB, compute capability 9.0" for CUDA device `index` (CudaError if it has none).
std::string cuda_device_description(int index);

}  // namespace cxr::comm

#define NCCL_CHECK(expr) ::cxr::comm::nccl_check((expr), #expr, __FILE__, __LINE__)
#define CUDA_CHECK(expr) ::cxr::comm::cuda_check((expr), #expr, __FILE__, __LINE__)
