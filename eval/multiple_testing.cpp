// Multiple testing, proportions and agreement (see multiple_testing.h).
#include "eval/multiple_testing.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "eval/delong.h"

namespace cxr::eval {

std::vector<double> benjamini_hochberg(const std::vector<double>& p) {
  std::vector<size_t> idx;
  for (size_t i = 0; i < p.size(); ++i)
    if (!std::isnan(p[i])) idx.push_back(i);
  std::vector<double> q(p.size(), std::numeric_limits<double>::quiet_NaN());
  const double m = static_cast<double>(idx.size());
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  double running = 1.0;
  for (size_t r = idx.size(); r-- > 0;) {
    running = std::min(running, p[idx[r]] * m / static_cast<double>(r + 1));
    q[idx[r]] = std::min(1.0, running);
  }
  return q;
}

std::optional<ProportionTest> two_proportion_test(int64_t x1, int64_t n1, int64_t x2, int64_t n2) {
  if (n1 <= 0 || n2 <= 0) return std::nullopt;
  const double p1 = static_cast<double>(x1) / n1, p2 = static_cast<double>(x2) / n2;
  const double pooled = static_cast<double>(x1 + x2) / static_cast<double>(n1 + n2);
  const double var = pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2);
  if (!(var > 0)) return std::nullopt;
  ProportionTest t;
  t.difference = p1 - p2;
  t.z = t.difference / std::sqrt(var);
  t.p_value = normal_two_sided_p(t.z);
  return t;
}

std::optional<double> cohens_kappa(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) throw std::invalid_argument("cohens_kappa: lengths differ");
  if (a.empty()) return std::nullopt;
  double agree = 0, pa = 0, pb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    agree += (a[i] != 0) == (b[i] != 0);
    pa += a[i] != 0;
    pb += b[i] != 0;
  }
  const double n = static_cast<double>(a.size());
  agree /= n;
  pa /= n;
  pb /= n;
  const double chance = pa * pb + (1 - pa) * (1 - pb);
  if (chance >= 1) return std::nullopt;
  return (agree - chance) / (1 - chance);
}

}  // namespace cxr::eval
