// Tests over many comparisons: Benjamini-Hochberg q-values (the false discovery rate at which each
// comparison would just be declared), the two-proportion z test, and Cohen's kappa for two binary raters.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace cxr::eval {

// q_i = min over j with p_(j) >= p_i of p_(j) * m / rank(j), capped at 1 (the step-up procedure). NaN p
// values are left out of the family and get NaN.
std::vector<double> benjamini_hochberg(const std::vector<double>& p_values);

struct ProportionTest {
  double difference = 0, z = 0, p_value = 1;
};
// x1 of n1 against x2 of n2, pooled standard error, two-sided; nullopt when a group is empty or the pooled
// proportion is 0 or 1 (no variance).
std::optional<ProportionTest> two_proportion_test(int64_t x1, int64_t n1, int64_t x2, int64_t n2);

// Cohen's kappa of two 0/1 ratings of the same cases; nullopt when chance agreement is 1.
std::optional<double> cohens_kappa(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b);

}  // namespace cxr::eval
