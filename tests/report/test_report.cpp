// The report (report/): checked reading of metrics.json (errors name the file and the key), statements
// generated from the numbers (they change when the numbers do), the published table placed by class name,
// plot geometry, escaping of every text, and that a failed report leaves the previous one untouched.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>

#include "core/error.h"
#include "core/fs.h"
#include "data/classes.h"
#include "eval/evaluation.h"
#include "report/conclusions.h"
#include "report/evaluation_result.h"
#include "report/plots.h"
#include "report/published.h"
#include "report/report.h"

namespace fs = std::filesystem;
using namespace cxr::report;
using ojson = nlohmann::ordered_json;

namespace {

// A seeded evaluation: 600 images of 200 patients, class c separable by c/10, Hernia without positives.
cxr::eval::ScoredSplit synthetic_split(uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z;
  std::uniform_real_distribution<double> u;
  cxr::eval::ScoredSplit s;
  for (size_t i = 0; i < n; ++i) {
    cxr::data::SampleMeta m;
    m.image_index = "img" + std::to_string(i);
    m.patient_id = static_cast<int32_t>(i / 3);
    m.sex = static_cast<int8_t>(rng() % 2);
    m.age = static_cast<int16_t>(10 + rng() % 80);
    m.view = static_cast<int8_t>(rng() % 2);
    for (int c = 0; c < cxr::data::kNumClasses; ++c) {
      const bool pos = c != *cxr::data::class_index("Hernia") && u(rng) < 0.15;
      m.labels[static_cast<size_t>(c)] = pos;
      s.probability.push_back(1 / (1 + std::exp(-(z(rng) + (pos ? c / 10.0 : 0.0) - 1.5))));
    }
    s.meta.push_back(m);
  }
  return s;
}

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("cxr_report_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  // An evaluate output folder, as `cxrtrain evaluate --predictions ... --out DIR` writes it.
  fs::path write_evaluation(const std::string& name) {
    const auto ev = synthetic_split(1, 600), th = synthetic_split(2, 300);
    cxr::eval::EvaluationOptions o;
    o.resamples = 100;
    ojson m = cxr::eval::evaluate_split(ev, th, o);
    m["model"] = {{"predictions", "model <b>&\"x\".csv"}, {"pack", (root_ / "no_pack").string()}};
    const fs::path dir = root_ / name;
    fs::create_directories(dir);
    cxr::atomic_write_file(dir / "metrics.json", m.dump(2));
    cxr::atomic_write_file(dir / "curves.json", cxr::eval::roc_curves(ev, "test").dump());
    return dir;
  }
  static void edit(const fs::path& file, const std::function<void(ojson&)>& change) {
    ojson j = ojson::parse(cxr::read_text_file(file));
    change(j);
    cxr::atomic_write_file(file, j.dump());
  }
  static std::string error_of(const ReportOptions& o) {
    try {
      write_report(o);
    } catch (const cxr::UserError& e) {
      return e.what();
    }
    return "no error";
  }
  fs::path root_;
};

EvaluationResult base_result() {
  EvaluationResult r;
  r.split = "test";
  r.n_images = 1000;
  r.n_patients = 400;
  r.bootstrap_resamples = 2000;
  r.threshold_rule = "youden";
  r.thresholds_chosen_on = "val";
  for (int c = 0; c < cxr::data::kNumClasses; ++c) {
    ClassResult& k = r.classes[static_cast<size_t>(c)];
    k.name = cxr::data::kClassNames[c];
    k.n_pos = 100;
    k.n_neg = 900;
    k.prevalence = 0.1;
    k.brier = 0.05;  // < 0.1 * 0.9: skilful
    k.ece = 0.01;
    k.auroc = 0.70 + 0.01 * c;
    k.ci_delong = Interval{*k.auroc - 0.04, *k.auroc + 0.04};
    k.sensitivity = 0.8;
    k.specificity = 0.6;
  }
  r.macro_auroc = 0.765;
  r.macro_ci_bootstrap = Interval{0.74, 0.79};
  r.macro_classes = 14;
  r.expert_reason = "the pack has no expert labels for this split";
  return r;
}

bool any_contains(const std::vector<std::string>& v, const std::string& needle) {
  return std::any_of(v.begin(), v.end(), [&](const std::string& s) { return s.find(needle) != std::string::npos; });
}

}  // namespace

TEST_F(ReportTest, MetricsErrorsNameTheFileAndTheKey) {
  const fs::path dir = write_evaluation("ev");
  EXPECT_NO_THROW(read_evaluation(dir.string()));
  edit(dir / "metrics.json", [](ojson& j) { j["classes"]["Edema"]["auroc"] = "high"; });
  EXPECT_NE(error_of({"", dir.string(), "", ""}).find("metrics.json: /classes/Edema/auroc is a string, expected a number"),
            std::string::npos)
      << error_of({"", dir.string(), "", ""});
  edit(dir / "metrics.json", [](ojson& j) { j["classes"].erase("Edema"); });
  EXPECT_NE(error_of({"", dir.string(), "", ""}).find("/classes/Edema is missing"), std::string::npos);
  edit(dir / "metrics.json", [](ojson& j) { j.erase("classes"); j["classes"] = ojson::object(); });
  EXPECT_NE(error_of({"", dir.string(), "", ""}).find("/classes/Atelectasis is missing"), std::string::npos);
  cxr::atomic_write_file(dir / "metrics.json", "{\"split\": \"test\", \"n_images\": 3");  // torn
  EXPECT_NE(error_of({"", dir.string(), "", ""}).find("is not valid JSON"), std::string::npos);
  const fs::path other = write_evaluation("ev2");
  edit(other / "metrics.json", [](ojson& j) { j["classes"]["Mass"]["sensitivity"] = 1.5; });
  EXPECT_NE(error_of({"", other.string(), "", ""}).find("/classes/Mass/sensitivity is 1.5"), std::string::npos);
  const fs::path third = write_evaluation("ev3");
  edit(third / "curves.json", [](ojson& j) { j["classes"]["Mass"]["tpr"].erase(0); });
  EXPECT_NE(error_of({"", third.string(), "", ""}).find("curves.json: /classes/Mass has fpr and tpr of different lengths"),
            std::string::npos);
  EXPECT_NE(error_of({"", (root_ / "nowhere").string(), "", ""}).find("holds no metrics.json"), std::string::npos);
}

TEST_F(ReportTest, AFailedReportLeavesThePreviousOneUntouched) {
  const fs::path dir = write_evaluation("ev");
  const ReportFiles first = write_report({"", dir.string(), "", ""});
  const std::string html = cxr::read_text_file(first.index_html);
  EXPECT_EQ(first.files.size(), 14u);
  edit(dir / "metrics.json", [](ojson& j) { j["macro"]["auroc"] = nullptr; j["n_patients"] = -1; });
  EXPECT_THROW(write_report({"", dir.string(), "", ""}), cxr::UserError);
  EXPECT_EQ(cxr::read_text_file(first.index_html), html);
  for (const auto& f : first.files) EXPECT_TRUE(fs::exists(fs::path(first.out_dir) / f)) << f;
  size_t siblings = 0;
  for (const auto& e : fs::directory_iterator(dir)) siblings += e.path().filename().string().find(".tmp") != std::string::npos;
  EXPECT_EQ(siblings, 0u) << "a staging folder was left behind";
}

TEST_F(ReportTest, EveryTextIsEscaped) {
  const fs::path dir = write_evaluation("ev <script>alert(1)</script> & \"q\"");
  const ReportFiles f = write_report({"", dir.string(), "", ""});
  const std::string html = cxr::read_text_file(f.index_html), md = cxr::read_text_file(f.markdown);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<b>&"), std::string::npos);
  EXPECT_NE(html.find("model &lt;b&gt;&amp;&quot;x&quot;.csv"), std::string::npos);
  EXPECT_EQ(md.find("<b>"), std::string::npos);
  EXPECT_NE(md.find("model &lt;b&gt;&amp;\"x\".csv"), std::string::npos);
  EXPECT_NE(md.find("Pleural\\_Thickening"), std::string::npos) << "markdown emphasis characters are escaped";
  EXPECT_NE(html.find("Content-Security-Policy"), std::string::npos);
}

TEST_F(ReportTest, PartialEvaluationIsStatedInBothFormats) {
  const fs::path dir = write_evaluation("ev");
  ReportFiles f = write_report({"", dir.string(), "", ""});
  EXPECT_EQ(cxr::read_text_file(f.index_html).find("partial-warning"), std::string::npos);
  edit(dir / "metrics.json", [](ojson& j) {
    j["partial"] = {{"images_scored", 600}, {"images_in_split", 2400}, {"reason", "--allow-partial"}};
  });
  f = write_report({"", dir.string(), "", ""});
  const std::string html = cxr::read_text_file(f.index_html), md = cxr::read_text_file(f.markdown);
  EXPECT_NE(html.find("id=\"partial-warning\">Partial evaluation"), std::string::npos);
  EXPECT_NE(html.find("600 of the split's 2,400 images"), std::string::npos);
  EXPECT_NE(md.find("**Partial evaluation**"), std::string::npos);
  EXPECT_NE(md.find("only 600 of its 2,400 images were scored"), std::string::npos);
}

TEST_F(ReportTest, AnotherModelsComparisonIsShownWhenPresent) {
  const fs::path dir = write_evaluation("ev");
  ReportFiles f = write_report({"", dir.string(), "", ""});
  EXPECT_EQ(cxr::read_text_file(f.index_html).find("comparison-table"), std::string::npos);
  edit(dir / "metrics.json", [](ojson& j) {
    ojson rows = ojson::array();
    for (const auto& name : cxr::data::class_names())
      rows.push_back({{"class", name}, {"auroc_other", 0.61}, {"difference", 0.04}, {"p_value", 0.02}, {"q_value", 0.03}});
    j["comparison"] = {{"other", "baseline <v2>.csv"}, {"test", "paired DeLong, same images"}, {"classes", rows}};
  });
  f = write_report({"", dir.string(), "", ""});
  const std::string html = cxr::read_text_file(f.index_html);
  EXPECT_NE(html.find("<h2 id=\"comparison\">Against baseline &lt;v2&gt;.csv</h2>"), std::string::npos);
  size_t rows = 0;
  for (size_t at = html.find("id=\"comparison-table\""); (at = html.find("<tr><td class=\"text\">", at + 1)) != std::string::npos &&
                                                             at < html.find("</table>", html.find("comparison-table"));)
    ++rows;
  EXPECT_EQ(rows, 14u);
  EXPECT_NE(cxr::read_text_file(f.markdown).find("## Against baseline &lt;v2&gt;.csv"), std::string::npos);
}

TEST_F(ReportTest, RoundTripKeepsTheNumbersAndThePlotsFollowThem) {
  const fs::path dir = write_evaluation("ev");
  const ojson m = ojson::parse(cxr::read_text_file(dir / "metrics.json"));
  const EvaluationResult r = read_evaluation(dir.string());
  for (const auto& c : r.classes) {
    const auto& j = m["classes"][c.name];
    if (j["auroc"].is_null()) {
      EXPECT_FALSE(c.auroc.has_value()) << c.name;
      EXPECT_FALSE(c.reason.empty());
      continue;
    }
    EXPECT_EQ(*c.auroc, j["auroc"].get<double>()) << c.name;
    EXPECT_EQ(c.ci_delong->lo, j["auroc_ci95_delong"][0].get<double>());
    EXPECT_EQ(c.ci_bootstrap->hi, j["auroc_ci95_bootstrap"][1].get<double>());
    EXPECT_EQ(c.roc_fpr.front(), 0.0);
    EXPECT_EQ(c.roc_tpr.back(), 1.0);
  }
  ASSERT_EQ(r.subgroups.size(), m["subgroups"].size());
  // Forest plot: rows by AUROC, highest first, the undefined class last; each dot where the axis puts it.
  const Plot forest = forest_plot(r);
  const auto& rows = forest.data["classes"];
  for (size_t i = 1; i + 1 < rows.size(); ++i)
    EXPECT_GE(rows[i - 1]["auroc"].get<double>(), rows[i]["auroc"].get<double>());
  EXPECT_EQ(rows.back()["class"].get<std::string>(), "Hernia");
  EXPECT_TRUE(rows.back()["auroc"].is_null());
  const auto& ticks = forest.view["ticks"];
  const double lo = std::stod(ticks.front()["label"].get<std::string>());
  const double x_lo = std::stod(ticks.front()["x"].get<std::string>()), x_hi = std::stod(ticks.back()["x"].get<std::string>());
  const auto& top = forest.view["rows"][0];
  const double expect_x = x_lo + (rows[0]["auroc"].get<double>() - lo) / (1 - lo) * (x_hi - x_lo);
  EXPECT_NEAR(std::stod(top["point_x"].get<std::string>()), expect_x, 0.06);
  // ROC panels: each curve starts at the panel's bottom-left corner and ends at its top-right corner.
  const Plot roc = roc_plot(r);
  for (const auto& p : roc.view["panels"]) {
    if (!p.contains("line")) continue;
    const std::string pts = p["line"]["points"].get<std::string>();
    const double x = std::stod(p["x"].get<std::string>()), y = std::stod(p["y"].get<std::string>()),
                 s = std::stod(p["size"].get<std::string>());
    char first[64], last[64];
    std::snprintf(first, sizeof first, "%.1f,%.1f", x, y + s);
    std::snprintf(last, sizeof last, "%.1f,%.1f", x + s, y);
    EXPECT_EQ(pts.rfind(first, 0), 0u) << p["title"];
    EXPECT_EQ(pts.substr(pts.rfind(' ') + 1), last) << p["title"];
  }
}

TEST(Conclusions, StatementsFollowTheNumbers) {
  EvaluationResult r = base_result();
  r.class_comparisons = {{"Atelectasis", "Pneumothorax", -0.13, 0.03, 0.0001, 0.0003},
                         {"Atelectasis", "Mass", -0.09, 0.05, 0.07, 0.2}};
  Conclusions c = conclusions(r, {});
  EXPECT_TRUE(any_contains(c.supported, "macro AUROC is 0.765 (95 % patient-bootstrap CI [0.740, 0.790])"));
  EXPECT_TRUE(any_contains(c.supported, "1 of 2 paired class comparisons"));
  EXPECT_TRUE(any_contains(c.supported, "Pneumothorax is separated better than Atelectasis (AUROC difference 0.130"));
  EXPECT_TRUE(any_contains(c.unsupported, "An order among the other 1 class pairs"));
  EXPECT_FALSE(any_contains(c.unsupported, "too imprecise"));
  EXPECT_TRUE(any_contains(c.unsupported, "other splits, initialisations and label versions"));
  // No significant pair: the ranking is unsupported instead.
  r.class_comparisons[0].q_value = 0.2;
  c = conclusions(r, {});
  EXPECT_TRUE(any_contains(c.unsupported, "A ranking of the classes: none of the 2"));
  // A small class and a wide interval are named, with the reason.
  r.classes[3].n_pos = 7;
  r.classes[5].ci_delong = Interval{0.5, 0.9};
  r.classes[7].auroc.reset();
  r.classes[7].ci_delong.reset();
  r.classes[7].n_pos = 0;
  c = conclusions(r, {});
  EXPECT_TRUE(any_contains(c.unsupported, "Edema (7 positives)"));
  EXPECT_TRUE(any_contains(c.unsupported, "Emphysema (100 positives, CI width 0.40)"));
  EXPECT_TRUE(any_contains(c.unsupported, "Any AUROC for Hernia (0 positives)"));
  EXPECT_TRUE(any_contains(c.supported, "Hernia has no AUROC here"));
  // Brier no better than the prevalence: not informative as probabilities.
  r.classes[9].brier = 0.085;  // prevalence 0.1: a constant prediction scores 0.1 * 0.9 = 0.09
  c = conclusions(r, {});
  EXPECT_FALSE(any_contains(c.unsupported, "probabilities of Mass are"));
  r.classes[9].brier = 0.091;
  c = conclusions(r, {});
  EXPECT_TRUE(any_contains(c.unsupported, "probabilities of Mass are informative"));
  // Phantom data, partial evaluation.
  r.images_in_split = 5000;
  c = conclusions(r, {true, 0});
  EXPECT_TRUE(any_contains(c.unsupported, "only 1,000 of its 5,000 images were scored"));
  EXPECT_TRUE(any_contains(c.unsupported, "synthetic phantoms"));
  EXPECT_EQ(c.cannot_conclude, cxr::eval::cannot_conclude());
}

TEST(Conclusions, SubgroupGapsCountOnceAndOnlyWhenTheySurviveFdr) {
  EvaluationResult r = base_result();
  auto row = [](const std::string& attr, const std::string& group, double gap, double q) {
    SubgroupResult s;
    s.attribute = attr;
    s.group = group;
    s.class_name = "Effusion";
    s.n_pos = 50;
    s.n_neg = 400;
    s.auroc = 0.7 + gap / 2;
    s.ci_delong = Interval{0.6, 0.8};
    s.gap = gap;
    s.p_value = q / 2;
    s.q_value = q;
    return s;
  };
  // view: two groups, mirror images; age: three groups.
  r.subgroups = {row("view", "AP", 0.12, 0.01), row("view", "PA", -0.12, 0.01), row("age", "0-19", 0.02, 0.9),
                 row("age", "20-39", -0.15, 0.02), row("age", "40-59", 0.05, 0.3)};
  Conclusions c = conclusions(r, {});
  EXPECT_TRUE(any_contains(c.supported, "2 subgroup gaps survive")) << c.supported[2];
  EXPECT_TRUE(any_contains(c.supported, "view PA, Effusion: AUROC 0.640, -0.120 against the rest (q 0.01)"));
  EXPECT_FALSE(any_contains(c.supported, "view AP, Effusion"));
  EXPECT_TRUE(any_contains(c.supported, "age 20-39, Effusion"));
  EXPECT_TRUE(any_contains(c.unsupported, "known only to +/- 0.10"));
  for (auto& s : r.subgroups) s.q_value = 0.5;
  c = conclusions(r, {});
  EXPECT_TRUE(any_contains(c.supported, "No subgroup gap survives"));
}

TEST(Published, ValuesArePlacedByClassName) {
  const auto& p = published_results();
  ASSERT_EQ(p.size(), 3u);
  auto at = [](const PublishedResult& r, const char* name) { return r.auroc[static_cast<size_t>(*cxr::data::class_index(name))]; };
  // Wang et al. 2017 and CheXNet tabulate in NIH's original order (Atelectasis, Cardiomegaly, Effusion,
  // Infiltration, ...): a few values from the papers, by name.
  EXPECT_EQ(*at(p[1], "Infiltration"), 0.6614);
  EXPECT_EQ(*at(p[1], "Effusion"), 0.7585);
  EXPECT_EQ(*at(p[1], "Hernia"), 0.8717);
  EXPECT_EQ(*at(p[2], "Pneumonia"), 0.7680);
  EXPECT_EQ(*at(p[2], "Emphysema"), 0.9371);
  EXPECT_EQ(*at(p[2], "Consolidation"), 0.7901);
  EXPECT_EQ(*at(p[0], "Cardiomegaly"), 0.852);
  EXPECT_FALSE(at(p[0], "Mass").has_value());
  // The printed means are the means of the printed values.
  for (size_t k = 1; k < 3; ++k) {
    double sum = 0;
    for (const auto& v : p[k].auroc) sum += *v;
    EXPECT_NEAR(sum / 14, *p[k].mean, 0.0005) << p[k].name;
  }
}
