// GradientSynchronizer and the model-state collectives under mpirun (registered with 2 and 3 ranks).
// Expected gradients come from formulas in the rank r and world size n, or from each rank's own
// gradients computed without the synchroniser and all-gathered (a different code path); launches are
// observed through a recording Communicator that wraps the MPI one, not through the code under test.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <string>

#include "comm/gradient_sync.h"
#include "comm/mpi_runtime.h"

namespace cxr::comm {
namespace {

// Forwards to a real communicator and records what the synchroniser asks of it.
class RecordingCommunicator final : public Communicator {
 public:
  explicit RecordingCommunicator(Communicator& inner) : inner_(inner) {}
  using Communicator::all_gather;
  using Communicator::all_reduce_max;
  using Communicator::all_reduce_sum;

  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  void barrier() override { inner_.barrier(); }
  void all_reduce_sum(at::Tensor& t) override { inner_.all_reduce_sum(t); }
  void all_reduce_max(at::Tensor& t) override { inner_.all_reduce_max(t); }
  std::unique_ptr<Work> all_reduce_sum_async(at::Tensor& t) override {
    launched_numels.push_back(t.numel());
    return std::make_unique<RecordingWork>(inner_.all_reduce_sum_async(t), this);
  }
  void broadcast(at::Tensor& t, int root) override { inner_.broadcast(t, root); }
  at::Tensor all_gather(const at::Tensor& t) override { return inner_.all_gather(t); }
  at::Tensor all_gatherv(const at::Tensor& t) override { return inner_.all_gatherv(t); }
  std::unique_ptr<Communicator> split(int color, int key) override { return inner_.split(color, key); }
  [[noreturn]] void abort(int code) override {
    inner_.abort(code);
    std::abort();  // not reached: abort() does not return
  }

  std::vector<int64_t> launched_numels;  // numel of every async all-reduce, in launch order
  int64_t polls = 0;                     // is_completed() calls on those
  int64_t waits = 0;                     // wait() calls on those

 private:
  class RecordingWork final : public Work {
   public:
    RecordingWork(std::unique_ptr<Work> inner, RecordingCommunicator* owner) : inner_(std::move(inner)), owner_(owner) {}
    void wait() override {
      ++owner_->waits;
      inner_->wait();
    }
    bool is_completed() override {
      ++owner_->polls;
      return inner_->is_completed();
    }

   private:
    std::unique_ptr<Work> inner_;
    RecordingCommunicator* owner_;
  };
  Communicator& inner_;
};

class GradientSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    world_ = make_world_communicator(/*use_mpi=*/true);
    r_ = world_->rank();
    n_ = world_->size();
  }

  // The element-wise mean over ranks of `local`, computed in float64 from an all-gather.
  at::Tensor mean_over_ranks(const at::Tensor& local) {
    at::Tensor all = world_->all_gather(local.detach().to(torch::kFloat64).contiguous().reshape({1, -1}));
    return all.mean(0).view(local.sizes());
  }

  // Every rank holds a bit-identical `t`.
  void expect_identical_everywhere(const at::Tensor& t, const std::string& what) {
    at::Tensor all = world_->all_gather(t.detach().to(torch::kFloat64).contiguous().reshape({1, -1}));
    for (int k = 1; k < n_; ++k) EXPECT_TRUE(torch::equal(all[k], all[0])) << what << " differs on rank " << k;
  }

  std::unique_ptr<Communicator> world_;
  int r_ = 0;
  int n_ = 1;
};

torch::nn::Sequential make_mlp() {
  return torch::nn::Sequential(torch::nn::Linear(5, 7), torch::nn::Tanh(), torch::nn::Linear(7, 4), torch::nn::Tanh(),
                               torch::nn::Linear(4, 3));
}

void clear_grads(const std::vector<at::Tensor>& params) {
  for (const at::Tensor& p : params) {
    at::Tensor q = p;
    q.mutable_grad().reset();
  }
}

// Rank-dependent data: each rank computes its loss on different samples.
at::Tensor mlp_loss(torch::nn::Sequential& model, int rank) {
  torch::manual_seed(1000 + rank);
  at::Tensor x = torch::randn({6, 5});
  at::Tensor y = torch::randn({6, 3});
  return torch::mse_loss(model->forward(x), y);
}

at::Tensor leaf(std::vector<int64_t> shape, at::ScalarType dtype = torch::kFloat32) {
  return torch::ones(shape, torch::TensorOptions().dtype(dtype)).requires_grad_(true);
}

TEST_F(GradientSyncTest, GradientsBecomeTheAverageOfEveryRanksGradients) {
  for (int64_t bucket_bytes : {int64_t{1}, int64_t{64}, int64_t{200}, GradientSynchronizer::kDefaultBucketBytes}) {
    SCOPED_TRACE("bucket bytes " + std::to_string(bucket_bytes));
    torch::manual_seed(7 + r_);  // different on every rank until the broadcast
    torch::nn::Sequential model = make_mlp();
    broadcast_parameters_and_buffers(*world_, *model);
    std::vector<at::Tensor> params = model->parameters();

    // Reference: each rank's own gradients, without the synchroniser, averaged through an all-gather.
    mlp_loss(model, r_).backward();
    std::vector<at::Tensor> expected;
    for (const at::Tensor& p : params) expected.push_back(mean_over_ranks(p.grad()));
    clear_grads(params);

    GradientSynchronizer sync(*world_, params, bucket_bytes);
    for (int step = 0; step < 2; ++step) {  // the second step reuses the buckets
      clear_grads(params);
      mlp_loss(model, r_).backward();
      sync.finish();
      for (size_t i = 0; i < params.size(); ++i) {
        ASSERT_TRUE(params[i].grad().defined());
        EXPECT_EQ(params[i].grad().scalar_type(), torch::kFloat32);
        EXPECT_TRUE(torch::allclose(params[i].grad().to(torch::kFloat64), expected[i], /*rtol=*/1e-5, /*atol=*/1e-7))
            << "parameter " << i << " step " << step << "\n" << params[i].grad() << "\nexpected\n" << expected[i];
        expect_identical_everywhere(params[i].grad(), "gradient of parameter " + std::to_string(i));
      }
    }
  }
}

TEST_F(GradientSyncTest, BucketsFormInReverseParameterOrder) {
  // Parameters #0..#3: w1 [8,4] 128 B, b1 [8] 32 B, w2 [3,8] 96 B, b2 [3] 12 B (float32 buffers).
  auto make = [] { return std::vector<at::Tensor>{leaf({8, 4}), leaf({8}), leaf({3, 8}), leaf({3})}; };
  struct Case {
    int64_t bucket_bytes;
    std::vector<std::vector<size_t>> buckets;
    std::vector<int64_t> bytes;
  };
  const std::vector<Case> cases = {
      {GradientSynchronizer::kDefaultBucketBytes, {{3, 2, 1, 0}}, {268}},
      {150, {{3, 2, 1}, {0}}, {140, 128}},  // b2+w2+b1 = 140 fits; w1 would overflow it
      {120, {{3, 2}, {1}, {0}}, {108, 32, 128}},  // w1 (128 B) is larger than a bucket: a bucket of its own
      {1, {{3}, {2}, {1}, {0}}, {12, 96, 32, 128}},  // one parameter per bucket
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("bucket bytes " + std::to_string(c.bucket_bytes));
    GradientSynchronizer sync(*world_, make(), c.bucket_bytes);
    const std::vector<BucketLayout>& layout = sync.bucket_layout();
    ASSERT_EQ(layout.size(), c.buckets.size());
    for (size_t b = 0; b < layout.size(); ++b) {
      EXPECT_EQ(layout[b].params, c.buckets[b]) << "bucket " << b;
      EXPECT_EQ(layout[b].bytes, c.bytes[b]) << "bucket " << b;
      EXPECT_EQ(layout[b].numel, c.bytes[b] / 4) << "bucket " << b;
      EXPECT_EQ(layout[b].param_dtype, torch::kFloat32);
      EXPECT_EQ(layout[b].buffer_dtype, torch::kFloat32);
    }
  }
}

TEST_F(GradientSyncTest, FrozenParametersGetNoBucketAndKeepNoGradient) {
  std::vector<at::Tensor> params = {leaf({8, 4}), leaf({8}), leaf({3, 8}), leaf({3})};
  params[1].requires_grad_(false);
  {
    GradientSynchronizer one_each(*world_, params, /*bucket_bytes=*/1);
    ASSERT_EQ(one_each.bucket_layout().size(), 3u);
    EXPECT_EQ(one_each.bucket_layout()[0].params, (std::vector<size_t>{3}));
    EXPECT_EQ(one_each.bucket_layout()[1].params, (std::vector<size_t>{2}));
    EXPECT_EQ(one_each.bucket_layout()[2].params, (std::vector<size_t>{0}));
  }
  GradientSynchronizer sync(*world_, params);
  ASSERT_EQ(sync.bucket_layout().size(), 1u);
  EXPECT_EQ(sync.bucket_layout()[0].params, (std::vector<size_t>{3, 2, 0}));

  // loss = (r+1) * sum of every element of every parameter: each gradient is (r+1), averaged (n+1)/2.
  at::Tensor loss = torch::zeros({});
  for (const at::Tensor& p : params) loss = loss + p.sum();
  (loss * static_cast<float>(r_ + 1)).backward();
  sync.finish();
  EXPECT_FALSE(params[1].grad().defined());
  for (size_t i : {0, 2, 3}) {
    EXPECT_TRUE(torch::equal(params[i].grad(), torch::full(params[i].sizes(), (n_ + 1) / 2.0f))) << "parameter " << i;
  }
}

TEST_F(GradientSyncTest, FreezingOrUnfreezingAfterConstructionKeepsTheLayout) {
  // a was trainable at construction and is frozen later: it counts as zero and completes its bucket.
  // b was frozen at construction and is unfrozen later: it has no bucket; its gradient stays local.
  at::Tensor a = leaf({4});
  at::Tensor b = leaf({3});
  at::Tensor c = leaf({2});
  b.requires_grad_(false);
  for (int64_t bucket_bytes : {int64_t{1}, GradientSynchronizer::kDefaultBucketBytes}) {
    SCOPED_TRACE("bucket bytes " + std::to_string(bucket_bytes));
    clear_grads({a, b, c});
    GradientSynchronizer sync(*world_, {a, b, c}, bucket_bytes);
    a.requires_grad_(false);
    b.requires_grad_(true);
    ((a.sum() + b.sum() + c.sum()) * static_cast<float>(r_ + 1)).backward();
    sync.finish();
    ASSERT_TRUE(a.grad().defined());
    EXPECT_TRUE(torch::equal(a.grad(), torch::zeros({4})));
    EXPECT_TRUE(torch::equal(b.grad(), torch::full({3}, static_cast<float>(r_ + 1))));  // not averaged
    EXPECT_TRUE(torch::equal(c.grad(), torch::full({2}, (n_ + 1) / 2.0f)));
    a.requires_grad_(true);
    b.requires_grad_(false);
  }
}

TEST_F(GradientSyncTest, OutOfOrderReadinessStillLaunchesInBucketOrder) {
  // a [3] is registered first, b [5] second, so with one parameter per bucket bucket 0 holds b and
  // bucket 1 holds a. The forward uses b first and a last, so backward produces a's gradient first.
  at::Tensor a = leaf({3});
  at::Tensor b = leaf({5});
  RecordingCommunicator recorder(*world_);
  GradientSynchronizer sync(recorder, {a, b}, /*bucket_bytes=*/1);
  ASSERT_EQ(sync.bucket_layout().size(), 2u);
  ASSERT_EQ(sync.bucket_layout()[0].params, (std::vector<size_t>{1}));
  ASSERT_EQ(sync.bucket_layout()[1].params, (std::vector<size_t>{0}));

  std::vector<std::string> arrival;  // observed by the test's own hooks, registered after the synchroniser's
  a.register_hook([&](const at::Tensor&) { arrival.push_back("a"); });
  b.register_hook([&](const at::Tensor&) { arrival.push_back("b"); });

  at::Tensor x = torch::arange(1, 6, torch::kFloat32) * static_cast<float>(r_ + 1);  // (r+1)[1..5]
  at::Tensor s = (x * b).sum();
  (s * a).sum().backward();
  ASSERT_EQ(arrival, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(sync.ready_order(), (std::vector<size_t>{1, 0}));
  EXPECT_EQ(sync.launch_order(), (std::vector<size_t>{0, 1}));
  // Both launched during backward, b's bucket (5 elements) first.
  EXPECT_EQ(recorder.launched_numels, (std::vector<int64_t>{5, 3}));
  sync.finish();
  EXPECT_EQ(recorder.launched_numels.size(), 2u);

  // d/da = sum(x*b) = 15(r+1) per element; d/db = x * sum(a) = 3(r+1)[1..5]; the mean of r+1 is (n+1)/2.
  const float mean = (n_ + 1) / 2.0f;
  EXPECT_TRUE(torch::equal(a.grad(), torch::full({3}, 15.0f * mean)));
  EXPECT_TRUE(torch::equal(b.grad(), torch::arange(1, 6, torch::kFloat32) * (3.0f * mean)));
}

TEST_F(GradientSyncTest, BucketsLaunchDuringBackwardAndArePolledByLaterHooks) {
  torch::manual_seed(3);
  torch::nn::Sequential model = make_mlp();
  std::vector<at::Tensor> params = model->parameters();
  RecordingCommunicator recorder(*world_);
  GradientSynchronizer sync(recorder, params, /*bucket_bytes=*/1);
  ASSERT_EQ(sync.bucket_layout().size(), params.size());

  mlp_loss(model, r_).backward();
  // Every bucket was complete during backward, so every all-reduce started there ...
  EXPECT_EQ(recorder.launched_numels.size(), params.size());
  for (size_t b = 0; b < params.size(); ++b) {
    EXPECT_EQ(recorder.launched_numels[b], params[params.size() - 1 - b].numel()) << "launch " << b;
  }
  // ... and the buckets in flight were tested (progressed) from the hooks that followed.
  EXPECT_GT(recorder.polls, 0);
  EXPECT_EQ(recorder.waits, 0);
  sync.finish();

  const GradientSyncStats& step = sync.last_step();
  EXPECT_EQ(step.steps, 1);
  EXPECT_EQ(step.buckets, static_cast<int64_t>(params.size()));
  EXPECT_EQ(step.launched_in_backward, static_cast<int64_t>(params.size()));
  EXPECT_EQ(step.polls, recorder.polls);
  int64_t bytes = 0;
  for (const at::Tensor& p : params) bytes += 4 * p.numel();
  EXPECT_EQ(step.bytes, bytes);
  EXPECT_GE(step.comm_seconds, 0.0);
  EXPECT_GE(step.exposed_seconds, 0.0);

  clear_grads(params);
  mlp_loss(model, r_).backward();
  sync.finish();
  EXPECT_EQ(sync.total().steps, 2);
  EXPECT_EQ(sync.total().buckets, 2 * static_cast<int64_t>(params.size()));
  EXPECT_EQ(sync.total().bytes, 2 * bytes);
  EXPECT_EQ(recorder.launched_numels.size(), 2 * params.size());
}

TEST_F(GradientSyncTest, UnusedParametersCountAsZero) {
  // p is used on every rank, q only on rank 0, u on no rank. Gradient (r+1) where used.
  at::Tensor p = leaf({4});
  at::Tensor q = leaf({2, 3});
  at::Tensor u = leaf({5});
  for (int64_t bucket_bytes : {int64_t{1}, GradientSynchronizer::kDefaultBucketBytes}) {
    SCOPED_TRACE("bucket bytes " + std::to_string(bucket_bytes));
    clear_grads({p, q, u});
    GradientSynchronizer sync(*world_, {p, q, u}, bucket_bytes);
    (p.sum() + q.sum() + u.sum()).backward();  // a first step that uses everything fills every bucket
    sync.finish();
    clear_grads({p, q, u});
    at::Tensor loss = p.sum();
    if (r_ == 0) loss = loss + q.sum();
    (loss * static_cast<float>(r_ + 1)).backward();
    sync.finish();
    EXPECT_EQ(sync.last_step().buckets, static_cast<int64_t>(sync.bucket_layout().size()));
    EXPECT_TRUE(torch::equal(p.grad(), torch::full({4}, (n_ + 1) / 2.0f)));
    EXPECT_TRUE(torch::equal(q.grad(), torch::full({2, 3}, 1.0f / static_cast<float>(n_))));  // rank 0's 1, over n
    ASSERT_TRUE(u.grad().defined());
    EXPECT_TRUE(torch::equal(u.grad(), torch::zeros({5})));
  }
}

TEST_F(GradientSyncTest, SecondGradientForOneParameterThrowsAndFinishStillCompletes) {
  at::Tensor a = leaf({3});
  at::Tensor b = leaf({2});
  GradientSynchronizer sync(*world_, {a, b}, /*bucket_bytes=*/1);
  at::Tensor loss = (a.sum() + 2 * b.sum()) * static_cast<float>(r_ + 1);
  loss.backward({}, /*retain_graph=*/true);
  try {
    loss.backward();
    FAIL() << "a second backward before finish() did not throw";
  } catch (const std::exception& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("second gradient before finish()"), std::string::npos) << what;
    EXPECT_NE(what.find("parameter #"), std::string::npos) << what;
  }
  sync.finish();  // the buckets of the first backward complete; the next step is clean
  const float mean = (n_ + 1) / 2.0f;
  EXPECT_TRUE(torch::equal(a.grad(), torch::full({3}, mean)));
  EXPECT_TRUE(torch::equal(b.grad(), torch::full({2}, 2 * mean)));

  clear_grads({a, b});
  (a.sum() * 3.0f).backward();
  sync.finish();
  EXPECT_TRUE(torch::equal(a.grad(), torch::full({3}, 3.0f)));
  EXPECT_TRUE(torch::equal(b.grad(), torch::zeros({2})));  // unused this step
}

TEST_F(GradientSyncTest, BFloat16GradientsAreSummedInFloat) {
  // p (bfloat16) and w (float32) are registered alternately; buckets never mix dtypes.
  at::Tensor p = leaf({4}, torch::kBFloat16);
  at::Tensor w = leaf({4});
  at::Tensor p2 = leaf({2}, torch::kBFloat16);
  GradientSynchronizer sync(*world_, {p, w, p2});
  const std::vector<BucketLayout>& layout = sync.bucket_layout();
  ASSERT_EQ(layout.size(), 2u);
  EXPECT_EQ(layout[0].params, (std::vector<size_t>{2, 0}));
  EXPECT_EQ(layout[0].param_dtype, torch::kBFloat16);
  EXPECT_EQ(layout[0].buffer_dtype, torch::kFloat32);
  EXPECT_EQ(layout[0].bytes, 6 * 4);
  EXPECT_EQ(layout[1].params, (std::vector<size_t>{1}));
  EXPECT_EQ(layout[1].param_dtype, torch::kFloat32);

  // Rank 0's gradient is 256, every other rank's 1. Exact sum 256 + (n-1); a bfloat16 sum (8 significant
  // bits) would drop the 1s at 256 (n=3: 256 -> mean 85.5 instead of 86).
  const float c = r_ == 0 ? 256.0f : 1.0f;
  ((p.to(torch::kFloat32).sum() + w.sum() + p2.to(torch::kFloat32).sum()) * c).backward();
  sync.finish();
  const double mean = (256.0 + (n_ - 1)) / n_;
  ASSERT_EQ(p.grad().scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(p.grad(), torch::full({4}, mean, torch::kFloat64).to(torch::kBFloat16))) << p.grad();
  EXPECT_TRUE(torch::equal(p2.grad(), torch::full({2}, mean, torch::kFloat64).to(torch::kBFloat16))) << p2.grad();
  EXPECT_TRUE(torch::equal(w.grad(), torch::full({4}, mean, torch::kFloat64).to(torch::kFloat32))) << w.grad();
}

TEST_F(GradientSyncTest, DifferentLayoutsThrowOnEveryRank) {
  if (n_ < 2) GTEST_SKIP() << "needs 2 ranks";
  std::vector<at::Tensor> params = {leaf({8}), leaf({3})};
  if (r_ == 1) params[0].requires_grad_(false);
  try {
    GradientSynchronizer sync(*world_, params);
    FAIL() << "different layouts were accepted";
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("rank 1 has 1 buckets over 1 trainable parameters (3 elements"), std::string::npos) << what;
    EXPECT_NE(what.find("HINT:"), std::string::npos) << what;
  }
  // No hook was left behind: a backward on the unsynchronised tensors is plain autograd.
  params[1].sum().backward();
  EXPECT_TRUE(torch::equal(params[1].grad(), torch::ones({3})));
}

TEST_F(GradientSyncTest, InvalidParametersAreRejected) {
  at::Tensor a = leaf({2});
  EXPECT_THROW(GradientSynchronizer twice(*world_, {a, a}), std::invalid_argument);
  EXPECT_THROW(GradientSynchronizer empty_buckets(*world_, {a}, /*bucket_bytes=*/0), std::invalid_argument);
  EXPECT_THROW(GradientSynchronizer not_leaf(*world_, {a * 2}), std::invalid_argument);
}

// --- model state ----------------------------------------------------------------------------------

struct NetImpl : torch::nn::Module {
  NetImpl() {
    fc = register_module("fc", torch::nn::Linear(4, 3));
    bn = register_module("bn", torch::nn::BatchNorm1d(3));
    head = register_module("head", torch::nn::Linear(3, 2));
    head->to(torch::kBFloat16);  // a dtype the MPI backend cannot carry as is
  }
  torch::nn::Linear fc{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(Net);

// Built from `seed`, with rank-specific BN buffers, as rank `rank` would build it.
Net make_net(int seed, int rank) {
  torch::manual_seed(seed);
  Net net;
  torch::NoGradGuard no_grad;
  net->bn->running_mean.copy_(torch::arange(3, torch::kFloat32) + 10.0f * static_cast<float>(rank));
  net->bn->running_var.fill_(static_cast<float>((rank + 1) * (rank + 1)));
  net->bn->num_batches_tracked.fill_(5 + rank);
  return net;
}

void expect_same_state(Net& actual, Net& expected) {
  std::vector<at::Tensor> a = actual->parameters(), e = expected->parameters();
  for (const at::Tensor& b : actual->buffers()) a.push_back(b);
  for (const at::Tensor& b : expected->buffers()) e.push_back(b);
  ASSERT_EQ(a.size(), e.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].scalar_type(), e[i].scalar_type()) << "tensor " << i;
    EXPECT_TRUE(torch::equal(a[i], e[i])) << "tensor " << i << "\n" << a[i] << "\nexpected\n" << e[i];
  }
}

TEST_F(GradientSyncTest, BroadcastMakesDifferentlyInitialisedModelsIdentical) {
  for (int root = 0; root < std::min(n_, 2); ++root) {
    SCOPED_TRACE("root " + std::to_string(root));
    Net net = make_net(/*seed=*/100 + r_, r_);
    Net expected = make_net(/*seed=*/100 + root, root);  // what the root built, rebuilt here
    if (r_ != root) {
      ASSERT_FALSE(torch::equal(net->fc->weight, expected->fc->weight));  // the test can fail
    }
    broadcast_parameters_and_buffers(*world_, *net, root);
    expect_same_state(net, expected);
    EXPECT_TRUE(net->fc->weight.requires_grad());
  }
}

TEST_F(GradientSyncTest, AverageBuffersAveragesStatisticsAndTakesCountsFromRankZero) {
  Net net = make_net(/*seed=*/100 + r_, r_);
  at::Tensor weight_before = net->fc->weight.clone();
  average_buffers(*world_, *net);
  // running_mean of rank r is [0,1,2] + 10r: mean [0,1,2] + 5(n-1). running_var (r+1)^2: mean (n+1)(2n+1)/6.
  EXPECT_TRUE(torch::allclose(net->bn->running_mean, torch::arange(3, torch::kFloat32) + 5.0f * (n_ - 1)));
  EXPECT_TRUE(torch::allclose(net->bn->running_var, torch::full({3}, (n_ + 1) * (2 * n_ + 1) / 6.0f)));
  EXPECT_EQ(net->bn->num_batches_tracked.item<int64_t>(), 5);
  EXPECT_EQ(net->bn->num_batches_tracked.scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(net->fc->weight, weight_before));  // parameters untouched
  expect_identical_everywhere(net->bn->running_var, "running_var");
}

TEST_F(GradientSyncTest, ModelStateOfDifferentStructureThrowsOnEveryRank) {
  if (n_ < 2) GTEST_SKIP() << "needs 2 ranks";
  torch::nn::Linear model(4, r_ == 1 ? 5 : 3);
  try {
    broadcast_parameters_and_buffers(*world_, *model);
    FAIL() << "different models were accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 1 has 2 tensors of 25 elements"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cxr::comm
