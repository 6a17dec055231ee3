// DistributedSampler: coverage and disjointness across ranks for both tails, equal batch counts on
// every rank, determinism by (seed, epoch), and permutations frozen from an independent splitmix64
// so a silent change of the generator (which would change every run's data order) is caught.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <set>
#include <stdexcept>
#include <vector>

#include "data/sampler.h"

using cxr::data::DistributedSampler;
using cxr::data::SamplerOptions;
using cxr::data::TailPolicy;

namespace {

SamplerOptions make(int64_t n, int world, int rank, int64_t b, TailPolicy tail, uint64_t seed = 1,
                    bool shuffle = true) {
  SamplerOptions o;
  o.dataset_size = n;
  o.world_size = world;
  o.rank = rank;
  o.batch_per_rank = b;
  o.tail = tail;
  o.seed = seed;
  o.shuffle = shuffle;
  return o;
}

// Independent reference: splitmix64 as published (Vigna, prng.di.unimi.it/splitmix64.c), the
// generator state documented in sampler.h, textbook Fisher-Yates with rejection sampling.
uint64_t ref_next(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  return z ^ (z >> 31);
}
uint64_t ref_finalise(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  return z ^ (z >> 31);
}
std::vector<int64_t> ref_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  uint64_t state = ref_finalise(ref_finalise(seed) ^ static_cast<uint64_t>(epoch));
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  for (int64_t i = n - 1; i > 0; --i) {
    const auto bound = static_cast<uint64_t>(i + 1);
    const uint64_t threshold = (~bound + 1) % bound;
    uint64_t r;
    do r = ref_next(state);
    while (r < threshold);
    std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(r % bound)]);
  }
  return p;
}

}  // namespace

TEST(SplitMix64, MatchesPublishedOutputs) {
  // First outputs for seed 1234567, as listed for the reference implementation (and Java's
  // SplittableRandom, which uses the same mixer).
  cxr::data::SplitMix64 rng(1234567);
  EXPECT_EQ(rng.next(), 6457827717110365317ull);
  EXPECT_EQ(rng.next(), 3203168211198807973ull);
  EXPECT_EQ(rng.next(), 9817491932198370423ull);
  EXPECT_EQ(rng.next(), 4593380528125082431ull);
  EXPECT_EQ(rng.next(), 16408922859458223821ull);
}

TEST(SplitMix64, BelowStaysInRangeAndHitsEveryValue) {
  cxr::data::SplitMix64 rng(9);
  std::vector<int> seen(7, 0);
  for (int i = 0; i < 7000; ++i) ++seen[rng.below(7)];
  for (int count : seen) EXPECT_GT(count, 850);  // 1000 expected; 5 sigma is ~150
}

TEST(Sampler, FrozenPermutations) {
  // Frozen from this Python transcription of the documented formulas (not from the code under test):
  //   M = 2**64 - 1
  //   def fin(z): z = ((z ^ z >> 30) * 0xBF58476D1CE4E5B9) & M; z = ((z ^ z >> 27) * 0x94D049BB133111EB) & M
  //               return z ^ z >> 31
  //   def perm(n, seed, epoch):
  //     s, p = fin(fin(seed) ^ epoch), list(range(n))
  //     for i in range(n - 1, 0, -1):
  //       b = i + 1
  //       while True:
  //         s = (s + 0x9E3779B97F4A7C15) & M; r = fin(s)
  //         if r >= (2**64 - b) % b: break
  //       j = r % b; p[i], p[j] = p[j], p[i]
  //     return p
  auto perm = [](int64_t n, uint64_t seed, int64_t epoch) {
    return DistributedSampler(make(n, 1, 0, 1, TailPolicy::Drop, seed)).permutation(epoch);
  };
  EXPECT_EQ(perm(10, 42, 0), (std::vector<int64_t>{2, 8, 9, 7, 1, 4, 6, 0, 5, 3}));
  EXPECT_EQ(perm(10, 42, 1), (std::vector<int64_t>{3, 1, 6, 8, 4, 5, 9, 7, 2, 0}));
  EXPECT_EQ(perm(10, 7, 0), (std::vector<int64_t>{0, 9, 5, 2, 7, 4, 8, 6, 1, 3}));
  EXPECT_EQ(perm(16, 2024, 5), (std::vector<int64_t>{5, 7, 12, 15, 2, 8, 6, 11, 4, 10, 13, 9, 14, 0, 1, 3}));
}

TEST(Sampler, MatchesIndependentReference) {
  for (int64_t n : {1, 2, 3, 97, 1000}) {
    for (uint64_t seed : {0ull, 1ull, 0xFFFFFFFFFFFFFFFFull}) {
      for (int64_t epoch : {0, 1, 17}) {
        EXPECT_EQ(DistributedSampler(make(n, 2, 1, 3, TailPolicy::Pad, seed)).permutation(epoch),
                  ref_permutation(n, seed, epoch))
            << "n=" << n << " seed=" << seed << " epoch=" << epoch;
      }
    }
  }
}

TEST(Sampler, CoverageAndDisjointnessAcrossRanks) {
  for (int64_t n : {1, 7, 97, 1000}) {
    for (int world = 1; world <= 5; ++world) {
      for (int64_t b : {1, 3, 8}) {
        for (TailPolicy tail : {TailPolicy::Drop, TailPolicy::Pad}) {
          SCOPED_TRACE(::testing::Message() << "n=" << n << " world=" << world << " b=" << b
                                            << (tail == TailPolicy::Drop ? " drop" : " pad"));
          const int64_t g = world * b;
          const int64_t expected_batches = tail == TailPolicy::Drop ? n / g : (n + g - 1) / g;
          const int64_t epoch = 3;
          std::vector<int64_t> perm = DistributedSampler(make(n, world, 0, b, tail)).permutation(epoch);
          std::multiset<int64_t> valid_rows;
          int64_t invalid = 0;
          for (int rank = 0; rank < world; ++rank) {
            DistributedSampler s(make(n, world, rank, b, tail));
            ASSERT_EQ(s.batches_per_epoch(), expected_batches);  // the same on every rank
            const auto plan = s.plan(epoch);
            std::vector<int64_t> idx;
            std::vector<uint8_t> ok;
            for (int64_t k = 0; k < plan.batches(); ++k) {
              plan.batch(k, idx, ok);
              ASSERT_EQ(idx.size(), static_cast<size_t>(b));
              ASSERT_EQ(ok.size(), static_cast<size_t>(b));
              for (int64_t i = 0; i < b; ++i) {
                const int64_t pos = k * g + rank * b + i;  // contiguous slice of the global batch
                EXPECT_EQ(idx[i], perm[pos % n]);
                EXPECT_EQ(ok[i] != 0, pos < n);
                ASSERT_GE(idx[i], 0);
                ASSERT_LT(idx[i], n);
                if (ok[i]) valid_rows.insert(idx[i]);
                else ++invalid;
              }
            }
          }
          const std::set<int64_t> distinct(valid_rows.begin(), valid_rows.end());
          EXPECT_EQ(distinct.size(), valid_rows.size()) << "a row was read twice as valid";
          if (tail == TailPolicy::Drop) {
            EXPECT_EQ(static_cast<int64_t>(valid_rows.size()), (n / g) * g);
            EXPECT_EQ(invalid, 0);
          } else {
            EXPECT_EQ(static_cast<int64_t>(valid_rows.size()), n);  // every row exactly once
            EXPECT_EQ(invalid, expected_batches * g - n);           // and only the padding is flagged
          }
        }
      }
    }
  }
}

TEST(Sampler, DeterministicBySeedAndEpoch) {
  DistributedSampler a(make(500, 3, 2, 4, TailPolicy::Drop, 11));
  DistributedSampler b(make(500, 3, 2, 4, TailPolicy::Drop, 11));
  DistributedSampler c(make(500, 3, 2, 4, TailPolicy::Drop, 12));
  EXPECT_EQ(a.permutation(4), b.permutation(4));
  EXPECT_NE(a.permutation(4), a.permutation(5));
  EXPECT_NE(a.permutation(4), c.permutation(4));
  std::vector<int64_t> i1, i2;
  std::vector<uint8_t> v1, v2;
  a.batch(4, 7, i1, v1);
  b.plan(4).batch(7, i2, v2);
  EXPECT_EQ(i1, i2);
  EXPECT_EQ(v1, v2);
}

TEST(Sampler, DroppedTailChangesWithEpoch) {
  // 100 rows, G = 16: 4 rows are skipped each epoch, and not always the same ones.
  DistributedSampler s(make(100, 2, 0, 8, TailPolicy::Drop, 5));
  auto dropped = [&](int64_t epoch) {
    auto p = s.permutation(epoch);
    return std::set<int64_t>(p.begin() + 96, p.end());
  };
  EXPECT_EQ(dropped(0).size(), 4u);
  EXPECT_NE(dropped(0), dropped(1));
}

TEST(Sampler, NoShuffleIsIdentityOrder) {
  DistributedSampler s(make(10, 2, 1, 2, TailPolicy::Pad, 99, /*shuffle=*/false));
  EXPECT_EQ(s.permutation(7), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  std::vector<int64_t> idx;
  std::vector<uint8_t> ok;
  s.batch(7, 2, idx, ok);  // global batch 2 covers positions 8..11; rank 1 takes 10, 11 -> wrapped 0, 1
  EXPECT_EQ(idx, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(ok, (std::vector<uint8_t>{0, 0}));
}

TEST(Sampler, TooSmallDatasets) {
  EXPECT_EQ(DistributedSampler(make(0, 4, 0, 2, TailPolicy::Drop)).batches_per_epoch(), 0);
  EXPECT_EQ(DistributedSampler(make(0, 4, 0, 2, TailPolicy::Pad)).batches_per_epoch(), 0);
  EXPECT_EQ(DistributedSampler(make(7, 4, 0, 2, TailPolicy::Drop)).batches_per_epoch(), 0);
  // n = 1 with Pad: one batch, the single row repeated, valid only at position 0.
  DistributedSampler pad(make(1, 3, 2, 2, TailPolicy::Pad));
  ASSERT_EQ(pad.batches_per_epoch(), 1);
  std::vector<int64_t> idx;
  std::vector<uint8_t> ok;
  pad.batch(0, 0, idx, ok);
  EXPECT_EQ(idx, (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(ok, (std::vector<uint8_t>{0, 0}));
  EXPECT_THROW(pad.batch(0, 1, idx, ok), std::out_of_range);
}

TEST(Sampler, RejectsInvalidOptions) {
  EXPECT_THROW(DistributedSampler(make(-1, 1, 0, 1, TailPolicy::Drop)), std::invalid_argument);
  EXPECT_THROW(DistributedSampler(make(10, 0, 0, 1, TailPolicy::Drop)), std::invalid_argument);
  EXPECT_THROW(DistributedSampler(make(10, 2, 2, 1, TailPolicy::Drop)), std::invalid_argument);
  EXPECT_THROW(DistributedSampler(make(10, 2, -1, 1, TailPolicy::Drop)), std::invalid_argument);
  EXPECT_THROW(DistributedSampler(make(10, 2, 0, 0, TailPolicy::Drop)), std::invalid_argument);
}
