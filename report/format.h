// How the report prints numbers: AUROC-like values with 3 decimals, p- and q-values with two
// significant digits ("< 0.001" below), intervals as "[0.612, 0.744]", signed gaps "+0.052".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "report/evaluation_result.h"

namespace cxr::report {

std::string fixed(double v, int decimals = 3);
std::string general(double v);  // %g: 0.002, 1e-05, 25
std::string fixed_or(const std::optional<double>& v, const std::string& missing = "n/a", int decimals = 3);
std::string signed_fixed(double v, int decimals = 3);
std::string p_value(double p);
std::string interval(const std::optional<Interval>& ci, const std::string& missing = "n/a");
std::string percent(double fraction, int decimals = 1);
std::string thousands(long long n);  // 25596 -> "25,596"
// "a", "a and b", "a, b and c".
std::string list_words(const std::vector<std::string>& items);
// The first cause in a metrics.json "reason" ("auroc: no positive images; ppv: ...") without its key:
// "no positive images".
std::string first_reason(const std::string& reason);

}  // namespace cxr::report
