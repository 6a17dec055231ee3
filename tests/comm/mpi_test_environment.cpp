// Linked into every MPI test binary: MPI lives for the whole GoogleTest run (initialised before
// the first test, finalised after the last), so tests share one MPI_COMM_WORLD.
#include <gtest/gtest.h>

#include <memory>

#include "comm/mpi_runtime.h"

namespace {

class MpiEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { runtime_ = std::make_unique<cxr::comm::MpiRuntime>(); }
  void TearDown() override { runtime_.reset(); }

 private:
  std::unique_ptr<cxr::comm::MpiRuntime> runtime_;
};

[[maybe_unused]] auto* const kMpiEnvironment = ::testing::AddGlobalTestEnvironment(new MpiEnvironment);

}  // namespace
