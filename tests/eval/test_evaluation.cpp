// metrics.json assembly (eval/evaluation.cpp) against an independent computation of the same evaluation
// (fixtures/evaluation_reference.json, made by make_evaluation_fixture.py with scikit-learn, SciPy and the
// O(m n) DeLong definition): per-class AUROC, AP, Brier, Youden operating points chosen on another split
// and their confusion rates; macro and micro AUROC; every subgroup row (AUROC, DeLong gap and p, TPR/FPR
// and their two-proportion tests, Benjamini-Hochberg q-values, the minimum-cases rule); underdiagnosis;
// expert-label AUROCs and kappa. Nulls must be null where the reference's are, numbers within 1e-9.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <string>
#include <tuple>

#include "data/classes.h"
#include "eval/evaluation.h"

using namespace cxr::eval;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

json fixture() {
  std::ifstream in(std::string(CXR_SOURCE_DIR) + "/tests/eval/fixtures/evaluation_reference.json");
  EXPECT_TRUE(in.good());
  return json::parse(in);
}

ScoredSplit scored(const json& s, const std::string& prefix) {
  ScoredSplit out;
  const size_t n = s.at("patient").size();
  for (size_t i = 0; i < n; ++i) {
    cxr::data::SampleMeta m;
    m.image_index = prefix + std::to_string(i);
    m.patient_id = s["patient"][i].get<int32_t>();
    m.sex = s["sex"][i].get<int8_t>();
    m.age = s["age"][i].get<int16_t>();
    m.view = s["view"][i].get<int8_t>();
    for (int c = 0; c < cxr::data::kNumClasses; ++c) {
      m.labels[static_cast<size_t>(c)] = s["labels"][i][c].get<uint8_t>();
      out.probability.push_back(s["probability"][i][c].get<double>());
    }
    if (!s["expert"].is_null()) {
      for (int e = 0; e < cxr::data::kNumExpertLabels; ++e) m.expert_labels[static_cast<size_t>(e)] = s["expert"][i][e].get<int8_t>();
      out.has_expert_labels = true;
    }
    out.meta.push_back(m);
  }
  return out;
}

// Both null, or both numbers within 1e-9.
::testing::AssertionResult same(const ojson& got, const json& want, const std::string& what) {
  if (want.is_null() != got.is_null())
    return ::testing::AssertionFailure() << what << ": got " << got.dump() << ", reference " << want.dump();
  if (want.is_null()) return ::testing::AssertionSuccess();
  if (std::fabs(got.get<double>() - want.get<double>()) > 1e-9)
    return ::testing::AssertionFailure() << what << ": got " << got.dump() << ", reference " << want.dump();
  return ::testing::AssertionSuccess();
}

class EvaluationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ref_ = new json(fixture());
    EvaluationOptions o;
    o.resamples = 50;
    metrics_ = new ojson(evaluate_split(scored(ref_->at("evaluated"), "e"), scored(ref_->at("thresholds"), "t"), o));
  }
  static void TearDownTestSuite() {
    delete ref_;
    delete metrics_;
  }
  static const json& expected() { return ref_->at("expected"); }
  static const ojson& metrics() { return *metrics_; }
  static json* ref_;
  static ojson* metrics_;
};
json* EvaluationTest::ref_ = nullptr;
ojson* EvaluationTest::metrics_ = nullptr;

}  // namespace

TEST_F(EvaluationTest, PerClassMacroAndMicroMatchTheReference) {
  for (const auto& [name, want] : expected().at("classes").items()) {
    const ojson& got = metrics()["classes"][name];
    EXPECT_EQ(got["n_pos"].get<int64_t>(), want["n_pos"].get<int64_t>()) << name;
    for (const char* k : {"auroc", "average_precision", "brier", "threshold"}) EXPECT_TRUE(same(got[k], want[k], name + " " + k));
    if (!want["threshold"].is_null())
      for (const char* k : {"sensitivity", "specificity", "ppv", "npv"}) EXPECT_TRUE(same(got[k], want[k], name + " " + k));
    if (got["auroc"].is_null()) EXPECT_TRUE(got["reason"].is_string()) << name << ": a null without a reason";
  }
  EXPECT_TRUE(same(metrics()["macro"]["auroc"], expected()["macro_auroc"], "macro"));
  EXPECT_TRUE(same(metrics()["micro"]["auroc"], expected()["micro_auroc"], "micro"));
}

TEST_F(EvaluationTest, EverySubgroupRowMatchesTheReference) {
  std::map<std::tuple<std::string, std::string, std::string>, const ojson*> rows;
  for (const auto& r : metrics()["subgroups"])
    rows[{r["attribute"].get<std::string>(), r["group"].get<std::string>(), r["class"].get<std::string>()}] = &r;
  const json& want_rows = expected().at("subgroups");
  ASSERT_EQ(rows.size(), want_rows.size());
  int tested = 0, untested_gaps = 0;
  for (const auto& want : want_rows) {
    const auto key = std::make_tuple(want["attribute"].get<std::string>(), want["group"].get<std::string>(),
                                     want["class"].get<std::string>());
    ASSERT_TRUE(rows.count(key)) << std::get<0>(key) << " " << std::get<1>(key) << " " << std::get<2>(key);
    const ojson& got = *rows[key];
    const std::string what = std::get<0>(key) + " " + std::get<1>(key) + " " + std::get<2>(key);
    EXPECT_EQ(got["n_pos"].get<int64_t>(), want["n_pos"].get<int64_t>()) << what;
    for (const auto& [k, v] : want.items()) {
      if (k == "attribute" || k == "group" || k == "class" || k == "n_pos" || k == "n_neg") continue;
      ASSERT_TRUE(got.contains(k)) << what << " lacks " << k;
      EXPECT_TRUE(same(got[k], v, what + " " + k));
    }
    tested += !want["p_value"].is_null();
    untested_gaps += !want["gap"].is_null() && want["p_value"].is_null();
  }
  // The data set exercises both sides of the minimum-cases rule.
  EXPECT_GT(tested, 20);
  EXPECT_GT(untested_gaps, 20);
}

TEST_F(EvaluationTest, UnderdiagnosisAndExpertLabelsMatchTheReference) {
  const ojson& got = metrics()["underdiagnosis"];
  const json& want = expected().at("underdiagnosis");
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const std::string what = want[i]["attribute"].get<std::string>() + " " + want[i]["group"].get<std::string>();
    EXPECT_EQ(got[i]["group"].get<std::string>(), want[i]["group"].get<std::string>());
    EXPECT_EQ(got[i]["with_finding"].get<int64_t>(), want[i]["with_finding"].get<int64_t>()) << what;
    EXPECT_EQ(got[i]["missed"].get<int64_t>(), want[i]["missed"].get<int64_t>()) << what;
    for (const char* k : {"rate", "gap", "p_value", "q_value"})
      if (want[i].contains(k)) EXPECT_TRUE(same(got[i][k], want[i][k], what + " " + k));
  }
  EXPECT_EQ(json(metrics()["underdiagnosis_classes_without_threshold"]), expected().at("classes_without_threshold"));
  const ojson& ex = metrics()["expert"];
  const json& wx = expected().at("expert");
  for (const auto& w : wx) {
    const ojson* row = nullptr;
    for (const auto& r : ex)
      if (r["expert_label"].get<std::string>() == w["expert_label"].get<std::string>()) row = &r;
    ASSERT_NE(row, nullptr) << w["expert_label"];
    for (const char* k : {"n_reviewed", "n_pos"}) EXPECT_EQ((*row)[k].get<int64_t>(), w[k].get<int64_t>()) << k;
    for (const char* k : {"auroc_expert", "auroc_nih_labels", "kappa_nih_vs_expert"})
      EXPECT_TRUE(same((*row)[k], w[k], w["expert_label"].get<std::string>() + " " + k));
  }
  ASSERT_EQ(ex.back()["expert_label"].get<std::string>(), "Fracture");
  EXPECT_TRUE(ex.back()["auroc_expert"].is_null());
}

// A class the pack's source never labels (manifest classes_not_evaluable): no AUROC whatever its labels say, the
// reason names it, and the macro average leaves it out (macro by formula over the other classes' AUROCs).
TEST_F(EvaluationTest, ClassesTheSourceDoesNotLabelAreNotEvaluable) {
  ScoredSplit ev = scored(ref_->at("evaluated"), "e");
  const int nodule = 10;
  ASSERT_EQ(std::string(cxr::data::kClassNames[nodule]), "Nodule");
  ev.not_evaluable[nodule] = true;
  EvaluationOptions o;
  o.resamples = 50;
  const ojson m = evaluate_split(ev, scored(ref_->at("thresholds"), "t"), o);
  const ojson& c = m["classes"]["Nodule"];
  ASSERT_TRUE(metrics()["classes"]["Nodule"]["auroc"].is_number()) << "the fixture's Nodule must be evaluable";
  EXPECT_TRUE(c["auroc"].is_null());
  EXPECT_EQ(c["evaluable"], false);
  EXPECT_NE(c["reason"].get<std::string>().find("not evaluable"), std::string::npos) << c["reason"];
  double sum = 0;
  int n = 0;
  for (const auto& [name, cls] : metrics()["classes"].items())
    if (name != "Nodule" && cls["auroc"].is_number()) {
      sum += cls["auroc"].get<double>();
      ++n;
    }
  EXPECT_EQ(m["macro"]["classes_averaged"].get<int>(), n);
  EXPECT_NEAR(m["macro"]["auroc"].get<double>(), sum / n, 1e-12);
  EXPECT_FALSE(metrics()["classes"]["Atelectasis"].contains("evaluable"));
}
