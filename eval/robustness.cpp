// Robustness statistics (see robustness.h).
#include "eval/robustness.h"

#include <cmath>
#include <stdexcept>

#include "data/classes.h"
#include "eval/delong.h"
#include "eval/evaluation.h"
#include "eval/multiple_testing.h"

namespace cxr::eval {

using json = nlohmann::ordered_json;

namespace {

constexpr int K = data::kNumClasses;

std::vector<double> column(const std::vector<double>& m, int c) {
  std::vector<double> out(m.size() / K);
  for (size_t i = 0; i < out.size(); ++i) out[i] = m[i * K + static_cast<size_t>(c)];
  return out;
}

std::vector<uint8_t> label_column(const std::vector<uint8_t>& m, int c) {
  std::vector<uint8_t> out(m.size() / K);
  for (size_t i = 0; i < out.size(); ++i) out[i] = m[i * K + static_cast<size_t>(c)] ? 1 : 0;
  return out;
}

json null_or(bool ok, double v) { return ok ? json(v) : json(nullptr); }

}  // namespace

void RobustnessTable::add_split(RobustnessSplit s) {
  if (s.labels.size() % K != 0 || s.labels.size() != s.baseline.size() || s.labels.empty())
    throw std::invalid_argument("RobustnessTable::add_split: labels and baseline must both be [n,14], n > 0");
  if (splits_.count(s.name)) throw std::invalid_argument("RobustnessTable::add_split: split '" + s.name + "' twice");
  SplitResult r;
  for (int c = 0; c < K; ++c) {
    const std::vector<uint8_t> y = label_column(s.labels, c);
    int64_t pos = 0;
    for (uint8_t v : y) pos += v;
    r.positives.push_back(pos);
    r.negatives.push_back(static_cast<int64_t>(y.size()) - pos);
    ClassResult b;
    if (auto ci = delong_ci(column(s.baseline, c), y, 1 - 0.95)) {
      b.evaluable = true;
      b.auroc = ci->auc;
      b.lo = ci->lo;
      b.hi = ci->hi;
    }
    r.baseline.push_back(b);
  }
  r.scores = std::move(s);
  split_order_.push_back(r.scores.name);
  splits_.emplace(r.scores.name, std::move(r));
}

void RobustnessTable::add(const RobustnessCondition& cond) {
  auto it = splits_.find(cond.split);
  if (it == splits_.end()) throw std::invalid_argument("RobustnessTable::add: unknown split '" + cond.split + "'");
  const SplitResult& s = it->second;
  if (cond.scores.size() != s.scores.baseline.size())
    throw std::invalid_argument("RobustnessTable::add: condition '" + cond.name + "' scores are not [n,14] of split '" +
                                cond.split + "'");
  ConditionResult r;
  r.meta = cond;
  r.meta.scores.clear();
  r.meta.scores.shrink_to_fit();
  for (int c = 0; c < K; ++c) {
    ClassResult x;
    const auto& base = s.baseline[static_cast<size_t>(c)];
    if (base.evaluable) {
      const std::vector<uint8_t> y = label_column(s.scores.labels, c);
      const std::vector<double> a = column(s.scores.baseline, c), b = column(cond.scores, c);
      const auto ci = delong_ci(b, y, 1 - 0.95);
      x.evaluable = ci.has_value();
      if (ci) {
        x.auroc = ci->auc;
        x.lo = ci->lo;
        x.hi = ci->hi;
        x.difference = ci->auc - base.auroc;
      }
      // As everywhere in the evaluation: no test on fewer than kMinCasesForTest positives or negatives.
      if (s.positives[static_cast<size_t>(c)] >= kMinCasesForTest && s.negatives[static_cast<size_t>(c)] >= kMinCasesForTest) {
        if (auto t = delong_paired(b, a, y)) {
          x.has_test = true;
          x.p_value = t->p_value;
        }
      }
    }
    r.classes.push_back(x);
  }
  conditions_.push_back(std::move(r));
}

json RobustnessTable::to_json() const {
  std::vector<double> p;
  for (const auto& c : conditions_)
    for (const auto& x : c.classes) p.push_back(x.has_test ? x.p_value : std::nan(""));
  const std::vector<double> q = benjamini_hochberg(p);

  json out;
  out["schema"] = "cxrtrain.robustness/1";
  json names = json::array();
  for (int c = 0; c < K; ++c) names.push_back(data::kClassNames[c]);
  out["classes"] = names;
  out["alpha"] = alpha_;
  out["multiple_testing"] = "Benjamini-Hochberg over every (condition, class) paired test of this file";
  json splits = json::object();
  for (const auto& name : split_order_) {
    const SplitResult& s = splits_.at(name);
    json base = json::array();
    for (int c = 0; c < K; ++c) {
      const auto& b = s.baseline[static_cast<size_t>(c)];
      base.push_back({{"class", data::kClassNames[c]}, {"auroc", null_or(b.evaluable, b.auroc)},
                      {"lo", null_or(b.evaluable, b.lo)}, {"hi", null_or(b.evaluable, b.hi)},
                      {"positives", s.positives[static_cast<size_t>(c)]}, {"negatives", s.negatives[static_cast<size_t>(c)]}});
    }
    splits[name] = {{"images", s.scores.baseline.size() / K}, {"baseline", base}};
  }
  out["splits"] = splits;
  json conds = json::array();
  size_t k = 0;
  for (const auto& c : conditions_) {
    const SplitResult& s = splits_.at(c.meta.split);
    json per = json::array();
    json drops = json::array();
    double sum = 0, base_sum = 0;
    int counted = 0;
    for (int j = 0; j < K; ++j, ++k) {
      const ClassResult& x = c.classes[static_cast<size_t>(j)];
      const bool sig = x.has_test && q[k] < alpha_;
      per.push_back({{"class", data::kClassNames[j]}, {"auroc", null_or(x.evaluable, x.auroc)},
                     {"lo", null_or(x.evaluable, x.lo)}, {"hi", null_or(x.evaluable, x.hi)},
                     {"difference", null_or(x.evaluable, x.difference)}, {"p_value", null_or(x.has_test, x.p_value)},
                     {"q_value", null_or(x.has_test, q[k])}, {"significant", sig}});
      if (sig && x.difference < 0) drops.push_back(data::kClassNames[j]);
      if (x.evaluable && s.baseline[static_cast<size_t>(j)].evaluable) {
        sum += x.auroc;
        base_sum += s.baseline[static_cast<size_t>(j)].auroc;
        ++counted;
      }
    }
    conds.push_back({{"family", c.meta.family}, {"name", c.meta.name}, {"severity", c.meta.severity},
                     {"parameter", c.meta.parameter}, {"unit", c.meta.unit}, {"split", c.meta.split},
                     {"description", c.meta.description}, {"per_class", per},
                     {"macro_auroc", null_or(counted > 0, counted ? sum / counted : 0)},
                     {"macro_difference", null_or(counted > 0, counted ? (sum - base_sum) / counted : 0)},
                     {"significant_drops", drops}});
  }
  out["conditions"] = conds;
  return out;
}

}  // namespace cxr::eval
