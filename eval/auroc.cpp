// AUROC via average ranks (see auroc.h): O(n log n), ties get their mean rank.
#include "eval/auroc.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace cxr::eval {

std::optional<double> auroc(const std::vector<double>& scores, const std::vector<uint8_t>& labels) {
  if (scores.size() != labels.size()) throw std::invalid_argument("auroc: scores and labels differ in length");
  const size_t n = scores.size();
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(scores[i])) throw NonFiniteScore("score " + std::to_string(scores[i]) + " at row " + std::to_string(i));
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double rank_sum_pos = 0;
  uint64_t n_pos = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && scores[order[j]] == scores[order[i]]) ++j;
    const double mean_rank = 0.5 * static_cast<double>(i + 1 + j);  // ranks i+1 .. j
    for (size_t t = i; t < j; ++t) {
      if (labels[order[t]]) {
        rank_sum_pos += mean_rank;
        ++n_pos;
      }
    }
    i = j;
  }
  const uint64_t n_neg = n - n_pos;
  if (n_pos == 0 || n_neg == 0) return std::nullopt;
  const double u = rank_sum_pos - 0.5 * static_cast<double>(n_pos) * static_cast<double>(n_pos + 1);
  return u / (static_cast<double>(n_pos) * static_cast<double>(n_neg));
}

ClassAuroc auroc_per_class(const std::vector<double>& scores, const std::vector<uint8_t>& labels, int k,
                           const std::vector<std::string>& names) {
  if (k <= 0 || scores.size() != labels.size() || scores.size() % static_cast<size_t>(k) != 0)
    throw std::invalid_argument("auroc_per_class: shapes do not match [n, k]");
  const size_t n = scores.size() / static_cast<size_t>(k);
  ClassAuroc out;
  double sum = 0;
  std::vector<double> s(n);
  std::vector<uint8_t> y(n);
  for (int c = 0; c < k; ++c) {
    size_t bad = 0, first_bad = 0;
    for (size_t i = 0; i < n; ++i) {
      s[i] = scores[i * static_cast<size_t>(k) + static_cast<size_t>(c)];
      y[i] = labels[i * static_cast<size_t>(k) + static_cast<size_t>(c)] ? 1 : 0;
      if (!std::isfinite(s[i]) && bad++ == 0) first_bad = i;
    }
    if (bad) {
      const std::string name = static_cast<size_t>(c) < names.size() ? names[static_cast<size_t>(c)] : "column " + std::to_string(c);
      throw NonFiniteScore("class '" + name + "': " + std::to_string(bad) + " of " + std::to_string(n) +
                           " scores are not finite (first: " + std::to_string(s[first_bad]) + " at row " +
                           std::to_string(first_bad) + ")");
    }
    auto a = auroc(s, y);
    out.per_class.push_back(a);
    if (a) {
      sum += *a;
      ++out.defined;
    }
  }
  if (out.defined) out.macro = sum / out.defined;
  return out;
}

}  // namespace cxr::eval
