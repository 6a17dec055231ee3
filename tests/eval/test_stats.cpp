// Evaluation statistics against independent references: scikit-learn (frozen by make_stats_fixture.py)
// for AUROC, average precision, Brier score and the calibration bins; DeLong's 1988 definition evaluated
// directly, O(m n), for the mid-rank variances and covariances; explicit replication for the weighted
// AUROC a bootstrap resample computes; formulas for operating points.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <random>

#include "eval/auroc.h"
#include "eval/average_precision.h"
#include "eval/bootstrap.h"
#include "eval/calibration.h"
#include "eval/delong.h"
#include "eval/operating_point.h"
#include "eval/roc_curve.h"

using namespace cxr::eval;

namespace {

nlohmann::json fixture() {
  std::ifstream in(std::string(CXR_SOURCE_DIR) + "/tests/eval/fixtures/stats_sklearn.json");
  EXPECT_TRUE(in.good());
  return nlohmann::json::parse(in);
}

// DeLong et al. 1988 as written: psi(x, y) = 1 if x > y, 1/2 if equal, 0 otherwise, over every pair.
struct Direct {
  double auc;
  std::vector<double> v10, v01;
};
Direct direct_components(const std::vector<double>& s, const std::vector<uint8_t>& y) {
  std::vector<double> pos, neg;
  for (size_t i = 0; i < s.size(); ++i) (y[i] ? pos : neg).push_back(s[i]);
  Direct d{0, std::vector<double>(pos.size(), 0.0), std::vector<double>(neg.size(), 0.0)};
  for (size_t i = 0; i < pos.size(); ++i) {
    for (size_t j = 0; j < neg.size(); ++j) {
      const double psi = pos[i] > neg[j] ? 1.0 : pos[i] == neg[j] ? 0.5 : 0.0;
      d.v10[i] += psi / static_cast<double>(neg.size());
      d.v01[j] += psi / static_cast<double>(pos.size());
      d.auc += psi / static_cast<double>(pos.size() * neg.size());
    }
  }
  return d;
}
double covariance(const std::vector<double>& a, const std::vector<double>& b) {
  double ma = 0, mb = 0, c = 0;
  for (size_t i = 0; i < a.size(); ++i) ma += a[i] / static_cast<double>(a.size());
  for (size_t i = 0; i < b.size(); ++i) mb += b[i] / static_cast<double>(b.size());
  for (size_t i = 0; i < a.size(); ++i) c += (a[i] - ma) * (b[i] - mb);
  return c / static_cast<double>(a.size() - 1);
}

std::pair<std::vector<double>, std::vector<uint8_t>> random_case(std::mt19937_64& rng, size_t n, int levels) {
  std::normal_distribution<double> z;
  std::vector<double> s(n);
  std::vector<uint8_t> y(n);
  for (size_t i = 0; i < n; ++i) {
    y[i] = rng() % 3 == 0;
    s[i] = z(rng) + (y[i] ? 0.9 : 0.0);
    if (levels) s[i] = std::round(s[i] * levels) / levels;
  }
  y[0] = 0;
  y[1] = 1;
  return {s, y};
}

}  // namespace

TEST(Stats, MatchScikitLearn) {
  const auto j = fixture();
  int cases = 0;
  for (const auto& c : j.at("cases")) {
    const auto s = c.at("scores").get<std::vector<double>>();
    const auto y = c.at("labels").get<std::vector<uint8_t>>();
    const auto n = c.at("n").get<int>();
    EXPECT_NEAR(*auroc(s, y), c.at("auroc").get<double>(), 1e-12) << n;
    EXPECT_NEAR(*average_precision(s, y), c.at("average_precision").get<double>(), 1e-12) << n;
    EXPECT_NEAR(brier_score(s, y), c.at("brier").get<double>(), 1e-12) << n;
    const Calibration cal = calibration(s, y, 15);
    EXPECT_NEAR(cal.ece, c.at("ece").get<double>(), 1e-12) << n;
    const auto counts = c.at("bin_counts").get<std::vector<int64_t>>();
    const auto prob_true = c.at("prob_true").get<std::vector<double>>();
    const auto prob_pred = c.at("prob_pred").get<std::vector<double>>();
    size_t nonempty = 0;
    for (size_t b = 0; b < 15; ++b) {
      EXPECT_EQ(cal.bins[b].count, counts[b]) << n << " bin " << b;
      if (cal.bins[b].count == 0) continue;
      EXPECT_NEAR(cal.bins[b].observed_rate, prob_true[nonempty], 1e-12);
      EXPECT_NEAR(cal.bins[b].mean_predicted, prob_pred[nonempty], 1e-12);
      ++nonempty;
    }
    EXPECT_EQ(nonempty, prob_true.size());
    // ROC curve: scikit-learn's points exactly, and its trapezoids give the mid-rank AUROC.
    const auto roc = roc_curve(s, y);
    ASSERT_TRUE(roc.has_value());
    const auto fpr = c.at("roc_fpr").get<std::vector<double>>(), tpr = c.at("roc_tpr").get<std::vector<double>>();
    const auto thr = c.at("roc_thresholds").get<std::vector<double>>();
    ASSERT_EQ(roc->fpr.size(), fpr.size()) << n;
    ASSERT_EQ(roc->threshold.size(), thr.size()) << n;
    double area = 0;
    for (size_t i = 0; i < fpr.size(); ++i) {
      EXPECT_NEAR(roc->fpr[i], fpr[i], 1e-12) << n << " point " << i;
      EXPECT_NEAR(roc->tpr[i], tpr[i], 1e-12) << n << " point " << i;
      if (i > 0) {
        EXPECT_EQ(roc->threshold[i - 1], thr[i - 1]) << n << " point " << i;
        area += (roc->fpr[i] - roc->fpr[i - 1]) * (roc->tpr[i] + roc->tpr[i - 1]) / 2;
      }
    }
    EXPECT_NEAR(area, c.at("auroc").get<double>(), 1e-12) << n;
    ++cases;
  }
  EXPECT_EQ(cases, 9);
}

TEST(Delong, MidRanksEqualTheDirectDefinition) {
  std::mt19937_64 rng(7);
  for (int levels : {0, 2, 5}) {
    for (size_t n : {6, 40, 333}) {
      auto [a, y] = random_case(rng, n, levels);
      auto [b, unused] = random_case(rng, n, levels);
      for (size_t i = 0; i < n; ++i) b[i] += 0.3 * a[i];  // correlated with a
      const auto d = delong({a, b}, y);
      ASSERT_TRUE(d.has_value());
      const Direct da = direct_components(a, y), db = direct_components(b, y);
      const double m = static_cast<double>(da.v10.size()), l = static_cast<double>(da.v01.size());
      EXPECT_NEAR(d->auc[0], da.auc, 1e-12);
      EXPECT_NEAR(d->auc[1], db.auc, 1e-12);
      EXPECT_NEAR(d->covariance[0], covariance(da.v10, da.v10) / m + covariance(da.v01, da.v01) / l, 1e-12);
      EXPECT_NEAR(d->covariance[3], covariance(db.v10, db.v10) / m + covariance(db.v01, db.v01) / l, 1e-12);
      EXPECT_NEAR(d->covariance[1], covariance(da.v10, db.v10) / m + covariance(da.v01, db.v01) / l, 1e-12);
      EXPECT_DOUBLE_EQ(d->covariance[1], d->covariance[2]);
    }
  }
}

TEST(Delong, IntervalsAndTests) {
  std::mt19937_64 rng(9);
  auto [a, y] = random_case(rng, 500, 0);
  const auto ci = delong_ci(a, y, 0.05);
  ASSERT_TRUE(ci.has_value());
  EXPECT_NEAR(ci->lo, ci->auc - 1.959963984540054 * ci->se, 1e-12);
  EXPECT_NEAR(ci->hi, ci->auc + 1.959963984540054 * ci->se, 1e-12);
  EXPECT_NEAR(normal_two_sided_p(1.959963984540054), 0.05, 1e-12);
  EXPECT_NEAR(normal_two_sided_p(0), 1.0, 1e-15);
  // A column against itself: no variance in the difference, no test.
  EXPECT_FALSE(delong_paired(a, a, y).has_value());
  // A noisier copy of a: lower AUROC, positive difference, p from the same z.
  std::normal_distribution<double> noise(0, 2);
  std::vector<double> b = a;
  for (auto& v : b) v += noise(rng);
  const auto t = delong_paired(a, b, y);
  ASSERT_TRUE(t.has_value());
  EXPECT_GT(t->difference, 0);
  EXPECT_NEAR(t->p_value, std::erfc(std::fabs(t->z) / std::sqrt(2.0)), 1e-12);
  const PairedTest u = unpaired_auc_test(0.8, 0.0004, 0.7, 0.0005);
  EXPECT_NEAR(u.z, 0.1 / 0.03, 1e-12);
  // A class with a single positive has no DeLong variance.
  EXPECT_FALSE(delong_ci({0.1, 0.5, 0.9}, {0, 0, 1}).has_value());
}

TEST(Bootstrap, WeightedAurocEqualsTheAurocOfReplicatedCases) {
  std::mt19937_64 rng(3);
  auto [s, y] = random_case(rng, 120, 3);
  std::vector<uint32_t> w(s.size());
  std::vector<double> rs;
  std::vector<uint8_t> ry;
  for (size_t i = 0; i < s.size(); ++i) {
    w[i] = static_cast<uint32_t>(rng() % 4);
    for (uint32_t k = 0; k < w[i]; ++k) {
      rs.push_back(s[i]);
      ry.push_back(y[i]);
    }
  }
  EXPECT_NEAR(*weighted_auroc(s, y, w), *auroc(rs, ry), 1e-12);
}

TEST(Bootstrap, ClusterResamplesAreSeededAndThreadCountInvariant) {
  std::mt19937_64 rng(5);
  const int k = 3;
  const size_t n = 600;
  std::vector<double> scores(n * k);
  std::vector<uint8_t> labels(n * k);
  std::vector<int64_t> patient(n);
  for (size_t i = 0; i < n; ++i) {
    patient[i] = static_cast<int64_t>(i / 3);  // three images per patient
    for (int c = 0; c < k; ++c) {
      labels[i * k + c] = rng() % (c + 2) == 0;
      scores[i * k + c] = std::normal_distribution<double>()(rng) + labels[i * k + c];
    }
  }
  BootstrapOptions o;
  o.resamples = 300;
  o.seed = 11;
  o.threads = 1;
  const BootstrapAuroc one = cluster_bootstrap_auroc(scores, labels, k, patient, o);
  o.threads = 2;
  const BootstrapAuroc two = cluster_bootstrap_auroc(scores, labels, k, patient, o);
  EXPECT_EQ(one.per_class, two.per_class);
  EXPECT_EQ(one.macro, two.macro);
  ASSERT_EQ(one.macro_classes.size(), 3u);
  // The macro of each resample is the mean of its classes.
  for (size_t b = 0; b < 300; ++b)
    EXPECT_NEAR(one.macro[b], (one.per_class[0][b] + one.per_class[1][b] + one.per_class[2][b]) / 3, 1e-12);
  // The resampled AUROCs scatter around the full-data AUROC.
  std::vector<double> col(n);
  std::vector<uint8_t> ycol(n);
  for (size_t i = 0; i < n; ++i) {
    col[i] = scores[i * k];
    ycol[i] = labels[i * k];
  }
  const auto ci = percentile_interval(one.per_class[0], 0.05);
  ASSERT_TRUE(ci.has_value());
  const double full = *auroc(col, ycol);
  EXPECT_LT(ci->first, full);
  EXPECT_GT(ci->second, full);
  o.seed = 12;
  EXPECT_NE(cluster_bootstrap_auroc(scores, labels, k, patient, o).per_class, one.per_class);
}

TEST(Bootstrap, PercentileIntervalIsNumpysLinearRule) {
  // numpy.percentile([1..10], [2.5, 97.5]) = [1.225, 9.775]
  std::vector<double> v;
  for (int i = 10; i >= 1; --i) v.push_back(i);
  const auto ci = percentile_interval(v, 0.05);
  ASSERT_TRUE(ci.has_value());
  EXPECT_NEAR(ci->first, 1.225, 1e-12);
  EXPECT_NEAR(ci->second, 9.775, 1e-12);
  v.insert(v.end(), 11, std::nan(""));  // more than half undefined: no interval
  EXPECT_FALSE(percentile_interval(v, 0.05).has_value());
}

TEST(OperatingPoint, YoudenTargetSensitivityAndConfusion) {
  // Scores 0.1..0.8; positives at 0.4, 0.6, 0.7, 0.8. Thresholds: 0.6 gives sens 3/4, spec 4/4 (J = 0.75);
  // 0.4 gives sens 1, spec 3/4 (J = 0.75) too: the higher threshold wins the tie.
  const std::vector<double> s = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8};
  const std::vector<uint8_t> y = {0, 0, 0, 1, 0, 1, 1, 1};
  EXPECT_DOUBLE_EQ(*youden_threshold(s, y), 0.6);
  EXPECT_DOUBLE_EQ(*sensitivity_threshold(s, y, 1.0), 0.4);
  EXPECT_DOUBLE_EQ(*sensitivity_threshold(s, y, 0.5), 0.7);
  const Confusion c = confusion_at(s, y, 0.6);
  EXPECT_EQ(c.tp, 3);
  EXPECT_EQ(c.fn, 1);
  EXPECT_EQ(c.fp, 0);
  EXPECT_EQ(c.tn, 4);
  EXPECT_DOUBLE_EQ(*c.sensitivity(), 0.75);
  EXPECT_DOUBLE_EQ(*c.ppv(), 1.0);
  EXPECT_DOUBLE_EQ(*c.npv(), 0.8);
  EXPECT_FALSE(confusion_at(s, y, 2.0).ppv().has_value());  // no positive calls
  EXPECT_FALSE(youden_threshold(s, std::vector<uint8_t>(8, 0)).has_value());
}
