// DeLong, DeLong & Clarke-Pearson (1988) variance and covariance of AUROC estimates, computed with the
// fast mid-rank algorithm of Sun & Xu (2014): O(k n log n) for k score columns on the same n cases
// instead of O(k m n). For positive i and negative j the structural components are
//   V10_i = (Tz_i - Tx_i) / n_neg,   V01_j = 1 - (Tz_j - Ty_j) / n_pos,
// with Tz the mid-rank among all cases, Tx among positives, Ty among negatives; then
//   AUC = mean V10,   Cov(AUC_r, AUC_s) = S10_rs / n_pos + S01_rs / n_neg
// (S10, S01: the sample covariances of the components). Ties count one half, as in eval/auroc.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace cxr::eval {

struct Delong {
  std::vector<double> auc;         // per column
  std::vector<double> covariance;  // k x k, row-major
  int64_t positives = 0, negatives = 0;
  double variance(size_t c) const { return covariance[c * auc.size() + c]; }
};

// columns[c][i]: score of case i in column c (all columns the same length); labels[i] in {0,1}.
// nullopt when a class is absent (fewer than one positive or one negative), or when either class has a
// single case (its sample covariance is undefined). NonFiniteScore on NaN or infinite scores.
std::optional<Delong> delong(const std::vector<std::vector<double>>& columns, const std::vector<uint8_t>& labels);

struct AucCi {
  double auc = 0, se = 0, lo = 0, hi = 0;
};
// The AUROC with its DeLong standard error and normal (1 - alpha) interval, clipped to [0, 1].
std::optional<AucCi> delong_ci(const std::vector<double>& scores, const std::vector<uint8_t>& labels,
                               double alpha = 0.05);

struct PairedTest {
  double difference = 0, se = 0, z = 0, p_value = 1;
};
// Two correlated AUROCs on the same cases (scores a and b, the same labels): DeLong's paired z test,
// two-sided. nullopt when undefined (see delong()) or when the difference has no variance.
std::optional<PairedTest> delong_paired(const std::vector<double>& a, const std::vector<double>& b,
                                        const std::vector<uint8_t>& labels);

// Two AUROCs on the same cases but with different labels (two classes of one model, e.g. Cardiomegaly
// against Nodule on one test set): each case's influence on an AUROC is its structural component minus
// the AUROC, scaled by 1/sqrt(m(m-1)) for the positives (m of them) and 1/sqrt(n(n-1)) for the negatives;
// the covariance of the two estimates is the sum over cases of the product of the two influences (for one
// class with itself this is exactly DeLong's variance). Two-sided z test of the difference.
std::optional<PairedTest> delong_between(const std::vector<double>& scores_a, const std::vector<uint8_t>& labels_a,
                                         const std::vector<double>& scores_b, const std::vector<uint8_t>& labels_b);

// Two independent AUROCs (disjoint cases, e.g. a subgroup and the rest): z = (a1 - a2) / sqrt(v1 + v2).
PairedTest unpaired_auc_test(double auc1, double var1, double auc2, double var2);

// Two-sided p-value of a standard normal z, and the normal quantile for a two-sided (1 - alpha) interval.
double normal_two_sided_p(double z);
double normal_quantile_two_sided(double alpha);

}  // namespace cxr::eval
