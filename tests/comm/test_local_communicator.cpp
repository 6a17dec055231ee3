// LocalCommunicator: the world-size-1 backend used without mpirun. Collectives are identities that still
// check their arguments like the MPI backend, and never touch MPI (this binary never initialises it).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "comm/local_communicator.h"
#include "comm/model_communicator.h"
#include "comm/mpi_runtime.h"
#include "core/error.h"

namespace cxr::comm {
namespace {

TEST(LocalCommunicator, IsRankZeroOfOne) {
  std::unique_ptr<Communicator> world = make_world_communicator(/*use_mpi=*/false);
  ASSERT_NE(dynamic_cast<LocalCommunicator*>(world.get()), nullptr);
  EXPECT_EQ(world->rank(), 0);
  EXPECT_EQ(world->size(), 1);
  world->barrier();
}

TEST(LocalCommunicator, ReductionsAndBroadcastLeaveValuesUnchanged) {
  LocalCommunicator world;
  torch::Tensor t = torch::arange(6, torch::kFloat32).reshape({2, 3});
  torch::Tensor expected = t.clone();
  world.all_reduce_sum(t);
  world.all_reduce_max(t);
  world.broadcast(t, 0);
  auto work = world.all_reduce_sum_async(t);
  EXPECT_TRUE(work->is_completed());
  work->wait();
  EXPECT_TRUE(torch::equal(t, expected));
  EXPECT_THROW(world.broadcast(t, 1), std::invalid_argument);
}

TEST(LocalCommunicator, GathersReturnCopies) {
  LocalCommunicator world;
  torch::Tensor t = torch::arange(6, torch::kInt64).reshape({2, 3});
  torch::Tensor gathered = world.all_gather(t);
  torch::Tensor gatheredv = world.all_gatherv(t.t());
  EXPECT_TRUE(torch::equal(gathered, t));
  EXPECT_TRUE(torch::equal(gatheredv, t.t()));
  EXPECT_TRUE(gatheredv.is_contiguous());
  t.fill_(-1);  // the results do not alias the input
  EXPECT_EQ(gathered.sum().item<int64_t>(), 15);
  EXPECT_EQ(gatheredv.sum().item<int64_t>(), 15);
  EXPECT_EQ(world.all_gather(torch::tensor(2.5)).sizes(), (std::vector<int64_t>{1}));
}

TEST(LocalCommunicator, PlainValueHelpers) {
  LocalCommunicator world;
  EXPECT_DOUBLE_EQ(world.all_reduce_sum(2.5), 2.5);
  EXPECT_DOUBLE_EQ(world.all_reduce_max(-4.0), -4.0);
  EXPECT_EQ(world.all_gather(7.0), std::vector<double>{7.0});
  const std::string text("a\0b", 3);
  EXPECT_EQ(world.broadcast_string(text, 0), text);
  EXPECT_EQ(world.broadcast_string("", 0), "");
  EXPECT_THROW(world.broadcast_string("x", 1), std::invalid_argument);
}

TEST(LocalCommunicator, SplitGivesOneRankOrNothing) {
  LocalCommunicator world;
  auto group = world.split(/*color=*/3, /*key=*/0);
  ASSERT_NE(group, nullptr);
  EXPECT_EQ(group->size(), 1);
  EXPECT_EQ(world.split(Communicator::kNoGroup, 0), nullptr);
}

TEST(LocalCommunicator, RejectsWhatTheMpiBackendRejects) {
  LocalCommunicator world;
  torch::Tensor flags = torch::zeros({3}, torch::kBool);
  EXPECT_THROW(world.all_reduce_sum(flags), std::invalid_argument);
  EXPECT_THROW(world.all_gatherv(torch::zeros({2}, torch::kBFloat16)), std::invalid_argument);
  torch::Tensor strided = torch::zeros({4, 3}).t();
  EXPECT_THROW(world.all_reduce_max(strided), std::invalid_argument);
  torch::Tensor undefined;
  EXPECT_THROW(world.broadcast(undefined, 0), std::invalid_argument);
}

// Tensors on a non-CPU device: the "meta" device stands in for CUDA, which this machine lacks.
TEST(LocalCommunicator, OnlyTheAnyDeviceVariantTakesNonCpuTensors) {
  torch::Tensor t = torch::empty({3}, torch::TensorOptions().device(torch::kMeta));
  LocalCommunicator cpu_only;
  EXPECT_THROW(cpu_only.all_reduce_sum(t), std::invalid_argument);
  LocalCommunicator any_device(/*any_device=*/true);
  EXPECT_NO_THROW(any_device.all_reduce_sum(t));
  EXPECT_NO_THROW(any_device.broadcast(t, 0));
  std::unique_ptr<Communicator> half = any_device.split(0, 0);
  EXPECT_NO_THROW(half->all_reduce_max(t));
}

TEST(ModelCommunicator, CpuTrainingUsesTheWorldWithoutMpi) {
  LocalCommunicator world;
  for (const char* backend : {"auto", "mpi"}) {
    ModelCommunicator m = model_communicator(world, c10::Device(c10::kCPU), backend);
    EXPECT_EQ(m.comm, &world) << backend;
    EXPECT_EQ(m.owned, nullptr) << backend;
    EXPECT_EQ(m.backend, "local") << backend;
  }
}

TEST(ModelCommunicator, RefusesBackendsThatCannotCarryTheDevicesTensors) {
  LocalCommunicator world;
  try {
    model_communicator(world, c10::Device(c10::kCPU), "nccl");
    FAIL() << "nccl accepted for CPU training";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("train.backend=nccl"), std::string::npos) << e.what();
  }
  // NCCL needs peers bootstrapped over MPI: without a launcher it is an error, not a silent local fall back.
  try {
    model_communicator(world, c10::Device(c10::kCUDA, 0), "nccl");
    FAIL() << "nccl accepted without an MPI launcher";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("needs an MPI launcher"), std::string::npos) << e.what();
  }
}

TEST(ModelCommunicator, MpiOnCudaIsStagedThroughTheHost) {
  LocalCommunicator world;
  ModelCommunicator m = model_communicator(world, c10::Device(c10::kCUDA, 0), "mpi");
  ASSERT_NE(m.owned, nullptr);
  EXPECT_EQ(m.comm, m.owned.get());
  EXPECT_EQ(m.comm->size(), 1);
}

TEST(ModelCommunicator, OneCudaProcessWithoutMpiGetsAnAnyDeviceLocalCommunicator) {
  LocalCommunicator world;
  for (const char* backend : {"auto"}) {
    ModelCommunicator m = model_communicator(world, c10::Device(c10::kCUDA, 0), backend);
    ASSERT_NE(m.owned, nullptr) << backend;
    EXPECT_EQ(m.comm, m.owned.get()) << backend;
    EXPECT_EQ(m.backend, "local") << backend;
    torch::Tensor t = torch::empty({3}, torch::TensorOptions().device(torch::kMeta));
    EXPECT_NO_THROW(m.comm->all_reduce_sum(t)) << backend;
  }
}

TEST(LocalCommunicatorDeathTest, AbortExitsWithTheCode) {
  LocalCommunicator world;
  EXPECT_EXIT(world.abort(3), ::testing::ExitedWithCode(3), "");
}

}  // namespace
}  // namespace cxr::comm
