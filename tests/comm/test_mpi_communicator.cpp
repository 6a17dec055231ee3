// MpiCommunicator under mpirun (registered with 2 and 3 ranks). Expected values come from formulas in
// the rank r and world size n (rank r contributes r+1 => the sum is n(n+1)/2), never from the code under
// test. MPI is started once for the whole binary by a GoogleTest environment.
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include <chrono>
#include <thread>

#include "comm/host_staged_communicator.h"
#include "comm/model_communicator.h"
#include "comm/mpi_check.h"
#include "comm/mpi_communicator.h"
#include "comm/mpi_runtime.h"
#include "comm/nccl_communicator.h"
#include "core/error.h"

namespace cxr::comm {
namespace {

class MpiCommunicatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    world_ = make_world_communicator(/*use_mpi=*/true);
    r_ = world_->rank();
    n_ = world_->size();
  }
  std::unique_ptr<Communicator> world_;
  int r_ = 0;
  int n_ = 1;
};

TEST_F(MpiCommunicatorTest, RankAndSizeMatchWorld) {
  int rank = -1, size = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  EXPECT_EQ(r_, rank);
  EXPECT_EQ(n_, size);
  EXPECT_NE(dynamic_cast<MpiCommunicator*>(world_.get()), nullptr);
  auto* mpi = dynamic_cast<MpiCommunicator*>(world_.get());
  ASSERT_NE(mpi, nullptr);
  int compare = MPI_UNEQUAL;
  MPI_Comm_compare(mpi->handle(), MPI_COMM_WORLD, &compare);
  EXPECT_EQ(compare, MPI_CONGRUENT);  // a duplicate, not MPI_COMM_WORLD itself
}

TEST_F(MpiCommunicatorTest, AllReduceSumEveryDtype) {
  for (auto dtype : {torch::kFloat32, torch::kFloat64, torch::kInt64, torch::kInt32, torch::kUInt8}) {
    SCOPED_TRACE(c10::toString(dtype));
    torch::Tensor t = torch::full({3, 4}, r_ + 1, dtype);
    world_->all_reduce_sum(t);
    EXPECT_TRUE(torch::equal(t, torch::full({3, 4}, n_ * (n_ + 1) / 2, dtype)));
  }
}

TEST_F(MpiCommunicatorTest, AllReduceMaxEveryDtype) {
  for (auto dtype : {torch::kFloat32, torch::kFloat64, torch::kInt64, torch::kInt32, torch::kUInt8}) {
    SCOPED_TRACE(c10::toString(dtype));
    // Element i of rank r holds i + 10r, so the maximum is i + 10(n-1) for every i.
    torch::Tensor t = (torch::arange(12) + 10 * r_).reshape({3, 4}).to(dtype);
    world_->all_reduce_max(t);
    EXPECT_TRUE(torch::equal(t, (torch::arange(12) + 10 * (n_ - 1)).reshape({3, 4}).to(dtype)));
  }
}

TEST_F(MpiCommunicatorTest, BroadcastFromRootOne) {
  if (n_ < 2) GTEST_SKIP() << "needs 2 ranks";
  torch::Tensor t = r_ == 1 ? torch::arange(6, torch::kFloat64).reshape({2, 3}) * 1.5
                            : torch::full({2, 3}, -1.0, torch::kFloat64);
  world_->broadcast(t, /*root=*/1);
  EXPECT_TRUE(torch::equal(t, torch::arange(6, torch::kFloat64).reshape({2, 3}) * 1.5));
}

TEST_F(MpiCommunicatorTest, AllGatherConcatenatesInRankOrder) {
  torch::Tensor mine = torch::full({2, 3}, r_, torch::kInt32);
  torch::Tensor all = world_->all_gather(mine);
  ASSERT_EQ(all.sizes(), (std::vector<int64_t>{2 * n_, 3}));
  for (int k = 0; k < n_; ++k) {
    EXPECT_TRUE(torch::equal(all.slice(0, 2 * k, 2 * k + 2), torch::full({2, 3}, k, torch::kInt32))) << "rank " << k;
  }
}

TEST_F(MpiCommunicatorTest, AllGatherOfScalarsAndNonContiguousInput) {
  torch::Tensor scalars = world_->all_gather(torch::tensor(static_cast<double>(r_ * r_)));
  EXPECT_TRUE(torch::equal(scalars, torch::arange(n_, torch::kFloat64).pow(2)));
  // Rank r's [3,2] input is the transpose of [[0,1,2],[3,4,5]] + 100r: gathered as laid out logically.
  torch::Tensor base = torch::arange(6, torch::kInt64).reshape({2, 3});
  torch::Tensor gathered = world_->all_gather((base + 100 * r_).t());
  ASSERT_EQ(gathered.sizes(), (std::vector<int64_t>{3 * n_, 2}));
  for (int k = 0; k < n_; ++k) EXPECT_TRUE(torch::equal(gathered.slice(0, 3 * k, 3 * k + 3), (base + 100 * k).t()));
}

TEST_F(MpiCommunicatorTest, AllGathervRowCountsDifferPerRank) {
  // Rank r contributes r+1 rows of value r: rank k's rows start at row k(k+1)/2.
  torch::Tensor mine = torch::full({r_ + 1, 2}, static_cast<float>(r_));
  torch::Tensor all = world_->all_gatherv(mine);
  ASSERT_EQ(all.sizes(), (std::vector<int64_t>{n_ * (n_ + 1) / 2, 2}));
  for (int k = 0; k < n_; ++k) {
    int64_t start = k * (k + 1) / 2;
    EXPECT_TRUE(torch::equal(all.slice(0, start, start + k + 1), torch::full({k + 1, 2}, static_cast<float>(k))))
        << "rank " << k;
  }
}

TEST_F(MpiCommunicatorTest, AllGathervWithAnEmptyRank) {
  // Rank r contributes r rows (rank 0 none) of value r: rank k's rows start at row k(k-1)/2.
  torch::Tensor all = world_->all_gatherv(torch::full({r_, 3}, r_, torch::kInt64));
  ASSERT_EQ(all.sizes(), (std::vector<int64_t>{n_ * (n_ - 1) / 2, 3}));
  for (int k = 1; k < n_; ++k) {
    int64_t start = k * (k - 1) / 2;
    EXPECT_TRUE(torch::equal(all.slice(0, start, start + k), torch::full({k, 3}, k, torch::kInt64)));
  }
}

TEST_F(MpiCommunicatorTest, MismatchedShapesThrowOnEveryRank) {
  if (n_ < 2) GTEST_SKIP() << "needs 2 ranks";
  try {
    world_->all_gather(torch::zeros({r_ + 1, 2}));
    FAIL() << "all_gather accepted different shapes";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 1 passed [2, 2]"), std::string::npos) << e.what();
  }
  try {
    world_->all_gatherv(torch::zeros({2, r_ + 1}));
    FAIL() << "all_gatherv accepted different trailing dimensions";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("only the first dimension may differ"), std::string::npos) << e.what();
  }
  try {
    world_->all_gatherv(torch::zeros({2}, r_ == 0 ? torch::kFloat32 : torch::kFloat64));
    FAIL() << "all_gatherv accepted different dtypes";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("Double"), std::string::npos) << e.what();
  }
  // The communicator is still usable afterwards.
  EXPECT_DOUBLE_EQ(world_->all_reduce_sum(1.0), n_);
}

TEST_F(MpiCommunicatorTest, SplitByParityThenReduceWithinGroups) {
  int parity = r_ % 2;
  std::unique_ptr<Communicator> group = world_->split(/*color=*/parity, /*key=*/r_);
  ASSERT_NE(group, nullptr);
  // Ranks p, p+2, ..., below n: g of them, and the sum of r+1 over them is g(p+1) + g(g-1).
  int g = (n_ - parity + 1) / 2;
  EXPECT_EQ(group->size(), g);
  EXPECT_EQ(group->rank(), r_ / 2);
  torch::Tensor t = torch::full({5}, r_ + 1, torch::kInt64);
  group->all_reduce_sum(t);
  EXPECT_TRUE(torch::equal(t, torch::full({5}, g * (parity + 1) + g * (g - 1), torch::kInt64)));
  // Groups work independently of their parent, and their failures are exceptions too.
  world_.reset();
  EXPECT_EQ(group->all_gather(static_cast<double>(r_)).size(), static_cast<size_t>(g));
  torch::Tensor b = torch::zeros({1});
  EXPECT_THROW(group->broadcast(b, /*root=*/g), MpiError);
}

TEST_F(MpiCommunicatorTest, SplitKeyOrdersRanksAndNoGroupGetsNull) {
  std::unique_ptr<Communicator> reversed = world_->split(/*color=*/0, /*key=*/-r_);
  ASSERT_NE(reversed, nullptr);
  EXPECT_EQ(reversed->rank(), n_ - 1 - r_);
  std::vector<double> world_ranks = reversed->all_gather(static_cast<double>(r_));
  for (int k = 0; k < n_; ++k) EXPECT_EQ(world_ranks[static_cast<size_t>(k)], n_ - 1 - k);

  std::unique_ptr<Communicator> without_zero = world_->split(r_ == 0 ? Communicator::kNoGroup : 7, r_);
  if (r_ == 0) {
    EXPECT_EQ(without_zero, nullptr);
  } else {
    ASSERT_NE(without_zero, nullptr);
    EXPECT_EQ(without_zero->size(), n_ - 1);
    EXPECT_EQ(without_zero->rank(), r_ - 1);
    EXPECT_DOUBLE_EQ(without_zero->all_reduce_sum(static_cast<double>(r_)), n_ * (n_ - 1) / 2.0);
  }
}

TEST_F(MpiCommunicatorTest, AsyncAllReduceMatchesBlocking) {
  constexpr int64_t kElements = 10'000'000;
  // Element i of rank r is (i mod 7)(r+1): small integers, so every summation order gives exactly
  // (i mod 7) n(n+1)/2, and the blocking and non-blocking algorithms must agree bit for bit.
  torch::Tensor pattern = torch::arange(kElements, torch::kInt64).remainder(7).to(torch::kFloat32);
  torch::Tensor blocking = pattern * static_cast<float>(r_ + 1);
  torch::Tensor async = blocking.clone();
  std::unique_ptr<Work> work = world_->all_reduce_sum_async(async);
  world_->all_reduce_sum(blocking);  // another collective may run while the first is in flight
  work->wait();
  EXPECT_TRUE(work->is_completed());
  EXPECT_TRUE(torch::equal(async, blocking));
  EXPECT_TRUE(torch::equal(async, pattern * static_cast<float>(n_ * (n_ + 1) / 2)));
}

TEST_F(MpiCommunicatorTest, ManyAsyncAllReducesCompleteInAnyOrder) {
  // Like gradient buckets: launched in the same order everywhere, finished in reverse, one by polling.
  std::vector<torch::Tensor> buckets;
  std::vector<std::unique_ptr<Work>> works;
  for (int b = 0; b < 4; ++b) {
    buckets.push_back(torch::full({1000 * (b + 1)}, (b + 1) * (r_ + 1), b % 2 ? torch::kFloat64 : torch::kInt32));
    works.push_back(world_->all_reduce_sum_async(buckets.back()));
  }
  while (!works[0]->is_completed()) {
  }
  for (int b = 3; b >= 1; --b) works[static_cast<size_t>(b)]->wait();
  for (int b = 0; b < 4; ++b) {
    EXPECT_TRUE(torch::equal(buckets[static_cast<size_t>(b)],
                             torch::full({1000 * (b + 1)}, (b + 1) * n_ * (n_ + 1) / 2, buckets[static_cast<size_t>(b)].dtype())))
        << "bucket " << b;
  }
}

TEST_F(MpiCommunicatorTest, PlainValueHelpers) {
  EXPECT_DOUBLE_EQ(world_->all_reduce_sum(r_ + 1.0), n_ * (n_ + 1) / 2.0);
  EXPECT_DOUBLE_EQ(world_->all_reduce_max(1.5 * r_), 1.5 * (n_ - 1));
  std::vector<double> squares = world_->all_gather(static_cast<double>(r_ * r_));
  ASSERT_EQ(squares.size(), static_cast<size_t>(n_));
  for (int k = 0; k < n_; ++k) EXPECT_DOUBLE_EQ(squares[static_cast<size_t>(k)], k * k);
}

TEST_F(MpiCommunicatorTest, BroadcastString) {
  if (n_ < 2) GTEST_SKIP() << "needs 2 ranks";
  const std::string from_one("config from rank 1\0with a NUL byte", 34);
  EXPECT_EQ(world_->broadcast_string(r_ == 1 ? from_one : "ignored on rank " + std::to_string(r_), 1), from_one);
  EXPECT_EQ(world_->broadcast_string(r_ == 0 ? "" : "not empty", 0), "");
}

TEST_F(MpiCommunicatorTest, BarrierWaitsForTheSlowestRank) {
  if (n_ < 2) GTEST_SKIP() << "needs 2 ranks";
  world_->barrier();  // start together
  auto start = std::chrono::steady_clock::now();
  if (r_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  world_->barrier();
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(waited, 0.2);
}

TEST_F(MpiCommunicatorTest, InvalidRootThrowsNamingTheRank) {
  torch::Tensor t = torch::zeros({4});
  try {
    world_->broadcast(t, /*root=*/n_);
    FAIL() << "broadcast to root " << n_ << " of " << n_ << " ranks did not throw";
  } catch (const MpiError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("MPI_Bcast"), std::string::npos) << what;
    EXPECT_NE(what.find("rank " + std::to_string(r_) + " "), std::string::npos) << what;
    EXPECT_NE(what.find(host_name()), std::string::npos) << what;
    EXPECT_NE(what.find("MPI_ERR_ROOT"), std::string::npos) << what;
  }
  EXPECT_THROW(world_->broadcast_string("x", -1), MpiError);
  EXPECT_DOUBLE_EQ(world_->all_reduce_sum(1.0), n_);  // still usable
}

TEST_F(MpiCommunicatorTest, BadTensorsAreRejectedBeforeCommunicating) {
  torch::Tensor flags = torch::zeros({3}, torch::kBool);
  EXPECT_THROW(world_->all_reduce_sum(flags), std::invalid_argument);
  torch::Tensor half = torch::zeros({3}, torch::kFloat16);
  EXPECT_THROW(world_->all_gather(half), std::invalid_argument);
  torch::Tensor strided = torch::zeros({4, 3}).t();
  EXPECT_THROW(world_->all_reduce_sum(strided), std::invalid_argument);
  EXPECT_THROW(world_->broadcast(strided, 0), std::invalid_argument);
  torch::Tensor undefined;
  EXPECT_THROW(world_->all_reduce_sum_async(undefined), std::invalid_argument);
}

TEST_F(MpiCommunicatorTest, CpuModelTensorsGoOverTheMpiWorld) {
  for (const char* backend : {"auto", "mpi"}) {
    ModelCommunicator m = model_communicator(*world_, c10::Device(c10::kCPU), backend);
    EXPECT_EQ(m.comm, world_.get()) << backend;
    EXPECT_EQ(m.backend, "mpi") << backend;
  }
  EXPECT_THROW(model_communicator(*world_, c10::Device(c10::kCPU), "nccl"), UserError);
}

TEST_F(MpiCommunicatorTest, HostStagedCollectivesMatchTheMpiOnes) {
  // The staging path of train.backend=mpi on CUDA, forced on CPU tensors: each result must equal the
  // plain MPI collective's, computed by formula (rank r holds r + 1 + i/10).
  HostStagedCommunicator staged(*world_, /*always_stage=*/true);
  const int n = world_->size(), r = world_->rank();
  torch::Tensor t = torch::arange(5, torch::kDouble) / 10 + (r + 1);
  staged.all_reduce_sum(t);
  for (int64_t i = 0; i < 5; ++i) EXPECT_DOUBLE_EQ(t[i].item<double>(), n * (n + 1) / 2.0 + n * (i / 10.0)) << i;
  torch::Tensor m = torch::full({3}, static_cast<double>(r));
  staged.all_reduce_max(m);
  EXPECT_DOUBLE_EQ(m[2].item<double>(), n - 1);
  torch::Tensor a = torch::full({4}, static_cast<float>(r + 1));
  auto work = staged.all_reduce_sum_async(a);
  EXPECT_FLOAT_EQ(a[0].item<float>(), static_cast<float>(r + 1));  // unchanged until wait()
  work->wait();
  EXPECT_FLOAT_EQ(a[3].item<float>(), n * (n + 1) / 2.0f);
  torch::Tensor b = torch::full({2}, static_cast<int64_t>(r == n - 1 ? 42 : -1));
  staged.broadcast(b, n - 1);
  EXPECT_EQ(b[1].item<int64_t>(), 42);
  torch::Tensor rows = torch::full({r + 1, 2}, static_cast<float>(r));
  torch::Tensor all = staged.all_gatherv(rows);
  EXPECT_EQ(all.size(0), n * (n + 1) / 2);
  EXPECT_FLOAT_EQ(all[all.size(0) - 1][1].item<float>(), static_cast<float>(n - 1));
}

TEST(MpiCheck, MessageNamesCallLocationRankHostAndMpiText) {
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  try {
    MPI_CHECK(MPI_ERR_TRUNCATE);
    FAIL() << "MPI_CHECK did not throw";
  } catch (const MpiError& e) {
    std::string what = e.what();
    EXPECT_EQ(e.code(), MPI_ERR_TRUNCATE);
    EXPECT_NE(what.find("MPI_ERR_TRUNCATE failed on rank " + std::to_string(rank) + " (host " + host_name() + ")"),
              std::string::npos) << what;
    EXPECT_NE(what.find("comm/test_mpi_communicator.cpp:"), std::string::npos) << what;
    EXPECT_NE(what.find("truncated"), std::string::npos) << what;
  }
  EXPECT_NO_THROW(MPI_CHECK(MPI_SUCCESS));
}

TEST(NcclFactory, WithoutTheBackendSaysHowToGetIt) {
  if (nccl_backend_available()) GTEST_SKIP() << "built with the NCCL backend";
  try {
    make_nccl_communicator(MPI_COMM_WORLD, /*device=*/0);
    FAIL() << "make_nccl_communicator returned without the NCCL backend";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("HINT: rebuild with -DCXR_WITH_NCCL=ON"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cxr::comm
