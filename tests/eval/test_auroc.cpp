// AUROC against scikit-learn's roc_auc_score (frozen fixture made by make_auroc_fixture.py) and
// against closed-form cases.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <limits>

#include "eval/auroc.h"

using cxr::eval::auroc;

TEST(Auroc, MatchesScikitLearnFixture) {
  std::ifstream in(std::string(CXR_SOURCE_DIR) + "/tests/eval/fixtures/auroc_sklearn.json");
  ASSERT_TRUE(in);
  auto j = nlohmann::json::parse(in);
  int n = 0;
  for (const auto& c : j.at("cases")) {
    auto s = c.at("scores").get<std::vector<double>>();
    auto y = c.at("labels").get<std::vector<uint8_t>>();
    auto a = auroc(s, y);
    ASSERT_TRUE(a.has_value());
    EXPECT_NEAR(*a, c.at("auroc").get<double>(), 1e-12) << "case n=" << c.at("n");
    ++n;
  }
  EXPECT_EQ(n, 7);
}

TEST(Auroc, ClosedForms) {
  EXPECT_DOUBLE_EQ(*auroc({0.1, 0.2, 0.3, 0.4}, {0, 0, 1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(*auroc({0.4, 0.3, 0.2, 0.1}, {0, 0, 1, 1}), 0.0);
  EXPECT_DOUBLE_EQ(*auroc({0.5, 0.5, 0.5, 0.5}, {0, 1, 0, 1}), 0.5);  // all tied
  // One positive ranked above 2 of 3 negatives: 2/3.
  EXPECT_DOUBLE_EQ(*auroc({0.1, 0.2, 0.9, 0.5}, {0, 0, 0, 1}), 2.0 / 3.0);
  EXPECT_FALSE(auroc({0.1, 0.2}, {1, 1}).has_value());
}

TEST(Auroc, PerClassAndMacro) {
  // Column 0 perfect, column 1 inverted, column 2 undefined (no positives).
  std::vector<double> s = {0.1, 0.9, 0.3, 0.9, 0.1, 0.2};
  std::vector<uint8_t> y = {0, 0, 0, 1, 1, 0};  // rows: (0.1,0.9,0.3) and (0.9,0.1,0.2)
  auto r = cxr::eval::auroc_per_class(s, y, 3);
  ASSERT_EQ(r.per_class.size(), 3u);
  EXPECT_DOUBLE_EQ(*r.per_class[0], 1.0);
  EXPECT_DOUBLE_EQ(*r.per_class[1], 0.0);
  EXPECT_FALSE(r.per_class[2].has_value());
  EXPECT_DOUBLE_EQ(*r.macro, 0.5);
  EXPECT_EQ(r.defined, 2);
}

TEST(Auroc, NonFiniteScoresAreAnErrorNamingTheClass) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  EXPECT_THROW(auroc({0.1, nan, 0.3, 0.4}, {0, 0, 1, 1}), cxr::eval::NonFiniteScore);
  EXPECT_THROW(auroc({0.1, 0.2, inf, 0.4}, {0, 0, 1, 1}), cxr::eval::NonFiniteScore);
  std::vector<double> s = {0.1, 0.9, nan, 0.8, -inf, 0.2};
  std::vector<uint8_t> y = {0, 0, 1, 1, 1, 0};
  try {
    cxr::eval::auroc_per_class(s, y, 2, {"Atelectasis", "Cardiomegaly"});
    FAIL() << "NaN accepted";
  } catch (const cxr::eval::NonFiniteScore& e) {
    EXPECT_NE(std::string(e.what()).find("class 'Atelectasis': 2 of 3 scores are not finite"), std::string::npos)
        << e.what();
  }
}

TEST(Auroc, LogitsKeepTheOrderThatFloatSigmoidsLose) {
  // Confident logits: distinct in double, but sigmoid in float32 rounds them all to exactly 1.0.
  const std::vector<double> logits = {17.0, 18.0, 19.0, 20.0, 21.0, 22.0};
  const std::vector<uint8_t> y = {0, 0, 0, 1, 1, 1};
  std::vector<double> float_sigmoid;
  for (double z : logits) float_sigmoid.push_back(1.0f / (1.0f + std::exp(-static_cast<float>(z))));
  EXPECT_DOUBLE_EQ(*auroc(logits, y), 1.0);
  EXPECT_DOUBLE_EQ(*auroc(float_sigmoid, y), 0.5);  // all tied: the information is gone
}
