// The report's "Seed-to-seed variation" section (report/seed_section.h) from hand-made seeds/summary.json: each
// generated statement against the numbers it must quote (the macro range, the pair count, the classes whose seed
// share is above one half, the seeds for a 0.02-wide interval, the instability means against Zech et al., the
// chi-square factors of an SD from K values, the coin-toss count of orders), checked reading, and the rendered
// table with escaped values in index.html and report.md, or "not run" without a summary.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <random>
#include <string>

#include "core/error.h"
#include "core/fs.h"
#include "data/classes.h"
#include "eval/evaluation.h"
#include "report/report.h"
#include "report/seed_section.h"
#include "tests/report/scratch_dir_test.h"

namespace fs = std::filesystem;
using namespace cxr::report;
using ojson = nlohmann::ordered_json;

namespace {

const std::vector<std::string> kNames = cxr::data::class_names();

// K seeds, every class defined: class c's AUROC in seed s is 0.60 + 0.02 c + 0.001 s; seed share 0.2; at width
// "0.02" seed_only 10 + c and total null ("0.05": 3 and 1); instability 0.4 + 0.12 c and 0.21 + 0.012 c; of the 91
// pairs, three flip (Atelectasis/Cardiomegaly in 1 seed, Edema/Mass in 2, Fibrosis/Nodule in 0) and 88 hold.
ojson make_summary(int k) {
  ojson j;
  j["schema"] = "cxrtrain.seeds/1";
  j["split"] = "test";
  j["n_images"] = 300;
  j["seeds"] = ojson::array();
  j["run_dirs"] = ojson::array();
  for (int s = 0; s < k; ++s) {
    j["seeds"].push_back(100 + s);
    j["run_dirs"].push_back("runs/seed" + std::to_string(100 + s));
  }
  j["probability_floor"] = 1e-6;
  j["method"] = {{"auroc", "AUROC <script>alert(1)</script> & \"friends\"."}, {"var_seed", "Sample variance."}};
  j["classes"] = ojson::object();
  for (int c = 0; c < 14; ++c) {
    ojson a = ojson::array();
    for (int s = 0; s < k; ++s) a.push_back(0.60 + 0.02 * c + 0.001 * s);
    j["classes"][kNames[static_cast<size_t>(c)]] = {
        {"auroc", a}, {"mean", 0.60 + 0.02 * c + 0.001 * (k - 1) / 2.0}, {"sd", 0.0015}, {"min", a.front()},
        {"max", a.back()}, {"n_seeds", k}, {"var_seed", 0.0015 * 0.0015}, {"var_test", 0.001}, {"seed_share", 0.2},
        {"seeds_for_width", {{"0.05", {{"seed_only", 3}, {"total", 1}}}, {"0.02", {{"seed_only", 10 + c}, {"total", nullptr}}}}},
        {"ensemble", {{"auroc", 0.61 + 0.02 * c}, {"ci95", {0.55 + 0.02 * c, 0.67 + 0.02 * c}}}},
        {"instability", {{"mean_log_ratio", 0.4 + 0.12 * c}, {"mean_cv", 0.21 + 0.012 * c}, {"n_images", 300}}}};
  }
  ojson m = ojson::array();
  const double macro[] = {0.741, 0.760, 0.752, 0.7449, 0.755};
  for (int s = 0; s < k; ++s) m.push_back(macro[s % 5]);
  j["macro"] = {{"auroc", m}, {"mean", 0.7506}, {"sd", 0.0077}, {"ensemble_auroc", 0.781}};
  ojson holds = ojson::array(), flips = ojson::array();
  const std::vector<std::tuple<std::string, std::string, int>> flipped = {
      {"Atelectasis", "Cardiomegaly", 1}, {"Edema", "Mass", 2}, {"Fibrosis", "Nodule", 0}};
  for (size_t a = 0; a < 14; ++a)
    for (size_t b = a + 1; b < 14; ++b) {
      bool flip = false;
      for (const auto& [x, y, n] : flipped)
        if (x == kNames[a] && y == kNames[b]) {
          flips.push_back({{"a", x}, {"b", y}, {"a_higher_in", n}});
          flip = true;
        }
      if (!flip) holds.push_back({{"higher", kNames[b]}, {"lower", kNames[a]}, {"min_margin", 0.02 * (b - a) - 0.004}});
    }
  j["orderings"] = {{"pairs_tested", 91}, {"holds_in_every_seed", holds}, {"flips", flips}};
  return j;
}

class SeedSectionTest : public cxr::test::ScratchDirTest {
 protected:
  SeedSectionTest() : ScratchDirTest("cxr_seed_section_") {}

  fs::path write(const ojson& j, const std::string& name = "summary.json") {
    const fs::path p = root_ / name;
    cxr::atomic_write_file(p, j.dump(1));
    return p;
  }
  SeedStatements statements(const ojson& j) { return seed_statements(read_seed_summary(write(j).string())); }
  std::string error_of(const ojson& j) {
    try {
      read_seed_summary(write(j).string());
    } catch (const cxr::UserError& e) {
      return e.what();
    }
    return "no error";
  }
  // An evaluate output folder (400 seeded images, class c separable by c/10).
  fs::path write_evaluation() {
    std::mt19937_64 rng(3);
    std::normal_distribution<double> z;
    std::uniform_real_distribution<double> u;
    cxr::eval::ScoredSplit ev, th;
    for (auto* s : {&ev, &th})
      for (size_t i = 0; i < 400; ++i) {
        cxr::data::SampleMeta m;
        m.image_index = "img" + std::to_string(i);
        m.patient_id = static_cast<int32_t>(i / 2);
        m.sex = static_cast<int8_t>(rng() % 2);
        m.age = static_cast<int16_t>(20 + rng() % 60);
        m.view = static_cast<int8_t>(rng() % 2);
        for (int c = 0; c < cxr::data::kNumClasses; ++c) {
          const bool pos = u(rng) < 0.2;
          m.labels[static_cast<size_t>(c)] = pos;
          s->probability.push_back(1 / (1 + std::exp(-(z(rng) + (pos ? 1 + c / 10.0 : 0.0) - 1.5))));
        }
        s->meta.push_back(m);
      }
    cxr::eval::EvaluationOptions o;
    o.resamples = 50;
    ojson m = cxr::eval::evaluate_split(ev, th, o);
    m["model"] = {{"predictions", "model.csv"}, {"pack", (root_ / "no_pack").string()}};
    const fs::path dir = root_ / "eval";
    fs::create_directories(dir);
    cxr::atomic_write_file(dir / "metrics.json", m.dump(2));
    cxr::atomic_write_file(dir / "curves.json", cxr::eval::roc_curves(ev, "test").dump());
    return dir;
  }
};

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

#define EXPECT_HAS(text, part) EXPECT_NE((text).find(part), std::string::npos) << "missing: " << (part) << "\nin:\n" << (text)

}  // namespace

TEST_F(SeedSectionTest, MacroRangeAndPairCount) {
  const auto st = statements(make_summary(5));
  const std::string f = joined(st.findings);
  // min and max of {0.741, 0.760, 0.752, 0.7449, 0.755}; 91 - 3 flips; the flip closest to 5/2 is Edema/Mass (2).
  EXPECT_HAS(f, "Over 5 seeds the macro AUROC ranged from 0.741 to 0.760 (mean 0.751, SD 0.0077, over 14 classes); "
                "the ensemble of the 5 models (each film's mean probability) reaches 0.781.");
  EXPECT_HAS(f, "88 of 91 class pairs keep their order in every seed; 3 flip in at least one (Edema is above Mass in 2 "
                "of 5 seeds).");
  auto j = make_summary(5);
  j["orderings"]["holds_in_every_seed"].push_back(j["orderings"]["flips"][0]);
  j["orderings"]["flips"] = ojson::array();
  j["orderings"]["holds_in_every_seed"].back() = {{"higher", "Cardiomegaly"}, {"lower", "Atelectasis"}, {"min_margin", 0.01}};
  j["orderings"]["holds_in_every_seed"].push_back({{"higher", "Mass"}, {"lower", "Edema"}, {"min_margin", 0.01}});
  j["orderings"]["holds_in_every_seed"].push_back({{"higher", "Nodule"}, {"lower", "Fibrosis"}, {"min_margin", 0.01}});
  EXPECT_HAS(joined(statements(j).findings), "91 of 91 class pairs keep their order in every seed; none flips.");
}

TEST_F(SeedSectionTest, SeedShareAboveOneHalf) {
  auto j = make_summary(5);
  // Three above 0.5 (in class order: Cardiomegaly, Edema, Nodule), one exactly at 0.5 (not above), Pneumonia
  // without a test variance (not counted).
  j["classes"]["Nodule"]["seed_share"] = 0.9;
  j["classes"]["Cardiomegaly"]["seed_share"] = 0.51;
  j["classes"]["Edema"]["seed_share"] = 0.7;
  j["classes"]["Mass"]["seed_share"] = 0.5;
  j["classes"]["Pneumonia"]["seed_share"] = nullptr;
  j["classes"]["Pneumonia"]["var_test"] = nullptr;
  EXPECT_HAS(joined(statements(j).findings),
             "For 3 of 13 classes seed-to-seed variance exceeds test-sampling variance (seed share above 50 %): "
             "Cardiomegaly, Edema and Nodule; for them, retraining with another seed moves the AUROC more than drawing "
             "another 300 test images would.");
  j = make_summary(5);
  j["classes"]["Mass"]["seed_share"] = 0.1;
  j["classes"]["Edema"]["seed_share"] = 0.45;
  EXPECT_HAS(joined(statements(j).findings),
             "For none of 14 classes does seed-to-seed variance exceed test-sampling variance (seed shares 10 % to 45 %)");
}

TEST_F(SeedSectionTest, SeedsForTheQuotedWidth) {
  auto j = make_summary(5);
  EXPECT_HAS(joined(statements(j).findings),
             "A 95 % interval 0.02 wide around a class's mean AUROC over seeds, on this test set, takes from 10 "
             "(Atelectasis) to 23 seeds (Pneumothorax); counting test sampling as well, 14 of 14 classes cannot reach "
             "0.02 with any number of seeds: the 300 test images alone make the interval wider.");
  for (auto& [name, c] : j["classes"].items()) c["seeds_for_width"]["0.02"]["total"] = 40;
  EXPECT_HAS(joined(statements(j).findings), "counting test sampling as well, every class can reach it.");
  // Without 0.02 in the summary the section quotes its first width.
  j = make_summary(5);
  for (auto& [name, c] : j["classes"].items()) c["seeds_for_width"].erase("0.02");
  const SeedSummary s = read_seed_summary(write(j).string());
  EXPECT_EQ(quoted_width(s), "0.05");
  EXPECT_HAS(joined(seed_statements(s).findings), "A 95 % interval 0.05 wide around a class's mean AUROC over seeds, on "
                                                  "this test set, takes 3 seeds (Atelectasis); counting test sampling as "
                                                  "well, every class can reach it.");
}

TEST_F(SeedSectionTest, InstabilityAgainstZech) {
  // Means over the 14 classes: 0.4 + 0.12 x 6.5 = 1.18 and 0.21 + 0.012 x 6.5 = 0.288; largest Pneumothorax
  // (c = 13): 1.96 and 0.366.
  const std::string f = joined(statements(make_summary(5)).findings);
  EXPECT_HAS(f, "Per film, the 5 models' probabilities for a class differ by a mean ln(max p / min p) of 1.18 and a mean "
                "coefficient of variation of 0.288 (averaged over 14 classes; largest for Pneumothorax: 1.96 and 0.366).");
  EXPECT_HAS(f, "Zech et al. 2019 (arXiv 1912.03606) measured 2.45 and 0.543 for CheXNet trained with 50 seeds");
  EXPECT_HAS(f, "K is 5 here: the max/min ratio of K draws grows with K, so 5 seeds underestimate it against their 50");
  const std::string f50 = joined(statements(make_summary(50)).findings);
  EXPECT_HAS(f50, "K is 50 here, as in theirs");
  EXPECT_EQ(f50.find("underestimate"), std::string::npos);
}

TEST_F(SeedSectionTest, WhatKSeedsCanAndCannotSupport) {
  // 95 % interval of an SD from K normal values: [sqrt((K-1)/chi2_0.975), sqrt((K-1)/chi2_0.025)] times the
  // estimate; chi2 quantiles from tables: K = 5 (df 4): 11.143 and 0.4844 -> 0.60 and 2.87; K = 50 (df 49): 70.222
  // and 31.555 -> 0.84 and 1.25. A pair holds by chance in all K with probability 2 (1/2)^K: 91 x 2^-4 = 5.7.
  const auto st5 = statements(make_summary(5));
  const std::string c5 = joined(st5.cannot);
  EXPECT_HAS(c5, "its 95 % interval runs from 0.60 to 2.87 times the estimate (chi-square with 4 degrees of freedom");
  EXPECT_HAS(c5, "91 x 2^(1 - 5) = 5.7 pairs would still hold in every seed");
  EXPECT_HAS(c5, "with fewer than 10 seeds the min, max and ln(max/min) understate");
  EXPECT_HAS(c5, "the same 300 test images");
  EXPECT_HAS(joined(st5.can), "SD of the macro AUROC 0.0077 over 5 seeds");
  const std::string c50 = joined(statements(make_summary(50)).cannot);
  EXPECT_HAS(c50, "from 0.84 to 1.25 times the estimate (chi-square with 49 degrees of freedom");
  EXPECT_EQ(c50.find("fewer than 10 seeds"), std::string::npos);
  EXPECT_HAS(joined(statements(make_summary(2)).cannot), "from 0.45 to 31.91 times the estimate (chi-square with 1 degree of");
}

TEST_F(SeedSectionTest, RefusesBadSummariesNamingTheKey) {
  auto j = make_summary(5);
  j["schema"] = "cxrtrain.seeds/0";
  EXPECT_HAS(error_of(j), ": /schema is 'cxrtrain.seeds/0', expected 'cxrtrain.seeds/1'");
  j = make_summary(5);
  j["classes"]["Edema"]["auroc"].erase(0);
  EXPECT_HAS(error_of(j), "/classes/Edema/auroc has 4 values for 5 seeds");
  j = make_summary(5);
  j["classes"]["Mass"]["mean"] = 1.2;
  EXPECT_HAS(error_of(j), "/classes/Mass/mean is 1.2, outside [0, 1]");
  j = make_summary(5);
  j["classes"]["Nodule"]["seeds_for_width"]["0.02"]["seed_only"] = 0;
  EXPECT_HAS(error_of(j), "/classes/Nodule/seeds_for_width/0.02/seed_only is 0");
  j = make_summary(5);
  j["orderings"]["pairs_tested"] = 90;
  EXPECT_HAS(error_of(j), "/orderings/pairs_tested is 90, not the number of holds and flips (91)");
  j = make_summary(5);
  j["classes"]["Nodules"] = nullptr;
  EXPECT_HAS(error_of(j), "/classes/Nodules is not one of the 14 class names");
  j = make_summary(5);
  j["seeds"] = {1};
  EXPECT_HAS(error_of(j), "/seeds has 1 seed(s)");
  j = make_summary(5);
  j["classes"].erase("Hernia");
  EXPECT_HAS(error_of(j), "/classes/Hernia is missing");
  EXPECT_HAS(error_of(j), "HINT:");
  EXPECT_HAS(error_of(make_summary(5)), "no error");
}

TEST_F(SeedSectionTest, RenderedTableEscapedInHtmlAndMarkdown) {
  auto j = make_summary(5);
  j["classes"]["Hernia"] = nullptr;
  j["classes"]["Pneumonia"]["var_test"] = nullptr;
  j["classes"]["Pneumonia"]["seed_share"] = nullptr;
  j["classes"]["Pneumonia"]["ensemble"]["ci95"] = nullptr;
  j["orderings"]["holds_in_every_seed"] = ojson::array();  // the count must still match
  j["orderings"]["pairs_tested"] = 3;
  const fs::path summary = write(j, "seeds <b>&\"x\".json");
  ReportOptions o;
  o.eval_dir = write_evaluation().string();
  o.seeds_summary = summary.string();
  const ReportFiles files = write_report(o);
  const std::string html = cxr::read_text_file(files.index_html), md = cxr::read_text_file(files.markdown);

  EXPECT_HAS(html, "<h2 id=\"seeds\">Seed-to-seed variation</h2>");
  EXPECT_HAS(html, "seeds for a 0.02-wide 95 % interval (seed only / total)");
  // Edema (c = 3): mean 0.60 + 0.06 + 0.002, sd 0.0015, min 0.660, max 0.664, share 20 %, 13 / unreachable,
  // ensemble 0.670 [0.610, 0.730], 0.76 and 0.246.
  EXPECT_HAS(html, "<tr><td class=\"text\">Edema</td><td>0.662 +/- 0.0015</td><td>0.660 to 0.664</td><td>20 %</td>"
                   "<td>13 / unreachable</td><td>0.670 [0.610, 0.730]</td><td>0.76</td><td>0.246</td></tr>");
  EXPECT_HAS(html, "<td class=\"text\">Pneumonia</td><td>0.842 +/- 0.0015</td><td>0.840 to 0.844</td><td>n/a</td>"
                   "<td>22 / n/a</td><td>0.850</td>");
  EXPECT_HAS(html, "<td class=\"text\">Hernia</td><td colspan=\"7\" class=\"text\">n/a: no positives or no negatives");
  EXPECT_HAS(html, "<tr><td class=\"text\">Edema</td><td class=\"text\">Mass</td><td>2 of 5</td></tr>");
  EXPECT_HAS(html, "<h3>Orderings that hold in every seed (3 pairs tested)</h3>");
  EXPECT_HAS(html, "seeds &lt;b&gt;&amp;&quot;x&quot;.json");
  EXPECT_HAS(html, "AUROC &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;friends&quot;.");
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_EQ(html.find("<b>&"), std::string::npos);
  EXPECT_EQ(html.find("seeds-not-run"), std::string::npos);
  EXPECT_HAS(html, "seed-to-seed variation over 5 seeds below");  // the method card is not left saying one run
  EXPECT_EQ(html.find("this is one training run"), std::string::npos);  // nor the conclusions
  EXPECT_HAS(html, "Seed-to-seed variation beyond the 5 seeds of the section below");
  EXPECT_HAS(html, "0 of 3 class pairs keep their order in every seed");

  EXPECT_HAS(md, "## Seed-to-seed variation");
  EXPECT_HAS(md, "| Edema | 0.662 +/- 0.0015 | 0.660 to 0.664 | 20 % | 13 / unreachable | 0.670 \\[0.610, 0.730\\] | 0.76 | 0.246 |");
  EXPECT_HAS(md, "| Pleural\\_Thickening | 0.822 +/- 0.0015 |");
  // Rows follow each other with no blank line (a blank line ends a Markdown table), the undefined class included.
  EXPECT_HAS(md, "| 0.40 | 0.210 |\n| Cardiomegaly | 0.622 +/- 0.0015 |");
  EXPECT_HAS(md, "| 1.12 | 0.282 |\n| Hernia | n/a: no positives or no negatives in the split | | | | | | |\n| Infiltration |");
  EXPECT_HAS(md, "| smallest margin |\n|---|---|---:|\n| none | | |\n");
  EXPECT_HAS(md, "| Edema | Mass | 2 of 5 |");
  EXPECT_HAS(md, "seeds &lt;b&gt;&amp;\"x\".json");
  EXPECT_HAS(md, "AUROC &lt;script&gt;alert(1)&lt;/script&gt; &amp; \"friends\".");
  EXPECT_HAS(md, "- A precise seed SD: estimated from 5 seeds");
  // The summary travels with the report.
  EXPECT_EQ(cxr::read_text_file(fs::path(files.out_dir) / "data" / "seeds_summary.json"), j.dump(1));
}

TEST_F(SeedSectionTest, NotRunWithoutASummaryAndNothingWrittenOnABadOne) {
  ReportOptions o;
  o.eval_dir = write_evaluation().string();
  const ReportFiles files = write_report(o);
  const std::string html = cxr::read_text_file(files.index_html), md = cxr::read_text_file(files.markdown);
  EXPECT_HAS(html, "<p id=\"seeds-not-run\">not run (<code>cxrtrain study --seeds K</code>");
  EXPECT_HAS(html, "Seed-to-seed variation: this is one training run");
  EXPECT_HAS(md, "not run (`cxrtrain study --seeds K`");
  EXPECT_EQ(html.find("seeds-table"), std::string::npos);
  EXPECT_FALSE(fs::exists(fs::path(files.out_dir) / "data" / "seeds_summary.json"));
  // A damaged summary: the report fails and the previous one stays as it was.
  auto j = make_summary(5);
  j["macro"]["sd"] = "x";
  o.seeds_summary = write(j).string();
  try {
    write_report(o);
    ADD_FAILURE() << "a damaged summary was accepted";
  } catch (const cxr::UserError& e) {
    EXPECT_HAS(std::string(e.what()), "/macro/sd is a string");
  }
  EXPECT_EQ(cxr::read_text_file(files.index_html), html);
}
