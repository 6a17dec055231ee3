// The α–β scaling model (launch/scaling_model.h) against values computed by hand from the closed forms:
// ring all-reduce times, the hierarchical split, bucket-overlap timelines with known answers, the
// crossover rank count, monotonicity in p, and the least-squares fit of α and β.
#include <gtest/gtest.h>

#include <cmath>

#include "launch/scaling_model.h"

namespace cxr::launch {
namespace {

Network flat(double alpha_s, double bytes_per_s) { return custom_network("test", "", Link{alpha_s, bytes_per_s}); }

TEST(RingAllReduce, ClosedForm) {
  // 1 MB on 4 ranks, α = 1 µs, 1 GB/s: 2·3·1 µs + 2·(3/4)·1e6 / 1e9 s = 6 µs + 1.5 ms.
  EXPECT_NEAR(ring_allreduce_seconds(1e6, 4, Link{1e-6, 1e9}), 1.506e-3, 1e-12);
  // 2 ranks: 2·1·α + 2·(1/2)·n·β = 2α + nβ.
  EXPECT_NEAR(ring_allreduce_seconds(5e5, 2, Link{2e-6, 1e9}), 4e-6 + 5e-4, 1e-12);
  // 1024 ranks, 25 MB on NDR (5 µs, 50 GB/s): 2·1023·5 µs + 2·(1023/1024)·25e6/50e9.
  EXPECT_NEAR(ring_allreduce_seconds(25e6, 1024, Link{5e-6, 50e9}), 10.23e-3 + 0.999023438e-3, 1e-9);
  EXPECT_EQ(ring_allreduce_seconds(1e6, 1, Link{1e-6, 1e9}), 0.0);
  EXPECT_THROW(ring_allreduce_seconds(1e6, 0, Link{1e-6, 1e9}), std::invalid_argument);
}

TEST(RingAllReduce, Hierarchical) {
  Network h;
  h.intra = Link{0, 1e10};
  h.inter = Link{1e-5, 1e9};
  h.gpus_per_node = 8;
  // 8 MB on 16 GPUs = 2 nodes: inside 2·(7/8)·8e6/1e10 = 1.4 ms; across, 1 MB per GPU on 2 nodes:
  // 2·1·10 µs + 2·(1/2)·1e6/1e9 = 1.02 ms.
  EXPECT_NEAR(allreduce_seconds(8e6, 16, h), 1.4e-3 + 1.02e-3, 1e-12);
  // Inside one node only the NVLink ring.
  EXPECT_NEAR(allreduce_seconds(8e6, 8, h), 1.4e-3, 1e-12);
  EXPECT_NEAR(allreduce_seconds(8e6, 4, h), 2 * 0.75 * 8e6 / 1e10, 1e-12);
}

TEST(Presets, NumbersAndNames) {
  // NDR 400 Gb/s = 50 GB/s, HDR 200 Gb/s = 25 GB/s per port; NVLink 4: 900 GB/s both ways = 450 per direction.
  EXPECT_DOUBLE_EQ(network_preset("ib-ndr").inter.bytes_per_s, 400e9 / 8);
  EXPECT_DOUBLE_EQ(network_preset("ib-hdr").inter.bytes_per_s, 200e9 / 8);
  EXPECT_DOUBLE_EQ(network_preset("nvlink").inter.bytes_per_s, 900e9 / 2);
  EXPECT_EQ(network_preset("nvlink+ib-ndr").gpus_per_node, 8);
  for (const auto& n : network_preset_names()) EXPECT_NO_THROW(network_preset(n)) << n;
  EXPECT_THROW(network_preset("ethernet"), std::invalid_argument);
}

TEST(Overlap, HiddenExceptTheLastBucket) {
  // 4 equal buckets, backward 1 s: ready at 0.25, 0.5, 0.75, 1.0. At 2 ranks, α = 0, 10 B/s, 1 byte
  // each: T = 2·(1/2)·1/10 = 0.1 s. No queueing; only the last bucket's 0.1 s is exposed.
  StepProfile p{2.0, 1.0, {1, 1, 1, 1}};
  const Overlap o = simulate_overlap(p, 2, flat(0, 10));
  ASSERT_EQ(o.end_s.size(), 4u);
  EXPECT_NEAR(o.ready_s[0], 0.25, 1e-12);
  EXPECT_NEAR(o.start_s[2], 0.75, 1e-12);
  EXPECT_NEAR(o.end_s[3], 1.1, 1e-12);
  EXPECT_NEAR(o.exposed_s, 0.1, 1e-12);
  EXPECT_NEAR(o.in_flight_s, 0.85, 1e-12);
  EXPECT_NEAR(o.efficiency, 2.0 / 2.1, 1e-12);
}

TEST(Overlap, QueueingBehindSlowBuckets) {
  // Same buckets, 2 B/s: T = 0.5 s each. Starts 0.25, 0.75, 1.25, 1.75; last ends 2.25: 1.25 s exposed.
  StepProfile p{2.0, 1.0, {1, 1, 1, 1}};
  const Overlap o = simulate_overlap(p, 2, flat(0, 2));
  EXPECT_NEAR(o.start_s[1], 0.75, 1e-12);
  EXPECT_NEAR(o.start_s[3], 1.75, 1e-12);
  EXPECT_NEAR(o.exposed_s, 1.25, 1e-12);
  EXPECT_NEAR(o.comm_busy_s, 2.0, 1e-12);
  EXPECT_NEAR(o.in_flight_s, 2.0, 1e-12);
  EXPECT_NEAR(o.efficiency, 2.0 / 3.25, 1e-12);
}

TEST(Overlap, UnequalBucketsReadyByBytes) {
  // 3 + 1 bytes: ready at 0.75 and 1.0 s; T = 0.3 and 0.1 s at 10 B/s; the second waits until 1.05.
  StepProfile p{1.5, 1.0, {3, 1}};
  const Overlap o = simulate_overlap(p, 2, flat(0, 10));
  EXPECT_NEAR(o.ready_s[0], 0.75, 1e-12);
  EXPECT_NEAR(o.start_s[1], 1.05, 1e-12);
  EXPECT_NEAR(o.exposed_s, 0.15, 1e-12);
  // One rank: no communication, efficiency 1.
  const Overlap one = simulate_overlap(p, 1, flat(0, 10));
  EXPECT_EQ(one.exposed_s, 0.0);
  EXPECT_EQ(one.efficiency, 1.0);
  EXPECT_THROW(simulate_overlap(StepProfile{1.0, 2.0, {1}}, 2, flat(0, 10)), std::invalid_argument);
}

TEST(Overlap, StrongScalingDividesCompute) {
  const StepProfile s = strong_scaling_profile(StepProfile{0.8, 0.4, {5, 6}}, 4);
  EXPECT_DOUBLE_EQ(s.compute_s, 0.2);
  EXPECT_DOUBLE_EQ(s.backward_s, 0.1);
  EXPECT_EQ(s.bucket_bytes, (std::vector<double>{5, 6}));
}

TEST(Predict, MonotonicInRanks) {
  // A ResNet-50-like step: 94 MB in four ~25 MB buckets, 100 ms compute of which 66 ms backward.
  const StepProfile p{0.100, 0.066, {2.5e7, 2.5e7, 2.5e7, 1.9e7}};
  for (const auto& name : network_preset_names()) {
    const auto pred = predict(p, powers_of_two(1, 1024), network_preset(name));
    ASSERT_EQ(pred.size(), 11u);
    EXPECT_EQ(pred.front().overlap.efficiency, 1.0) << name;
    for (size_t i = 1; i < pred.size(); ++i) {
      EXPECT_LE(pred[i].overlap.efficiency, pred[i - 1].overlap.efficiency + 1e-15) << name << " p=" << pred[i].ranks;
      EXPECT_GE(pred[i].overlap.exposed_s, pred[i - 1].overlap.exposed_s - 1e-15) << name << " p=" << pred[i].ranks;
    }
  }
}

TEST(Predict, CrossoverRankCount) {
  // One 1-byte bucket, latency only: exposed = 2(p−1)·1 ms. 5 % of a 1 s step = 50 ms < 2(p−1) ms
  // first when p > 26: among powers of two, 32.
  const StepProfile p{1.0, 1.0, {1}};
  const auto pred = predict(p, powers_of_two(1, 1024), flat(1e-3, 1e12));
  const auto at = first_exposed(pred, 0.05);
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(*at, 32);
  EXPECT_FALSE(first_exposed(predict(p, {1, 2, 4, 8, 16}, flat(1e-3, 1e12)), 0.05).has_value());
  EXPECT_EQ(powers_of_two(8, 1024), (std::vector<int>{8, 16, 32, 64, 128, 256, 512, 1024}));
}

TEST(Fit, RecoversAlphaAndBandwidth) {
  const Link truth{3e-6, 4e9};
  std::vector<Timing> t;
  for (double n : {4096.0, 65536.0, 1048576.0, 4194304.0}) t.push_back({n, ring_allreduce_seconds(n, 2, truth)});
  const Link fit = fit_ring_link(t, 2);
  EXPECT_NEAR(fit.alpha_s, 3e-6, 1e-12);
  EXPECT_NEAR(fit.bytes_per_s, 4e9, 1e-3);
  // Timings that imply a negative latency: α clamps to 0 and β is fitted through the origin.
  const Link clamped = fit_ring_link({{1000, 0.5e-6}, {2000, 2e-6}}, 2);
  EXPECT_EQ(clamped.alpha_s, 0.0);
  // β = Σ w y t / Σ w y², y = n at p = 2, w = 1/t²: w = 4e12 and 2.5e11, so
  // (4e12·1000·0.5e-6 + 2.5e11·2000·2e-6) / (4e12·1000² + 2.5e11·2000²) = 3e9 / 5e18 = 6e-10 s/B.
  EXPECT_NEAR(1 / clamped.bytes_per_s, 6e-10, 1e-20);
  EXPECT_THROW(fit_ring_link(t, 1), std::invalid_argument);
  EXPECT_THROW(fit_ring_link({{1000, 1e-6}, {1000, 2e-6}}, 2), std::invalid_argument);
}

TEST(Fit, LatencyToExposed) {
  // One 1-byte bucket at the end of backward: exposed = 2(p−1)α + 2((p−1)/p)/bandwidth. At p = 2 and 1e12
  // B/s, exposed 10 ms needs α = (10 ms − 1e-12 s) / 2.
  const StepProfile p{1.0, 1.0, {1}};
  EXPECT_NEAR(fit_latency_to_exposed(p, 2, 1e12, 0.010).alpha_s, (0.010 - 1e-12) / 2, 1e-12);
  // At p = 4: 6α + 1.5e-12 = 30 ms.
  EXPECT_NEAR(fit_latency_to_exposed(p, 4, 1e12, 0.030).alpha_s, (0.030 - 1.5e-12) / 6, 1e-12);
  // Bandwidth alone already exposes more (1 byte at 1 B/s = 1 s): α = 0.
  EXPECT_EQ(fit_latency_to_exposed(p, 2, 1.0, 0.5).alpha_s, 0.0);
}

}  // namespace
}  // namespace cxr::launch
