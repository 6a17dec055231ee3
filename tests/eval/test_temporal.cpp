// The follow-up proxy (eval/temporal.cpp, metrics.json "temporal") against an independent computation
// (fixtures/temporal_reference.json, made by make_temporal_fixture.py with scikit-learn, SciPy, the O(m n)
// DeLong definition and a hand-written Benjamini-Hochberg): band counts, every band x class row (AUROC, DeLong
// interval, gap to the first films, p- and q-values, the minimum-cases rule, nulls with reasons); the band
// edges by formula; and evaluate_split carrying the object after the keys it had before.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <string>
#include <utility>

#include "data/classes.h"
#include "eval/evaluation.h"
#include "eval/temporal.h"

using namespace cxr::eval;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

const json& fixture() {
  static const json j = [] {
    std::ifstream in(std::string(CXR_SOURCE_DIR) + "/tests/eval/fixtures/temporal_reference.json");
    EXPECT_TRUE(in.good());
    return json::parse(in);
  }();
  return j;
}

ScoredSplit scored(const json& s) {
  ScoredSplit out;
  for (size_t i = 0; i < s.at("patient").size(); ++i) {
    cxr::data::SampleMeta m;
    m.image_index = "t" + std::to_string(i);
    m.patient_id = s["patient"][i].get<int32_t>();
    m.follow_up = s["follow_up"][i].get<int32_t>();
    for (int c = 0; c < cxr::data::kNumClasses; ++c) {
      m.labels[static_cast<size_t>(c)] = s["labels"][i][c].get<uint8_t>();
      out.probability.push_back(s["probability"][i][c].get<double>());
    }
    out.meta.push_back(m);
  }
  return out;
}

::testing::AssertionResult same(const ojson& got, const json& want, const std::string& what) {
  if (want.is_null() != got.is_null())
    return ::testing::AssertionFailure() << what << ": got " << got.dump() << ", reference " << want.dump();
  if (want.is_null()) return ::testing::AssertionSuccess();
  if (want.is_array()) {
    if (!got.is_array() || got.size() != want.size())
      return ::testing::AssertionFailure() << what << ": got " << got.dump() << ", reference " << want.dump();
    for (size_t i = 0; i < want.size(); ++i)
      if (std::fabs(got[i].get<double>() - want[i].get<double>()) > 1e-9)
        return ::testing::AssertionFailure() << what << ": got " << got.dump() << ", reference " << want.dump();
    return ::testing::AssertionSuccess();
  }
  if (std::fabs(got.get<double>() - want.get<double>()) > 1e-9)
    return ::testing::AssertionFailure() << what << ": got " << got.dump() << ", reference " << want.dump();
  return ::testing::AssertionSuccess();
}

}  // namespace

TEST(Temporal, BandEdgesFromNihsZeroBasedNumber) {
  // Film 1 is follow-up 0; films 2-5 are 1..4; films 6-20 are 5..19; after the 20th film, >= 20.
  const std::pair<int32_t, int> cases[] = {{0, 0},  {1, 1},  {4, 1},  {5, 2},     {19, 2},
                                           {20, 3}, {21, 3}, {183, 3}, {-1, -1}, {-7, -1}};
  for (const auto& [follow_up, band] : cases) EXPECT_EQ(follow_up_band(follow_up), band) << "follow-up " << follow_up;
  const auto& bands = follow_up_bands();
  ASSERT_EQ(bands.size(), 4u);
  EXPECT_EQ(bands[0].name, "first film");
  EXPECT_EQ(bands[3].last, -1);
}

TEST(Temporal, EveryRowMatchesTheReference) {
  const json& want = fixture().at("expected");
  const ojson t = temporal_proxy(scored(fixture().at("split")));
  ASSERT_EQ(t["bands"].size(), want["bands"].size());
  for (size_t b = 0; b < want["bands"].size(); ++b) {
    const auto& wb = want["bands"][b];
    const auto& gb = t["bands"][b];
    EXPECT_EQ(gb["name"].get<std::string>(), wb["name"].get<std::string>());
    EXPECT_EQ(gb["follow_up_min"].get<int>(), wb["follow_up_min"].get<int>());
    EXPECT_EQ(gb["follow_up_max"].is_null(), wb["follow_up_max"].is_null());
    if (!wb["follow_up_max"].is_null()) {
      EXPECT_EQ(gb["follow_up_max"].get<int>(), wb["follow_up_max"].get<int>());
    }
    EXPECT_EQ(gb["n_images"].get<int64_t>(), wb["n_images"].get<int64_t>()) << wb["name"];
    EXPECT_EQ(gb["n_patients"].get<int64_t>(), wb["n_patients"].get<int64_t>()) << wb["name"];
  }
  EXPECT_EQ(t["images_without_follow_up"].get<int64_t>(), 0);
  EXPECT_EQ(t["tests"]["min_cases"].get<int64_t>(), fixture()["min_cases"].get<int64_t>());

  std::map<std::pair<std::string, std::string>, const ojson*> rows;
  for (const auto& r : t["rows"]) rows[{r["band"].get<std::string>(), r["class"].get<std::string>()}] = &r;
  ASSERT_EQ(rows.size(), want["rows"].size());
  int tested = 0, untested_gaps = 0, no_auroc = 0;
  for (const auto& w : want["rows"]) {
    const auto key = std::make_pair(w["band"].get<std::string>(), w["class"].get<std::string>());
    const std::string what = key.first + " " + key.second;
    ASSERT_TRUE(rows.count(key)) << what;
    const ojson& g = *rows[key];
    for (const char* k : {"n_images", "n_patients", "n_pos", "n_neg"})
      EXPECT_EQ(g[k].get<int64_t>(), w[k].get<int64_t>()) << what << " " << k;
    for (const char* k : {"auroc", "auroc_ci95_delong", "gap", "p_value", "q_value"}) {
      ASSERT_TRUE(g.contains(k)) << what << " lacks " << k;
      EXPECT_TRUE(same(g[k], w[k], what + " " + k));
    }
    if (g["auroc"].is_null() || g["gap"].is_null() || g["p_value"].is_null()) {
      EXPECT_TRUE(g.contains("reason") && g["reason"].is_string()) << what << ": a null without a reason";
    }
    tested += !w["p_value"].is_null();
    untested_gaps += !w["gap"].is_null() && w["p_value"].is_null();
    if (w["auroc"].is_null()) {
      ++no_auroc;
      if (w["n_pos"].get<int64_t>() == 0) {
        EXPECT_NE(g["reason"].get<std::string>().find("auroc: no positive images"), std::string::npos) << what;
      }
    }
  }
  // The fixture exercises every path: tested gaps, gaps below the minimum cases, bands without positives.
  EXPECT_GT(tested, 10);
  EXPECT_GT(untested_gaps, 0);
  EXPECT_GE(no_auroc, 3);
}

TEST(Temporal, RowOrderAndUnknownFollowUpDoNotChangeTheNumbers) {
  ScoredSplit s = scored(fixture().at("split"));
  const ojson base = temporal_proxy(s);
  // An image with an unknown (negative) follow-up number is counted and left out of every band.
  ScoredSplit more = s;
  cxr::data::SampleMeta m = more.meta[0];
  m.image_index = "unknown";
  m.follow_up = -1;
  more.meta.push_back(m);
  for (int c = 0; c < cxr::data::kNumClasses; ++c) more.probability.push_back(0.5);
  const ojson t = temporal_proxy(more);
  EXPECT_EQ(t["images_without_follow_up"].get<int64_t>(), 1);
  EXPECT_EQ(t["rows"].dump(), base["rows"].dump());
}

TEST(Temporal, EvaluateSplitAddsItLastWithItsCaveat) {
  ScoredSplit s = scored(fixture().at("split"));
  EvaluationOptions o;
  o.resamples = 20;
  const ojson m = evaluate_split(s, {}, o);
  ASSERT_TRUE(m.contains("temporal"));
  std::string last;
  for (const auto& [k, v] : m.items()) last = k;
  EXPECT_EQ(last, "temporal");
  EXPECT_EQ(m["temporal"].dump(), temporal_proxy(s).dump());
  const std::string caveat = m["temporal"]["caveat"].get<std::string>();
  for (const char* part : {"sicker", "AP/portable", "case mix", "not evidence of temporal drift in years"})
    EXPECT_NE(caveat.find(part), std::string::npos) << part;
  // The study's list of what it does not evaluate names only what is left: calendar time.
  bool calendar = false;
  for (const auto& item : not_evaluated()) {
    EXPECT_EQ(item.find("later years"), std::string::npos) << item;
    calendar = calendar || item.find("temporal stability in calendar time") != std::string::npos;
  }
  EXPECT_TRUE(calendar);
}
