// Cluster bootstrap (see bootstrap.h).
#include "eval/bootstrap.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "core/random.h"
#include "eval/auroc.h"

namespace cxr::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One class, sorted by score once: per position the patient slot, the label and whether the next
// position starts a new group of tied scores.
struct SortedClass {
  std::vector<uint32_t> patient;
  std::vector<uint8_t> label;
  std::vector<uint8_t> group_end;
};

SortedClass sort_class(const std::vector<double>& scores, const std::vector<uint8_t>& labels, int k, int c,
                       const std::vector<uint32_t>& slot) {
  const size_t n = slot.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  auto score = [&](size_t i) { return scores[i * static_cast<size_t>(k) + static_cast<size_t>(c)]; };
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score(a) < score(b); });
  SortedClass s;
  s.patient.resize(n);
  s.label.resize(n);
  s.group_end.resize(n);
  for (size_t t = 0; t < n; ++t) {
    s.patient[t] = slot[order[t]];
    s.label[t] = labels[order[t] * static_cast<size_t>(k) + static_cast<size_t>(c)] ? 1 : 0;
    s.group_end[t] = t + 1 == n || score(order[t + 1]) != score(order[t]);
  }
  return s;
}

// The weighted Mann-Whitney sweep: U = sum over positives of w * (negative weight below + half the tied).
double sweep(const SortedClass& s, const uint32_t* count) {
  double u = 0, neg_below = 0, pos_total = 0, neg_total = 0;
  double group_pos = 0, group_neg = 0;
  const size_t n = s.patient.size();
  for (size_t t = 0; t < n; ++t) {
    const double w = count[s.patient[t]];
    if (s.label[t]) group_pos += w;
    else group_neg += w;
    if (s.group_end[t]) {
      u += group_pos * (neg_below + 0.5 * group_neg);
      neg_below += group_neg;
      pos_total += group_pos;
      neg_total += group_neg;
      group_pos = group_neg = 0;
    }
  }
  if (pos_total == 0 || neg_total == 0) return kNaN;
  return u / (pos_total * neg_total);
}

}  // namespace

std::optional<double> weighted_auroc(const std::vector<double>& scores, const std::vector<uint8_t>& labels,
                                     const std::vector<uint32_t>& weights) {
  if (scores.size() != labels.size() || weights.size() != labels.size())
    throw std::invalid_argument("weighted_auroc: lengths differ");
  std::vector<uint32_t> slot(scores.size());
  std::iota(slot.begin(), slot.end(), 0u);
  for (double x : scores)
    if (!std::isfinite(x)) throw NonFiniteScore("weighted_auroc: a score is not finite");
  const double a = sweep(sort_class(scores, labels, 1, 0, slot), weights.data());
  if (std::isnan(a)) return std::nullopt;
  return a;
}

BootstrapAuroc cluster_bootstrap_auroc(const std::vector<double>& scores, const std::vector<uint8_t>& labels, int k,
                                       const std::vector<int64_t>& patient, const BootstrapOptions& o) {
  const size_t n = patient.size();
  if (k <= 0 || scores.size() != n * static_cast<size_t>(k) || labels.size() != scores.size())
    throw std::invalid_argument("cluster_bootstrap_auroc: shapes do not match [n, k]");
  if (o.resamples < 1) throw std::invalid_argument("cluster_bootstrap_auroc: resamples must be >= 1");
  for (double x : scores)
    if (!std::isfinite(x)) throw NonFiniteScore("cluster_bootstrap_auroc: a score is not finite");
  // Patients as dense slots 0..P-1, in order of first appearance.
  std::unordered_map<int64_t, uint32_t> slot_of;
  std::vector<uint32_t> slot(n);
  for (size_t i = 0; i < n; ++i) slot[i] = slot_of.emplace(patient[i], static_cast<uint32_t>(slot_of.size())).first->second;
  const size_t patients = slot_of.size();

  std::vector<SortedClass> sorted;
  BootstrapAuroc out;
  std::vector<uint32_t> ones(patients, 1);
  for (int c = 0; c < k; ++c) {
    sorted.push_back(sort_class(scores, labels, k, c, slot));
    if (!std::isnan(sweep(sorted.back(), ones.data()))) out.macro_classes.push_back(c);
  }
  const auto b_total = static_cast<size_t>(o.resamples);
  out.per_class.assign(static_cast<size_t>(k), std::vector<double>(b_total, kNaN));
  out.macro.assign(b_total, kNaN);

  int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = std::min<int>(threads, o.resamples);
  std::atomic<size_t> next{0};
  auto work = [&] {
    std::vector<uint32_t> count(patients);
    for (size_t b = next++; b < b_total; b = next++) {
      std::fill(count.begin(), count.end(), 0u);
      SplitMix64 rng(mix_seed(o.seed, b));
      for (size_t p = 0; p < patients; ++p) ++count[rng.below(patients)];
      double sum = 0;
      bool complete = true;
      for (int c = 0; c < k; ++c) {
        const double a = sweep(sorted[static_cast<size_t>(c)], count.data());
        out.per_class[static_cast<size_t>(c)][b] = a;
      }
      for (int c : out.macro_classes) {
        const double a = out.per_class[static_cast<size_t>(c)][b];
        if (std::isnan(a)) complete = false;
        sum += a;
      }
      if (complete && !out.macro_classes.empty()) out.macro[b] = sum / static_cast<double>(out.macro_classes.size());
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return out;
}

std::optional<std::pair<double, double>> percentile_interval(const std::vector<double>& values, double alpha) {
  std::vector<double> v;
  for (double x : values)
    if (std::isfinite(x)) v.push_back(x);
  if (v.empty() || v.size() * 2 < values.size()) return std::nullopt;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {  // numpy's "linear" method: position q * (n - 1)
    const double pos = q * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
  };
  return std::make_pair(at(alpha / 2), at(1 - alpha / 2));
}

}  // namespace cxr::eval
