// Thresholds and confusion counts (see operating_point.h).
#include "eval/operating_point.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace cxr::eval {
namespace {

// Candidate thresholds are the distinct scores, descending; at each, the cumulative TP and FP of "score
// >= threshold". Calls f(threshold, tp, fp) for each, highest first.
template <class F>
void sweep_thresholds(const std::vector<double>& s, const std::vector<uint8_t>& y, F&& f) {
  if (s.size() != y.size()) throw std::invalid_argument("operating point: lengths differ");
  std::vector<size_t> order(s.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return s[a] > s[b]; });
  int64_t tp = 0, fp = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && s[order[j]] == s[order[i]]) {
      (y[order[j]] ? tp : fp) += 1;
      ++j;
    }
    f(s[order[i]], tp, fp);
    i = j;
  }
}

std::optional<double> ratio(int64_t a, int64_t b) {
  if (a + b == 0) return std::nullopt;
  return static_cast<double>(a) / static_cast<double>(a + b);
}

}  // namespace

std::optional<double> youden_threshold(const std::vector<double>& s, const std::vector<uint8_t>& y) {
  const auto pos = static_cast<int64_t>(std::count_if(y.begin(), y.end(), [](uint8_t v) { return v != 0; }));
  const auto neg = static_cast<int64_t>(y.size()) - pos;
  if (pos == 0 || neg == 0) return std::nullopt;
  double best_j = -2, best_t = 0;
  sweep_thresholds(s, y, [&](double t, int64_t tp, int64_t fp) {
    const double j = static_cast<double>(tp) / pos - static_cast<double>(fp) / neg;  // sens + spec - 1
    if (j > best_j) {  // strict: on ties the higher threshold (seen first) stays
      best_j = j;
      best_t = t;
    }
  });
  return best_t;
}

std::optional<double> sensitivity_threshold(const std::vector<double>& s, const std::vector<uint8_t>& y,
                                            double target) {
  if (!(target > 0 && target <= 1)) throw std::invalid_argument("target sensitivity must be in (0, 1]");
  const auto pos = static_cast<int64_t>(std::count_if(y.begin(), y.end(), [](uint8_t v) { return v != 0; }));
  if (pos == 0 || pos == static_cast<int64_t>(y.size())) return std::nullopt;
  std::optional<double> chosen;
  sweep_thresholds(s, y, [&](double t, int64_t tp, int64_t) {
    if (!chosen && static_cast<double>(tp) / pos >= target) chosen = t;
  });
  return chosen;
}

Confusion confusion_at(const std::vector<double>& s, const std::vector<uint8_t>& y, double threshold) {
  if (s.size() != y.size()) throw std::invalid_argument("confusion_at: lengths differ");
  Confusion c;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool called = s[i] >= threshold;
    if (y[i]) (called ? c.tp : c.fn) += 1;
    else (called ? c.fp : c.tn) += 1;
  }
  return c;
}

std::optional<double> Confusion::sensitivity() const { return ratio(tp, fn); }
std::optional<double> Confusion::specificity() const { return ratio(tn, fp); }
std::optional<double> Confusion::ppv() const { return ratio(tp, fp); }
std::optional<double> Confusion::npv() const { return ratio(tn, fn); }

}  // namespace cxr::eval
