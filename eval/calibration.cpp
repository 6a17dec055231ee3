// Brier score and expected calibration error (see calibration.h).
#include "eval/calibration.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace cxr::eval {
namespace {

void check(const std::vector<double>& p, const std::vector<uint8_t>& y, const char* what) {
  if (p.size() != y.size()) throw std::invalid_argument(std::string(what) + ": lengths differ");
  if (p.empty()) throw std::invalid_argument(std::string(what) + ": no cases");
  for (size_t i = 0; i < p.size(); ++i)
    if (!(p[i] >= 0 && p[i] <= 1))
      throw std::invalid_argument(std::string(what) + ": probability " + std::to_string(p[i]) + " at row " +
                                  std::to_string(i) + " is outside [0, 1]");
}

}  // namespace

double brier_score(const std::vector<double>& p, const std::vector<uint8_t>& y) {
  check(p, y, "brier_score");
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double d = p[i] - (y[i] ? 1.0 : 0.0);
    sum += d * d;
  }
  return sum / static_cast<double>(p.size());
}

Calibration calibration(const std::vector<double>& p, const std::vector<uint8_t>& y, int bins) {
  check(p, y, "calibration");
  if (bins < 1) throw std::invalid_argument("calibration: bins must be >= 1");
  Calibration c;
  c.bins.resize(static_cast<size_t>(bins));
  std::vector<double> sum_p(static_cast<size_t>(bins), 0.0), sum_y(static_cast<size_t>(bins), 0.0);
  // Bin edges k * (1/B), as numpy's linspace makes them; a probability goes to the bin after the last edge
  // below it (numpy's searchsorted, side "left", as scikit-learn's calibration_curve does): a value on an
  // edge such as 0.2 joins the lower bin, where scikit-learn puts it.
  std::vector<double> edges;
  for (int k = 1; k < bins; ++k) edges.push_back(static_cast<double>(k) * (1.0 / bins));
  for (size_t i = 0; i < p.size(); ++i) {
    const auto b = static_cast<size_t>(std::lower_bound(edges.begin(), edges.end(), p[i]) - edges.begin());
    ++c.bins[b].count;
    sum_p[b] += p[i];
    sum_y[b] += y[i] ? 1.0 : 0.0;
  }
  const double n = static_cast<double>(p.size());
  for (size_t b = 0; b < c.bins.size(); ++b) {
    auto& bin = c.bins[b];
    bin.lo = static_cast<double>(b) / bins;
    bin.hi = static_cast<double>(b + 1) / bins;
    if (bin.count == 0) continue;
    bin.mean_predicted = sum_p[b] / static_cast<double>(bin.count);
    bin.observed_rate = sum_y[b] / static_cast<double>(bin.count);
    c.ece += static_cast<double>(bin.count) / n * std::fabs(bin.observed_rate - bin.mean_predicted);
  }
  return c;
}

}  // namespace cxr::eval
