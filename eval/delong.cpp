// DeLong variance by mid-ranks (see delong.h).
#include "eval/delong.h"

#include <boost/math/distributions/normal.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "eval/auroc.h"

namespace cxr::eval {
namespace {

// 1-based mid-ranks of x (ties share the mean of their ranks).
std::vector<double> midranks(const std::vector<double>& x) {
  const size_t n = x.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  std::vector<double> rank(n);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && x[order[j]] == x[order[i]]) ++j;
    const double mid = 0.5 * static_cast<double>(i + 1 + j);
    for (size_t t = i; t < j; ++t) rank[order[t]] = mid;
    i = j;
  }
  return rank;
}

// Sample covariance matrix (k x k) of the rows of v (v[c][i]: component i of column c).
std::vector<double> sample_covariance(const std::vector<std::vector<double>>& v) {
  const size_t k = v.size(), n = v.empty() ? 0 : v[0].size();
  std::vector<double> mean(k, 0.0), cov(k * k, 0.0);
  for (size_t c = 0; c < k; ++c) mean[c] = std::accumulate(v[c].begin(), v[c].end(), 0.0) / static_cast<double>(n);
  for (size_t r = 0; r < k; ++r) {
    for (size_t s = r; s < k; ++s) {
      double acc = 0;
      for (size_t i = 0; i < n; ++i) acc += (v[r][i] - mean[r]) * (v[s][i] - mean[s]);
      cov[r * k + s] = cov[s * k + r] = acc / static_cast<double>(n - 1);
    }
  }
  return cov;
}

}  // namespace

std::optional<Delong> delong(const std::vector<std::vector<double>>& columns, const std::vector<uint8_t>& labels) {
  const size_t n = labels.size();
  std::vector<size_t> pos, neg;
  for (size_t i = 0; i < n; ++i) (labels[i] ? pos : neg).push_back(i);
  const size_t m = pos.size(), l = neg.size();
  if (m < 2 || l < 2) return std::nullopt;
  Delong out;
  out.positives = static_cast<int64_t>(m);
  out.negatives = static_cast<int64_t>(l);
  std::vector<std::vector<double>> v10, v01;
  for (const auto& x : columns) {
    if (x.size() != n) throw std::invalid_argument("delong: a score column and the labels differ in length");
    for (size_t i = 0; i < n; ++i)
      if (!std::isfinite(x[i])) throw NonFiniteScore("score " + std::to_string(x[i]) + " at row " + std::to_string(i));
    std::vector<double> xp(m), xn(l);
    for (size_t i = 0; i < m; ++i) xp[i] = x[pos[i]];
    for (size_t j = 0; j < l; ++j) xn[j] = x[neg[j]];
    const std::vector<double> tz = midranks(x), tx = midranks(xp), ty = midranks(xn);
    std::vector<double> a(m), b(l);
    for (size_t i = 0; i < m; ++i) a[i] = (tz[pos[i]] - tx[i]) / static_cast<double>(l);
    for (size_t j = 0; j < l; ++j) b[j] = 1.0 - (tz[neg[j]] - ty[j]) / static_cast<double>(m);
    out.auc.push_back(std::accumulate(a.begin(), a.end(), 0.0) / static_cast<double>(m));
    v10.push_back(std::move(a));
    v01.push_back(std::move(b));
  }
  const std::vector<double> s10 = sample_covariance(v10), s01 = sample_covariance(v01);
  out.covariance.resize(s10.size());
  for (size_t i = 0; i < s10.size(); ++i)
    out.covariance[i] = s10[i] / static_cast<double>(m) + s01[i] / static_cast<double>(l);
  return out;
}

std::optional<AucCi> delong_ci(const std::vector<double>& scores, const std::vector<uint8_t>& labels, double alpha) {
  const auto d = delong({scores}, labels);
  if (!d) return std::nullopt;
  AucCi ci;
  ci.auc = d->auc[0];
  ci.se = std::sqrt(std::max(0.0, d->variance(0)));
  const double z = normal_quantile_two_sided(alpha);
  ci.lo = std::max(0.0, ci.auc - z * ci.se);
  ci.hi = std::min(1.0, ci.auc + z * ci.se);
  return ci;
}

std::optional<PairedTest> delong_paired(const std::vector<double>& a, const std::vector<double>& b,
                                        const std::vector<uint8_t>& labels) {
  const auto d = delong({a, b}, labels);
  if (!d) return std::nullopt;
  const double var = d->covariance[0] + d->covariance[3] - 2 * d->covariance[1];
  if (!(var > 0)) return std::nullopt;
  PairedTest t;
  t.difference = d->auc[0] - d->auc[1];
  t.se = std::sqrt(var);
  t.z = t.difference / t.se;
  t.p_value = normal_two_sided_p(t.z);
  return t;
}

namespace {

// Each case's influence on the AUROC of (scores, labels) (see delong_between); empty when undefined.
std::vector<double> influence(const std::vector<double>& x, const std::vector<uint8_t>& y, double& auc) {
  const size_t n = y.size();
  std::vector<size_t> pos, neg;
  for (size_t i = 0; i < n; ++i) (y[i] ? pos : neg).push_back(i);
  const size_t m = pos.size(), l = neg.size();
  if (m < 2 || l < 2) return {};
  std::vector<double> xp(m), xn(l);
  for (size_t i = 0; i < m; ++i) xp[i] = x[pos[i]];
  for (size_t j = 0; j < l; ++j) xn[j] = x[neg[j]];
  const std::vector<double> tz = midranks(x), tx = midranks(xp), ty = midranks(xn);
  std::vector<double> v10(m), v01(l);
  for (size_t i = 0; i < m; ++i) v10[i] = (tz[pos[i]] - tx[i]) / static_cast<double>(l);
  for (size_t j = 0; j < l; ++j) v01[j] = 1.0 - (tz[neg[j]] - ty[j]) / static_cast<double>(m);
  auc = std::accumulate(v10.begin(), v10.end(), 0.0) / static_cast<double>(m);
  const double mean01 = std::accumulate(v01.begin(), v01.end(), 0.0) / static_cast<double>(l);
  std::vector<double> out(n);
  const double sm = 1.0 / std::sqrt(static_cast<double>(m) * static_cast<double>(m - 1));
  const double sl = 1.0 / std::sqrt(static_cast<double>(l) * static_cast<double>(l - 1));
  for (size_t i = 0; i < m; ++i) out[pos[i]] = (v10[i] - auc) * sm;
  for (size_t j = 0; j < l; ++j) out[neg[j]] = (v01[j] - mean01) * sl;
  return out;
}

}  // namespace

std::optional<PairedTest> delong_between(const std::vector<double>& a, const std::vector<uint8_t>& ya,
                                         const std::vector<double>& b, const std::vector<uint8_t>& yb) {
  if (a.size() != ya.size() || b.size() != yb.size() || a.size() != b.size())
    throw std::invalid_argument("delong_between: lengths differ");
  for (size_t i = 0; i < a.size(); ++i)
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) throw NonFiniteScore("delong_between: a score is not finite");
  double auc_a = 0, auc_b = 0;
  const std::vector<double> ia = influence(a, ya, auc_a), ib = influence(b, yb, auc_b);
  if (ia.empty() || ib.empty()) return std::nullopt;
  double var = 0;
  for (size_t i = 0; i < ia.size(); ++i) var += (ia[i] - ib[i]) * (ia[i] - ib[i]);
  if (!(var > 0)) return std::nullopt;
  PairedTest t;
  t.difference = auc_a - auc_b;
  t.se = std::sqrt(var);
  t.z = t.difference / t.se;
  t.p_value = normal_two_sided_p(t.z);
  return t;
}

PairedTest unpaired_auc_test(double auc1, double var1, double auc2, double var2) {
  PairedTest t;
  t.difference = auc1 - auc2;
  t.se = std::sqrt(std::max(0.0, var1) + std::max(0.0, var2));
  t.z = t.se > 0 ? t.difference / t.se : 0.0;
  t.p_value = t.se > 0 ? normal_two_sided_p(t.z) : 1.0;
  return t;
}

double normal_two_sided_p(double z) {
  const boost::math::normal_distribution<double> normal;
  return std::min(1.0, 2.0 * boost::math::cdf(boost::math::complement(normal, std::fabs(z))));
}

double normal_quantile_two_sided(double alpha) {
  if (!(alpha > 0 && alpha < 1)) throw std::invalid_argument("alpha must be in (0, 1)");
  const boost::math::normal_distribution<double> normal;
  return boost::math::quantile(boost::math::complement(normal, alpha / 2));
}

}  // namespace cxr::eval
