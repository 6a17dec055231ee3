// NCCL_CHECK / CUDA_CHECK messages and exception types. Needs libnccl and libcudart to link but no GPU:
// the error strings come from the libraries themselves, and no communicator is created.
#include <gtest/gtest.h>

#include <string>

#include "comm/nccl_check.h"

namespace cxr::comm {
namespace {

TEST(NcclCheck, UsageErrorsAreNcclUsageErrorWithCallLocationAndHint) {
  try {
    NCCL_CHECK(ncclInvalidArgument);
    FAIL() << "NCCL_CHECK did not throw";
  } catch (const NcclUsageError& e) {
    std::string what = e.what();
    EXPECT_EQ(e.code(), ncclInvalidArgument);
    EXPECT_NE(what.find("ncclInvalidArgument failed on rank ?"), std::string::npos) << what;
    EXPECT_NE(what.find("comm/test_nccl_check.cpp:"), std::string::npos) << what;
    EXPECT_NE(what.find(ncclGetErrorString(ncclInvalidArgument)), std::string::npos) << what;
    EXPECT_NE(what.find("HINT: "), std::string::npos) << what;
  }
}

TEST(NcclCheck, SystemErrorsAreNcclErrorButNotUsageErrors) {
  try {
    NCCL_CHECK(ncclSystemError);
    FAIL() << "NCCL_CHECK did not throw";
  } catch (const NcclUsageError&) {
    FAIL() << "a system error was reported as a usage error";
  } catch (const NcclError& e) {
    EXPECT_EQ(e.code(), ncclSystemError);
    EXPECT_NE(std::string(e.what()).find("NCCL_SOCKET_IFNAME"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(NCCL_CHECK(ncclSuccess));
}

TEST(CudaCheck, MessageCarriesCudaNameTextAndHint) {
  try {
    CUDA_CHECK(cudaErrorNoDevice);
    FAIL() << "CUDA_CHECK did not throw";
  } catch (const CudaError& e) {
    std::string what = e.what();
    EXPECT_EQ(e.code(), cudaErrorNoDevice);
    EXPECT_NE(what.find("cudaErrorNoDevice: "), std::string::npos) << what;
    EXPECT_NE(what.find(cudaGetErrorString(cudaErrorNoDevice)), std::string::npos) << what;
    EXPECT_NE(what.find("HINT: no usable GPU"), std::string::npos) << what;
  }
  EXPECT_NO_THROW(CUDA_CHECK(cudaSuccess));
}

TEST(NcclCheck, VersionNamesLoadedLibraryAndHeaders) {
  // NCCL_VERSION_CODE is 2xxyy (>= 2.9); the rendered header version must match NCCL_MAJOR.NCCL_MINOR.
  std::string version = nccl_version_string();
  std::string headers = "(headers " + std::to_string(NCCL_MAJOR) + "." + std::to_string(NCCL_MINOR) + ".";
  EXPECT_NE(version.find(headers), std::string::npos) << version;
  EXPECT_EQ(version.find("NCCL ?"), std::string::npos) << version;  // ncclGetVersion works without a GPU
}

}  // namespace
}  // namespace cxr::comm
