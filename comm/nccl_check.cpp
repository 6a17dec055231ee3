// NCCL and CUDA error reporting (see nccl_check.h). Runs on the failure path, so queries made here to
// enrich the message are not themselves checked.
#include "comm/nccl_check.h"

#include <cstdio>

#include "comm/mpi_check.h"

namespace cxr::comm {
namespace {

std::string where(const char* expr, const char* file, int line) {
  return std::string(expr) + " failed on " + rank_tag() + " (host " + host_name() + ") at " + short_source_path(file) +
         ":" + std::to_string(line) + ": ";
}

const char* nccl_hint(ncclResult_t code) {
  switch (code) {
    case ncclUnhandledCudaError:
      return "a CUDA call inside NCCL failed; check the GPU is healthy (nvidia-smi) and rerun with NCCL_DEBUG=WARN";
    case ncclSystemError:
      return "a system call (network, shared memory, files) failed; check NCCL_SOCKET_IFNAME / the interconnect, "
             "/dev/shm size in containers, and rerun with NCCL_DEBUG=INFO";
    case ncclInternalError:
      return "NCCL hit an internal error; rerun with NCCL_DEBUG=INFO and report it with the NCCL version";
    case ncclInvalidArgument:
    case ncclInvalidUsage:
      return "the call was given something NCCL cannot take (a bad pointer, count, root or datatype, or ranks "
             "calling collectives in different orders); this is a bug in the caller";
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 11, 0)
    case ncclRemoteError:
      return "another rank failed or the network dropped; look for the first error in the other ranks' logs";
#endif
    default:
      return "rerun with NCCL_DEBUG=INFO for details";
  }
}

const char* cuda_hint(cudaError_t code) {
  switch (code) {
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
      return "no usable GPU or driver on this host; run on a GPU node, or train on the CPU with the MPI backend";
    case cudaErrorInvalidDevice:
      return "the device ordinal does not exist here; check the rank-to-GPU mapping and CUDA_VISIBLE_DEVICES";
    case cudaErrorMemoryAllocation:
      return "the GPU is out of memory; lower the per-rank batch size";
    default:
      return "rerun with CUDA_LAUNCH_BLOCKING=1 to find the failing call";
  }
}

}  // namespace

void throw_nccl_error(ncclResult_t code, const char* expr, const char* file, int line) {
  std::string what = where(expr, file, line) + ncclGetErrorString(code);
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 13, 0)
  const char* detail = ncclGetLastError(nullptr);
  if (detail != nullptr && *detail != '\0') what += " (" + std::string(detail) + ")";
#endif
  what += ". HINT: " + std::string(nccl_hint(code));
  if (code == ncclInvalidArgument || code == ncclInvalidUsage) throw NcclUsageError(what, code);
  throw NcclError(what, code);
}

void throw_cuda_error(cudaError_t code, const char* expr, const char* file, int line) {
  throw CudaError(where(expr, file, line) + cudaGetErrorName(code) + ": " + cudaGetErrorString(code) +
                      ". HINT: " + cuda_hint(code),
                  code);
}

std::string nccl_version_string() {
  auto render = [](int code) {
    // NCCL >= 2.9 encodes major*10000 + minor*100 + patch; older releases major*1000 + minor*100 + patch.
    int major = code >= 10000 ? code / 10000 : code / 1000;
    int minor = code >= 10000 ? code / 100 % 100 : code / 100 % 10;
    return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(code % 100);
  };
  int loaded = 0;
  std::string library = ncclGetVersion(&loaded) == ncclSuccess ? render(loaded) : "?";
  return "NCCL " + library + " (headers " + render(NCCL_VERSION_CODE) + ")";
}

std::string cuda_device_description(int index) {
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  char buf[384];
  std::snprintf(buf, sizeof buf, "%s, %.1f GiB, compute capability %d.%d", prop.name,
                static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0), prop.major, prop.minor);
  return buf;
}

}  // namespace cxr::comm
