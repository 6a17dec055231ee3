// eval/seed_variance against an independent Python computation (fixtures/seed_reference.json, made by
// make_seed_fixture.py: scikit-learn AUROCs, DeLong by the O(m n) pair sum, scipy's t and normal quantiles, seed
// counts by scanning k): every number of the summary; per-film instability and the floor by formula on hand-made
// films; orderings with a tie; determinism; and the inputs it must refuse.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <string>

#include "core/error.h"
#include "data/classes.h"
#include "eval/seed_variance.h"

using namespace cxr::eval;
using ojson = nlohmann::ordered_json;

namespace {

constexpr size_t kC = cxr::data::kNumClasses;
constexpr double kTol = 1e-9;

// Ordered, so that the key order of the reference (Python keeps insertion order) is compared too.
ojson fixture() {
  std::ifstream in(std::string(CXR_SOURCE_DIR) + "/tests/eval/fixtures/seed_reference.json");
  EXPECT_TRUE(in.good());
  return ojson::parse(in);
}

SeedVarianceInput input_of(const ojson& c) {
  SeedVarianceInput in;
  in.split = c["split"];
  in.image_index = c["image_index"].get<std::vector<std::string>>();
  for (const auto& row : c["labels"])
    for (const auto& v : row) in.labels.push_back(v.get<uint8_t>());
  const auto seeds = c["seeds"].get<std::vector<int64_t>>();
  const auto dirs = c["run_dirs"].get<std::vector<std::string>>();
  for (size_t s = 0; s < seeds.size(); ++s) {
    SeedScores sc;
    sc.seed = seeds[s];
    sc.run_dir = dirs[s];
    for (const auto& row : c["probability"][s])
      for (const auto& v : row) sc.probability.push_back(v.get<double>());
    in.seeds.push_back(sc);
  }
  in.ci_widths = c["ci_widths"].get<std::vector<double>>();
  in.probability_floor = c["probability_floor"];
  return in;
}

// Every value of `expected` at the same place in `actual`, with the same keys in the same order (the top level's
// "method" aside): numbers to kTol, integers exactly, null only where null.
void expect_same(const ojson& expected, const ojson& actual, const std::string& where, int& compared) {
  if (expected.is_null()) {
    EXPECT_TRUE(actual.is_null()) << where << ": expected null, got " << actual.dump();
    ++compared;
    return;
  }
  if (expected.is_object()) {
    ASSERT_TRUE(actual.is_object()) << where;
    std::vector<std::string> ek, ak;
    for (auto it = expected.begin(); it != expected.end(); ++it) ek.push_back(it.key());
    for (auto it = actual.begin(); it != actual.end(); ++it)
      if (where != "" || it.key() != "method") ak.push_back(it.key());
    EXPECT_EQ(ek, ak) << where;
    for (auto it = expected.begin(); it != expected.end(); ++it)
      if (actual.contains(it.key())) expect_same(it.value(), actual[it.key()], where + "/" + it.key(), compared);
    return;
  }
  if (expected.is_array()) {
    ASSERT_TRUE(actual.is_array()) << where;
    ASSERT_EQ(expected.size(), actual.size()) << where;
    for (size_t i = 0; i < expected.size(); ++i) expect_same(expected[i], actual[i], where + "/" + std::to_string(i), compared);
    return;
  }
  ++compared;
  if (expected.is_number_integer()) {
    ASSERT_TRUE(actual.is_number_integer()) << where << ": " << actual.dump();
    EXPECT_EQ(expected.get<int64_t>(), actual.get<int64_t>()) << where;
  } else if (expected.is_number()) {
    ASSERT_TRUE(actual.is_number()) << where << ": " << actual.dump();
    EXPECT_NEAR(expected.get<double>(), actual.get<double>(), kTol) << where;
  } else {
    EXPECT_EQ(expected.dump(), actual.dump()) << where;
  }
}

// n images, K seeds; probability[s][i * 14 + c] = f(s, i, c); labels: image i is positive for every class when i is odd.
SeedVarianceInput hand_made(size_t n, size_t k, const std::function<double(size_t, size_t, size_t)>& f) {
  SeedVarianceInput in;
  for (size_t i = 0; i < n; ++i) {
    in.image_index.push_back("film" + std::to_string(i) + ".png");
    for (size_t c = 0; c < kC; ++c) in.labels.push_back(i % 2);
  }
  for (size_t s = 0; s < k; ++s) {
    SeedScores sc;
    sc.seed = static_cast<int64_t>(s);
    for (size_t i = 0; i < n; ++i)
      for (size_t c = 0; c < kC; ++c) sc.probability.push_back(f(s, i, c));
    in.seeds.push_back(sc);
  }
  return in;
}

std::string error_of(const SeedVarianceInput& in) {
  try {
    seed_variance(in);
  } catch (const cxr::UserError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(SeedVariance, MatchesIndependentReference) {
  const auto j = fixture();
  ASSERT_EQ(j["cases"].size(), 2u);
  for (const auto& c : j["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const ojson out = seed_variance(input_of(c));
    int compared = 0;
    expect_same(c["expected"], out, "", compared);
    EXPECT_GT(compared, 500);
    EXPECT_EQ(out["schema"], "cxrtrain.seeds/1");
    for (const char* key : {"auroc", "var_seed", "var_test", "seed_share", "seeds_for_width_seed_only",
                            "seeds_for_width_total", "ensemble", "instability", "macro", "orderings"})
      EXPECT_TRUE(out["method"].contains(key) && out["method"][key].is_string()) << key;
  }
}

// The fixture exercises what the definitions single out; if it stopped doing so the comparison above would pass
// without testing them.
TEST(SeedVariance, FixtureCoversNullsFlipsAndClipping) {
  const auto j = fixture();
  const auto& e = j["cases"][0]["expected"];
  EXPECT_TRUE(e["classes"]["Hernia"].is_null());
  EXPECT_TRUE(e["classes"]["Pneumonia"]["var_test"].is_null());
  EXPECT_TRUE(e["classes"]["Pneumonia"]["ensemble"]["ci95"].is_null());
  int total_null = 0, total_set = 0, total_above_1 = 0;
  for (const auto& [name, c] : e["classes"].items()) {
    if (c.is_null()) continue;
    for (const auto& [w, k] : c["seeds_for_width"].items()) {
      (k["total"].is_null() ? total_null : total_set)++;
      if (!k["total"].is_null() && k["total"].get<int>() > 1) ++total_above_1;
    }
  }
  EXPECT_GT(total_null, 0);
  EXPECT_GT(total_set, 0);
  EXPECT_GT(total_above_1, 0);
  EXPECT_GT(e["orderings"]["flips"].size(), 0u);
  EXPECT_GT(e["orderings"]["holds_in_every_seed"].size(), 0u);
  EXPECT_EQ(e["orderings"]["pairs_tested"], 78);  // 13 classes with an AUROC: 13 * 12 / 2
  // Cardiomegaly's probabilities reach exactly 0 and 1: its ln(max/min) depends on the floor.
  int saturated = 0;
  for (const auto& seed : j["cases"][0]["probability"])
    for (const auto& row : seed) saturated += row[1] == 0.0 || row[1] == 1.0;
  EXPECT_GT(saturated, 50);
  // The two-seed case has classes with seed share above and below one half, and an interval clipped at 1.
  int above = 0, below = 0;
  for (const auto& [name, c] : j["cases"][1]["expected"]["classes"].items())
    if (!c.is_null() && !c["seed_share"].is_null()) (c["seed_share"].get<double>() > 0.5 ? above : below)++;
  EXPECT_GT(above, 0);
  EXPECT_GT(below, 0);
}

TEST(SeedVariance, InstabilityByFormulaWithTheFloor) {
  // Two seeds; on film 0 every class's probability is 0 for seed 0 and 0.5 for seed 1; on the other films the
  // seeds agree. Clipped to the floor f: ln(0.5 / f), and CV = sd / mean of {f, 0.5} = sqrt(2) (0.5 - f) / (0.5 + f).
  const size_t n = 10;
  auto in = hand_made(n, 2, [](size_t s, size_t i, size_t c) {
    if (i == 0) return s == 0 ? 0.0 : 0.5;
    return 0.1 + 0.05 * static_cast<double>((i + c) % 10);
  });
  for (double f : {1e-6, 1e-3}) {
    in.probability_floor = f;
    const ojson out = seed_variance(in);
    const auto& inst = out["classes"]["Edema"]["instability"];
    EXPECT_NEAR(inst["mean_log_ratio"].get<double>(), std::log(0.5 / f) / n, 1e-12) << f;
    EXPECT_NEAR(inst["mean_cv"].get<double>(), std::sqrt(2.0) * (0.5 - f) / (0.5 + f) / n, 1e-12) << f;
    EXPECT_EQ(inst["n_images"], n);
    EXPECT_EQ(out["probability_floor"], f);
  }
  // At the top: 1 and 0.5 clip to 1 - f: ln((1 - f) / 0.5).
  in = hand_made(n, 2, [](size_t s, size_t i, size_t) { return i == 0 ? (s == 0 ? 1.0 : 0.5) : 0.3; });
  in.probability_floor = 1e-3;
  EXPECT_NEAR(seed_variance(in)["classes"]["Mass"]["instability"]["mean_log_ratio"].get<double>(),
              std::log((1 - 1e-3) / 0.5) / n, 1e-12);
}

TEST(SeedVariance, IdenticalSeedsHaveNoSeedVariance) {
  // Every seed the same model: var_seed 0, share 0, one seed (two for the t interval) is enough for any width the
  // test set allows, nothing flips, every instability is 0 and the ensemble is each seed.
  auto in = hand_made(40, 3, [](size_t, size_t i, size_t c) { return 0.01 * static_cast<double>((i * 7 + c * 3) % 97); });
  in.ci_widths = {0.9, 0.01};
  const ojson out = seed_variance(in);
  for (const auto& [name, c] : out["classes"].items()) {
    ASSERT_FALSE(c.is_null()) << name;
    EXPECT_EQ(c["var_seed"], 0.0) << name;
    EXPECT_EQ(c["seed_share"], 0.0) << name;
    EXPECT_EQ(c["seeds_for_width"]["0.9"]["seed_only"], 2) << name;
    EXPECT_EQ(c["seeds_for_width"]["0.9"]["total"], 1) << name;
    EXPECT_TRUE(c["seeds_for_width"]["0.01"]["total"].is_null()) << name;  // 40 films: DeLong SE far above 0.0026
    EXPECT_EQ(c["instability"]["mean_log_ratio"], 0.0) << name;
    EXPECT_NEAR(c["ensemble"]["auroc"].get<double>(), c["mean"].get<double>(), 1e-15) << name;
  }
  EXPECT_EQ(out["orderings"]["pairs_tested"], 91);
  EXPECT_EQ(out["orderings"]["flips"].size() + out["orderings"]["holds_in_every_seed"].size(), 91u);
  EXPECT_EQ(out["macro"]["sd"], 0.0);
}

TEST(SeedVariance, TiesCountForNeitherClass) {
  // Atelectasis and Cardiomegaly get the same scores in seed 0 (equal AUROCs) and Atelectasis better ones in seed 1:
  // not an order that holds; a_higher_in is 1.
  auto in = hand_made(20, 2, [](size_t s, size_t i, size_t c) {
    const double base = 0.02 * static_cast<double>((i * 13) % 20);
    const double signal = (i % 2) * (c == 0 && s == 1 ? 0.3 : 0.1);
    return std::min(1.0, base + signal);
  });
  const ojson out = seed_variance(in);
  bool found = false;
  for (const auto& f : out["orderings"]["flips"])
    if (f["a"] == "Atelectasis" && f["b"] == "Cardiomegaly") {
      found = true;
      EXPECT_EQ(f["a_higher_in"], 1);
    }
  EXPECT_TRUE(found) << out["orderings"].dump();
}

TEST(SeedVariance, NoClassWithAnAurocGivesNullMacro) {
  auto in = hand_made(6, 2, [](size_t s, size_t, size_t) { return 0.2 + 0.1 * static_cast<double>(s); });
  std::fill(in.labels.begin(), in.labels.end(), 0);
  const ojson out = seed_variance(in);
  EXPECT_TRUE(out["macro"].is_null());
  EXPECT_TRUE(out["classes"]["Edema"].is_null());
  EXPECT_EQ(out["orderings"]["pairs_tested"], 0);
}

TEST(SeedVariance, Deterministic) {
  const auto j = fixture();
  const auto in = input_of(j["cases"][0]);
  EXPECT_EQ(seed_variance(in).dump(), seed_variance(in).dump());
}

TEST(SeedVariance, RefusesBadInputNamingSeedAndImage) {
  const auto base = hand_made(8, 3, [](size_t s, size_t i, size_t c) { return 0.1 * static_cast<double>((s + i + c) % 9); });
  ASSERT_EQ(error_of(base), "");

  auto one = base;
  one.seeds.resize(1);
  EXPECT_NE(error_of(one).find("at least 2 seeds, got 1"), std::string::npos) << error_of(one);

  auto shape = base;
  shape.seeds[2].probability.pop_back();
  EXPECT_NE(error_of(shape).find("seed 2 has 111 probabilities; expected 112"), std::string::npos) << error_of(shape);

  auto labels = base;
  labels.labels.resize(14 * 7);
  EXPECT_NE(error_of(labels).find("98 labels for 8 images"), std::string::npos) << error_of(labels);

  auto nan = base;
  nan.seeds[1].run_dir = "runs/s1";
  nan.seeds[1].probability[5 * 14 + 3] = std::nan("");
  const std::string m = error_of(nan);
  EXPECT_NE(m.find("seed 1 (runs/s1): probability of Edema for image film5.png (row 5) is nan"), std::string::npos) << m;
  EXPECT_NE(m.find("HINT:"), std::string::npos) << m;

  auto big = base;
  big.seeds[0].probability[0] = 1.5;
  EXPECT_NE(error_of(big).find("seed 0: probability of Atelectasis for image film0.png (row 0) is 1.5"), std::string::npos)
      << error_of(big);

  auto inf = base;
  inf.seeds[0].probability[14] = -INFINITY;
  EXPECT_NE(error_of(inf).find("film1.png"), std::string::npos) << error_of(inf);

  auto twice = base;
  twice.seeds[2].seed = 1;
  EXPECT_NE(error_of(twice).find("seed 1 appears twice"), std::string::npos) << error_of(twice);

  auto label2 = base;
  label2.labels[3 * 14 + 1] = 2;
  EXPECT_NE(error_of(label2).find("label of Cardiomegaly for image film3.png (row 3) is 2"), std::string::npos)
      << error_of(label2);

  auto width = base;
  width.ci_widths = {0.02, 0.0};
  EXPECT_NE(error_of(width).find("interval width 0.0"), std::string::npos) << error_of(width);
  width.ci_widths = {0.02, 0.02};
  EXPECT_NE(error_of(width).find("interval width 0.02"), std::string::npos) << error_of(width);

  auto floor = base;
  floor.probability_floor = 0;
  EXPECT_NE(error_of(floor).find("probability floor"), std::string::npos) << error_of(floor);

  auto empty = base;
  empty.image_index.clear();
  EXPECT_NE(error_of(empty).find("has no images"), std::string::npos) << error_of(empty);
}
