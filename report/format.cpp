// Number formatting for the report (see format.h).
#include "report/format.h"

#include <cmath>
#include <cstdio>

namespace cxr::report {

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  if (s.find_first_not_of("-0.") == std::string::npos && s[0] == '-') s.erase(0, 1);  // no "-0.000"
  return s;
}

std::string general(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string fixed_or(const std::optional<double>& v, const std::string& missing, int decimals) {
  return v ? fixed(*v, decimals) : missing;
}

std::string signed_fixed(double v, int decimals) {
  const std::string s = fixed(v, decimals);
  return s[0] == '-' || s.find_first_not_of("0.") == std::string::npos ? s : "+" + s;
}

std::string list_words(const std::vector<std::string>& items) {
  if (items.empty()) return "";
  if (items.size() == 1) return items[0];
  std::string out;
  for (size_t i = 0; i + 1 < items.size(); ++i) out += (i ? ", " : "") + items[i];
  return out + " and " + items.back();
}

std::string p_value(double p) {
  if (p < 0.001) return "< 0.001";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2g", p);
  return buf;  // p >= 0.001: %.2g never switches to an exponent here
}

std::string interval(const std::optional<Interval>& ci, const std::string& missing) {
  return ci ? "[" + fixed(ci->lo) + ", " + fixed(ci->hi) + "]" : missing;
}

std::string percent(double fraction, int decimals) { return fixed(100 * fraction, decimals) + " %"; }

std::string first_reason(const std::string& reason) {
  std::string first = reason.substr(0, reason.find(';'));
  const size_t colon = first.find(": ");
  if (colon != std::string::npos) first = first.substr(colon + 2);
  return first.empty() ? "undefined" : first;
}

std::string thousands(long long n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

}  // namespace cxr::report
