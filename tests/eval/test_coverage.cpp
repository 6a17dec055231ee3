// Coverage of the 95 % AUROC intervals (issue 11): 500 simulated test sets with patient clustering, whose
// true AUROC is known in closed form, each given a DeLong interval and a patient-level bootstrap interval;
// each must cover the truth in 93-97 % of the sets; and the paired DeLong test's level under small shared
// perturbations (below). Slow (label `slow`): ~1,000,000 bootstrap sweeps.
//
// The model: 400 patients with 1-4 films each (mean 2.5); a patient effect u ~ N(0, 0.6^2) shared by the
// patient's films and a film effect e ~ N(0, 1); a film is positive with probability 0.25, independently
// of u, and its score is u + e + 1.0 * label. Marginally positives ~ N(1, 1.36) and negatives ~ N(0, 1.36),
// so the true AUROC is Phi(1 / sqrt(2 * 1.36)).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "eval/bootstrap.h"
#include "eval/delong.h"

using namespace cxr::eval;

TEST(Coverage, DelongAndClusterBootstrapCoverTheTrueAurocIn93To97Percent) {
  constexpr int kSets = 500, kPatients = 400;
  constexpr double kSigmaU = 0.6, kShift = 1.0, kPrevalence = 0.25;
  const double truth = 0.5 * std::erfc(-(kShift / std::sqrt(2 * (1 + kSigmaU * kSigmaU))) / std::sqrt(2.0));
  int delong_hits = 0, boot_hits = 0, sets = 0;
  double delong_width = 0, boot_width = 0;
  for (int set = 0; set < kSets; ++set) {
    std::mt19937_64 rng(1000 + static_cast<uint64_t>(set));
    std::normal_distribution<double> normal;
    std::uniform_int_distribution<int> films(1, 4);
    std::vector<double> scores;
    std::vector<uint8_t> labels;
    std::vector<int64_t> patient;
    for (int p = 0; p < kPatients; ++p) {
      const double u = kSigmaU * normal(rng);
      for (int f = films(rng); f > 0; --f) {
        const uint8_t y = std::uniform_real_distribution<double>()(rng) < kPrevalence;
        scores.push_back(u + normal(rng) + kShift * y);
        labels.push_back(y);
        patient.push_back(p);
      }
    }
    const auto ci = delong_ci(scores, labels, 0.05);
    ASSERT_TRUE(ci.has_value());
    BootstrapOptions o;
    o.resamples = 2000;
    o.seed = static_cast<uint64_t>(set);
    const BootstrapAuroc b = cluster_bootstrap_auroc(scores, labels, 1, patient, o);
    const auto pi = percentile_interval(b.per_class[0], 0.05);
    ASSERT_TRUE(pi.has_value());
    delong_hits += ci->lo <= truth && truth <= ci->hi;
    boot_hits += pi->first <= truth && truth <= pi->second;
    delong_width += ci->hi - ci->lo;
    boot_width += pi->second - pi->first;
    ++sets;
  }
  const double delong_cov = 100.0 * delong_hits / sets, boot_cov = 100.0 * boot_hits / sets;
  std::printf("true AUROC %.4f; %d sets: DeLong covers %.1f %% (mean width %.4f), cluster bootstrap %.1f %% (%.4f)\n",
              truth, sets, delong_cov, delong_width / sets, boot_cov, boot_width / sets);
  EXPECT_GE(delong_cov, 93.0);
  EXPECT_LE(delong_cov, 97.0);
  EXPECT_GE(boot_cov, 93.0);
  EXPECT_LE(boot_cov, 97.0);
}

// The paired DeLong test of the robustness probes (eval/robustness.cpp) holds its level where it is used: two
// scorings of the same images that differ by a small label-independent perturbation and have the same expected
// AUROC (a = s + d, b = s + d' with d, d' i.i.d., s the shared signal), with few positives (31 of 1,286, like the
// phantom's test Cardiomegaly) and with many. At alpha = 0.05 it must reject in 3-7 % of 2,000 sets.
TEST(Coverage, PairedDelongHoldsItsLevelForSmallSharedPerturbations) {
  constexpr int kSets = 2000, kImages = 1286;
  for (const int positives : {31, 300}) {
    for (const double jitter : {0.02, 0.1}) {
      int rejected = 0, tested = 0;
      for (int set = 0; set < kSets; ++set) {
        std::mt19937_64 rng(7000 + static_cast<uint64_t>(set));
        std::normal_distribution<double> normal;
        std::vector<double> a(kImages), b(kImages);
        std::vector<uint8_t> y(kImages, 0);
        for (int i = 0; i < kImages; ++i) {
          y[static_cast<size_t>(i)] = i < positives;
          const double s = normal(rng) + 0.95 * y[static_cast<size_t>(i)];
          a[static_cast<size_t>(i)] = s + jitter * normal(rng);
          b[static_cast<size_t>(i)] = s + jitter * normal(rng);
        }
        if (auto t = delong_paired(a, b, y)) {
          ++tested;
          rejected += t->p_value < 0.05;
        }
      }
      const double rate = static_cast<double>(rejected) / tested;
      std::printf("paired DeLong, %d positives, jitter %.2f: rejects %.3f of %d null sets\n", positives, jitter, rate, tested);
      EXPECT_EQ(tested, kSets);
      EXPECT_GE(rate, 0.03) << positives << " positives, jitter " << jitter;
      EXPECT_LE(rate, 0.07) << positives << " positives, jitter " << jitter;
    }
  }
}
