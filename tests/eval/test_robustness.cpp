// The robustness statistics (eval/robustness.cpp, robustness.json) against an independent computation
// (fixtures/robustness_reference.json, made by make_robustness_fixture.py with scikit-learn, SciPy, the O(m n)
// DeLong definition and a hand-written Benjamini-Hochberg): per split the baseline AUROC and DeLong interval;
// per condition and class the AUROC, interval, difference, paired p-value, q-value over the whole file,
// significance and the list of significant drops; the minimum-cases rule and not-evaluable classes as nulls.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <stdexcept>
#include <string>

#include "data/classes.h"
#include "eval/robustness.h"

using namespace cxr::eval;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

constexpr int K = cxr::data::kNumClasses;

const json& fixture() {
  static const json j = [] {
    std::ifstream in(std::string(CXR_SOURCE_DIR) + "/tests/eval/fixtures/robustness_reference.json");
    EXPECT_TRUE(in.good());
    return json::parse(in);
  }();
  return j;
}

template <class T>
std::vector<T> flat(const json& rows) {
  std::vector<T> out;
  for (const auto& r : rows)
    for (const auto& v : r) out.push_back(v.get<T>());
  return out;
}

RobustnessTable table_from_fixture() {
  RobustnessTable t(0.05);
  for (const auto& [name, s] : fixture()["splits"].items())
    t.add_split({name, flat<uint8_t>(s["labels"]), flat<double>(s["baseline"])});
  for (const auto& c : fixture()["conditions"]) {
    RobustnessCondition rc;
    rc.family = c["family"];
    rc.name = c["name"];
    rc.severity = c["severity"];
    rc.parameter = c["parameter"];
    rc.split = c["split"];
    rc.scores = flat<double>(c["scores"]);
    t.add(rc);
  }
  return t;
}

void expect_near_or_null(const ojson& got, const json& want, const std::string& what) {
  ASSERT_EQ(got.is_null(), want.is_null()) << what << ": got " << got.dump() << ", reference " << want.dump();
  if (!want.is_null()) EXPECT_NEAR(got.get<double>(), want.get<double>(), 1e-9) << what;
}

}  // namespace

TEST(Robustness, BaselinesMatchTheReference) {
  const ojson got = table_from_fixture().to_json();
  EXPECT_EQ(got["schema"], "cxrtrain.robustness/1");
  ASSERT_EQ(got["classes"].size(), static_cast<size_t>(K));
  for (const auto& [name, want] : fixture()["expected"]["splits"].items()) {
    const ojson& g = got["splits"][name];
    EXPECT_EQ(g["images"].get<int>(), want["images"].get<int>()) << name;
    for (int c = 0; c < K; ++c) {
      const std::string what = name + "/" + cxr::data::kClassNames[c];
      for (const char* key : {"auroc", "lo", "hi"}) expect_near_or_null(g["baseline"][c][key], want["baseline"][c][key], what + " " + key);
      EXPECT_EQ(g["baseline"][c]["positives"].get<int>(), want["baseline"][c]["positives"].get<int>()) << what;
    }
  }
  // Hernia has no positives on test: not evaluable.
  EXPECT_TRUE(got["splits"]["test"]["baseline"][7]["auroc"].is_null());
}

TEST(Robustness, ConditionsMatchTheReference) {
  const ojson got = table_from_fixture().to_json();
  const json& want = fixture()["expected"]["conditions"];
  ASSERT_EQ(got["conditions"].size(), want.size());
  int tests = 0, significant = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const ojson& g = got["conditions"][i];
    const json& w = want[i];
    EXPECT_EQ(g["name"].get<std::string>(), w["name"].get<std::string>());
    for (int c = 0; c < K; ++c) {
      const std::string what = w["name"].get<std::string>() + "/" + cxr::data::kClassNames[c];
      for (const char* key : {"auroc", "lo", "hi", "difference", "p_value", "q_value"})
        expect_near_or_null(g["per_class"][c][key], w["per_class"][c][key], what + " " + key);
      EXPECT_EQ(g["per_class"][c]["significant"].get<bool>(), w["per_class"][c]["significant"].get<bool>()) << what;
      tests += !w["per_class"][c]["p_value"].is_null();
      significant += w["per_class"][c]["significant"].get<bool>();
    }
    EXPECT_NEAR(g["macro_auroc"].get<double>(), w["macro_auroc"].get<double>(), 1e-9);
    EXPECT_NEAR(g["macro_difference"].get<double>(), w["macro_difference"].get<double>(), 1e-9);
    EXPECT_EQ(g["significant_drops"].dump(), w["significant_drops"].dump()) << w["name"];
  }
  // The fixture exercises every path: tests and non-tests, significant and not.
  EXPECT_GT(tests, 20);
  EXPECT_GT(significant, 3);
  EXPECT_LT(significant, tests);
}

TEST(Robustness, RulesByConstruction) {
  const ojson got = table_from_fixture().to_json();
  const ojson& identity = got["conditions"][0];
  for (int c = 0; c < K; ++c) {
    const ojson& e = identity["per_class"][c];
    if (e["auroc"].is_null()) continue;
    EXPECT_EQ(e["difference"].get<double>(), 0.0);  // the same scores: exactly no change
    EXPECT_TRUE(e["p_value"].is_null());            // and no variance to test
    EXPECT_FALSE(e["significant"].get<bool>());
  }
  // Pneumonia has 5 positives on test: an AUROC but no test (fewer than kMinCasesForTest).
  const ojson& noise = got["conditions"][1]["per_class"][12];
  EXPECT_TRUE(noise["auroc"].is_number());
  EXPECT_TRUE(noise["p_value"].is_null());
  // The removed-marker condition changes Nodule alone, and Nodule drops significantly.
  EXPECT_EQ(got["conditions"][2]["significant_drops"], ojson::array({"Nodule"}));
}

TEST(Robustness, RejectsBadShapes) {
  RobustnessTable t;
  EXPECT_THROW(t.add_split({"test", std::vector<uint8_t>(K * 3), std::vector<double>(K * 2)}), std::invalid_argument);
  EXPECT_THROW(t.add_split({"test", {}, {}}), std::invalid_argument);
  t.add_split({"test", std::vector<uint8_t>(K * 3), std::vector<double>(K * 3)});
  EXPECT_THROW(t.add_split({"test", std::vector<uint8_t>(K * 3), std::vector<double>(K * 3)}), std::invalid_argument);
  RobustnessCondition c;
  c.split = "val";
  c.scores.assign(K * 3, 0.0);
  EXPECT_THROW(t.add(c), std::invalid_argument);  // unknown split
  c.split = "test";
  c.scores.assign(K * 2, 0.0);
  EXPECT_THROW(t.add(c), std::invalid_argument);  // wrong shape
}
