// The report (report/): checked reading of metrics.json (errors name the file and the key), statements
// generated from the numbers (they change when the numbers do), the published table placed by class name,
// plot geometry, escaping of every text, and that a failed report leaves the previous one untouched; the
// Grad-CAM section from a hand-written cam_stats.json (fixtures/README.md): flags, causal statements (planted
// marker; lesion removed and natural markers, with what they say about a flag), the embedded overlay decoded
// independently, checked input, and "not run" without it.
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
#include "report/base64.h"
#include "report/evaluation_result.h"
#include "report/gradcam_result.h"
#include "report/interpretability.h"
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
  // A run folder RUN/eval/test (an evaluation) and RUN/gradcam (the fixture cam_stats.json, the Pneumothorax
  // overlay kPngMarker, every other class's kPngOther); returns the evaluation folder.
  fs::path write_gradcam_run(const std::string& name, bool with_gradcam = true) {
    const fs::path eval = write_evaluation(name + "/eval/test");
    if (!with_gradcam) return eval;
    const fs::path cam = root_ / name / "gradcam";
    fs::create_directories(cam / "overlays");
    cxr::atomic_write_file(cam / "cam_stats.json", cxr::read_text_file(kFixture));
    for (const auto& c : cxr::data::class_names())
      cxr::atomic_write_file(cam / "overlays" / (c + ".png"), c == "Pneumothorax" ? png_marker() : png_other());
    return eval;
  }
  static constexpr const char* kFixture = CXR_SOURCE_DIR "/tests/report/fixtures/cam_stats.json";
  // Two valid PNGs (1x1 black, 2x1 grey levels 255 and 128), bytes written by Python's zlib and struct.
  static std::string png_marker() {
    static const unsigned char b[] = {
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00,
        0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x3a, 0x7e, 0x9b, 0x55, 0x00,
        0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01,
        0xe5, 0x27, 0xde, 0xfc, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
    return std::string(reinterpret_cast<const char*>(b), sizeof b);
  }
  static std::string png_other() {
    static const unsigned char b[] = {
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00,
        0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0xd1, 0x49, 0x20, 0x56, 0x00,
        0x00, 0x00, 0x0b, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xf8, 0xdf, 0x00, 0x00, 0x02, 0x81, 0x01,
        0x80, 0xca, 0x4d, 0x58, 0x1b, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
    return std::string(reinterpret_cast<const char*>(b), sizeof b);
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

// Base64 decoding written from RFC 4648 section 4 (not the report's encoder); "" on any invalid input.
std::string decode_base64(const std::string& text) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (text.size() % 4 != 0) return "";
  std::string out;
  for (size_t i = 0; i < text.size(); i += 4) {
    int pad = 0;
    unsigned long group = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char ch = text[i + k];
      size_t v = 0;
      if (ch == '=' && i + 4 == text.size() && k >= 2) {
        ++pad;
      } else {
        if (pad > 0 || (v = alphabet.find(ch)) == std::string::npos) return "";
      }
      group = group * 64 + v;
    }
    const char bytes[3] = {static_cast<char>(group >> 16 & 0xff), static_cast<char>(group >> 8 & 0xff),
                           static_cast<char>(group & 0xff)};
    out.append(bytes, static_cast<size_t>(3 - pad));
  }
  return out;
}

size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// The text of the table with this id.
std::string table_of(const std::string& html, const std::string& id) {
  const size_t at = html.find("id=\"" + id + "\"");
  if (at == std::string::npos) return "";
  return html.substr(at, html.find("</table>", at) - at);
}

// The table row (<tr ...> to </tr>) whose first cell starts with `name`.
std::string row_of(const std::string& table, const std::string& name) {
  const size_t cell = table.find("<td class=\"text\">" + name);
  if (cell == std::string::npos) return "";
  const size_t start = table.rfind("<tr", cell);
  return table.substr(start, table.find("</tr>", cell) - start);
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

// --- Grad-CAM ---------------------------------------------------------------------------------------------

namespace {

// Three classes measured by the causal test; the marker planted for Pneumothorax.
GradcamResult causal_result() {
  GradcamResult g;
  g.split = "test";
  g.layer = "layer4";
  g.feature_map = {2, 2};
  g.image_size = 64;
  g.region_names = {"lungs", "corners"};
  g.causal_test = true;
  g.markers = {{"Pneumothorax", "top-left", 0}};
  for (int c = 0; c < cxr::data::kNumClasses; ++c) {
    ClassCam& k = g.classes[static_cast<size_t>(c)];
    k.name = cxr::data::kClassNames[c];
    k.region_share = {{0.8, Interval{0.7, 0.9}}, {0.2, Interval{0.1, 0.3}}};
    k.sanity_verdict = "PASS";
    k.sanity_threshold = 0.5;
    k.marker_test = MarkerTest{0.001, Interval{-0.003, 0.005}, 0.8, 0.8, 100};
  }
  return g;
}

ClassCam& cam_class(GradcamResult& g, const char* name) {
  return g.classes[static_cast<size_t>(*cxr::data::class_index(name))];
}

std::string statement_of(const std::vector<std::string>& v, const std::string& start) {
  for (const auto& s : v)
    if (s.rfind(start, 0) == 0) return s;
  return "";
}

// causal_result() with the phantom's other tests: every class uses its lesion (0.300 [0.250, 0.350] on 32
// films), none is moved by the AP tags and electrodes (+0.002 [-0.004, 0.008] on 400 films).
GradcamResult phantom_result() {
  GradcamResult g = causal_result();
  g.natural_test = true;
  g.natural_n_images = 400;
  for (auto& c : g.classes) {
    c.lesion_removed = RemovalTest{0.30, Interval{0.25, 0.35}, 32};
    c.natural_markers = RemovalTest{0.002, Interval{-0.004, 0.008}, 400};
  }
  return g;
}

}  // namespace

TEST(Interpretability, LesionStatementsFollowTheNumbers) {
  GradcamResult g = phantom_result();
  // Every class but Mass does not rest on its lesion (interval includes 0): Mass is the one that uses it.
  for (auto& c : g.classes) c.lesion_removed = RemovalTest{0.01, Interval{-0.01, 0.03}, 32};
  cam_class(g, "Mass").lesion_removed = RemovalTest{0.42, Interval{0.38, 0.46}, 32};
  CamStatements st = cam_statements(g);
  EXPECT_EQ(statement_of(st.use, "Removing the lesion lowers Mass's"),
            "Removing the lesion lowers Mass's probability by 0.420 [0.380, 0.460] (n = 32): the prediction uses the lesion.");
  EXPECT_EQ(statement_of(st.use, "Effusion:"), "Effusion: removing the lesion changes its probability by +0.010 [-0.010, "
                                               "0.030] (n = 32): the prediction does not rest on the lesion.");
  EXPECT_EQ(lesion_use(cam_class(g, "Mass")), LesionUse::kUses);
  EXPECT_EQ(lesion_use(cam_class(g, "Effusion")), LesionUse::kDoesNotUse);
  EXPECT_FALSE(any_contains(st.use, "flag"));  // nothing is flagged

  // The bounds: uses when the interval's lower bound is above 0.02; an interval above 0 reaching below 0.02:
  // perhaps little; a mean below 0.02 with the interval clear of 0: does not rest on it.
  cam_class(g, "Mass").lesion_removed = RemovalTest{0.05, Interval{0.021, 0.08}, 32};
  EXPECT_EQ(lesion_use(cam_class(g, "Mass")), LesionUse::kUses);
  cam_class(g, "Mass").lesion_removed = RemovalTest{0.05, Interval{0.019, 0.08}, 32};
  EXPECT_EQ(lesion_use(cam_class(g, "Mass")), LesionUse::kUsesLittle);
  EXPECT_EQ(statement_of(cam_statements(g).use, "Removing the lesion lowers Mass's"),
            "Removing the lesion lowers Mass's probability by 0.050 [0.019, 0.080] (n = 32): the prediction uses the "
            "lesion, perhaps little (the interval reaches below 0.02).");
  cam_class(g, "Mass").lesion_removed = RemovalTest{0.019, Interval{0.015, 0.023}, 32};
  EXPECT_EQ(lesion_use(cam_class(g, "Mass")), LesionUse::kDoesNotUse);
  cam_class(g, "Mass").lesion_removed = RemovalTest{0.05, Interval{-0.01, 0.11}, 32};
  EXPECT_EQ(lesion_use(cam_class(g, "Mass")), LesionUse::kDoesNotUse);
  // Removing the lesion raises the probability: stated with the magnitude and the mirrored interval.
  cam_class(g, "Mass").lesion_removed = RemovalTest{-0.05, Interval{-0.07, -0.03}, 32};
  EXPECT_EQ(lesion_use(cam_class(g, "Mass")), LesionUse::kAgainst);
  EXPECT_EQ(statement_of(cam_statements(g).use, "Removing the lesion raises Mass's"),
            "Removing the lesion raises Mass's probability by 0.050 [0.030, 0.070] (n = 32): the lesion counts against "
            "the class in this model.");

  // Several classes plainly using their lesion: one sentence; a class without films: named, not judged.
  g = phantom_result();
  cam_class(g, "Mass").lesion_removed = RemovalTest{0.42, Interval{0.38, 0.46}, 32};
  cam_class(g, "Hernia").lesion_removed = RemovalTest{std::nullopt, std::nullopt, 0};
  st = cam_statements(g);
  const std::string all = statement_of(st.use, "Removing the lesion lowers the probability of ");
  EXPECT_NE(all.find("of Atelectasis by 0.300 [0.250, 0.350] (n = 32), Cardiomegaly by 0.300"), std::string::npos) << all;
  EXPECT_NE(all.find(", Mass by 0.420 [0.380, 0.460] (n = 32), "), std::string::npos) << all;
  EXPECT_NE(all.find(" and Pneumothorax by 0.300 [0.250, 0.350] (n = 32) (mean change, 95 % CI, films): these "
                     "predictions use the lesion."),
            std::string::npos)
      << all;
  EXPECT_EQ(count_of(all, " by "), 13u);  // every class but Hernia
  EXPECT_EQ(lesion_use(cam_class(g, "Hernia")), LesionUse::kNoFilms);
  EXPECT_EQ(statement_of(st.use, "No film of the split"),
            "No film of the split truly has Hernia: the lesion test had nothing to remove (n = 0).");

  // Not run for a class: no sentence, no judgement; the tests not run at all: no statement.
  cam_class(g, "Hernia").lesion_removed.reset();
  EXPECT_EQ(lesion_use(cam_class(g, "Hernia")), LesionUse::kNotTested);
  EXPECT_FALSE(any_contains(cam_statements(g).use, "Hernia"));
  g.natural_test = false;
  EXPECT_TRUE(cam_statements(g).use.empty());
}

TEST(Interpretability, FlaggedClassesAreJudgedByTheCausalTests) {
  GradcamResult g = phantom_result();
  ClassCam& flagged = cam_class(g, "Pneumothorax");
  flagged.shortcut_flag = true;
  // Flagged and not resting on its lesion, its planted marker moving it: the marker explains the flag.
  flagged.lesion_removed = RemovalTest{0.01, Interval{-0.01, 0.03}, 32};
  flagged.marker_test = MarkerTest{0.31, Interval{0.29, 0.33}, 0.71, 0.95, 1600};
  CamStatements st = cam_statements(g);
  EXPECT_EQ(st.use.front(),
            "Pneumothorax: removing the lesion changes its probability by +0.010 [-0.010, 0.030] (n = 32): the "
            "prediction does not rest on the lesion. Grad-CAM flags it as a possible shortcut, and the flag is consistent "
            "with a prediction that does not rest on the lesion; its probability moves with the planted marker +0.310 "
            "[0.290, 0.330].");
  // Neither marker moves it: nothing tested explains the flag.
  flagged.marker_test = MarkerTest{0.001, Interval{-0.003, 0.005}, 0.8, 0.8, 1600};
  st = cam_statements(g);
  EXPECT_NE(st.use.front().find("the flag is consistent with a prediction that does not rest on the lesion; no tested "
                                "marker explains the flag (the planted marker +0.001 [-0.003, 0.005] and the AP tags and "
                                "electrodes +0.002 [-0.004, 0.008])."),
            std::string::npos)
      << st.use.front();
  // Removing the other findings lowers it: the co-occurring findings are named after the markers.
  flagged.other_lesions_removed = RemovalTest{0.12, Interval{0.09, 0.15}, 20};
  st = cam_statements(g);
  EXPECT_NE(st.use.front().find("no tested marker explains the flag (the planted marker +0.001 [-0.003, 0.005] and the "
                                "AP tags and electrodes +0.002 [-0.004, 0.008]); removing the other findings from its "
                                "films lowers it by 0.120 [0.090, 0.150] (n = 20): it leans on the findings that "
                                "co-occur with it."),
            std::string::npos)
      << st.use.front();
  // A change whose interval reaches below the negligible size is not quoted.
  flagged.other_lesions_removed = RemovalTest{0.03, Interval{0.01, 0.05}, 20};
  st = cam_statements(g);
  EXPECT_EQ(st.use.front().find("other findings"), std::string::npos) << st.use.front();
  flagged.other_lesions_removed.reset();
  // The AP tags and electrodes move it: they are named, the planted marker is not.
  flagged.natural_markers = RemovalTest{0.05, Interval{0.03, 0.07}, 400};
  st = cam_statements(g);
  EXPECT_NE(st.use.front().find("; its probability moves with the AP tags and electrodes +0.050 [0.030, 0.070]."),
            std::string::npos)
      << st.use.front();
  EXPECT_EQ(st.use.front().find("no tested marker"), std::string::npos);

  // Flagged and using its lesion: the flag is not borne out; it gets its own sentence, outside the group.
  flagged.natural_markers = RemovalTest{0.002, Interval{-0.004, 0.008}, 400};
  flagged.lesion_removed = RemovalTest{0.42, Interval{0.38, 0.46}, 32};
  st = cam_statements(g);
  EXPECT_EQ(st.use.front(),
            "Removing the lesion lowers Pneumothorax's probability by 0.420 [0.380, 0.460] (n = 32): the prediction uses "
            "the lesion. Grad-CAM's flag is not borne out: the prediction does use the lesion (its map's off-target mass "
            "may be the coarse map's spill-over); no tested marker explains the flag (the planted marker +0.001 "
            "[-0.003, 0.005] and the AP tags and electrodes +0.002 [-0.004, 0.008]).");
  EXPECT_EQ(statement_of(st.use, "Removing the lesion lowers the probability of ").find("Pneumothorax"), std::string::npos);
  // Without planted markers only the natural markers are quoted.
  for (auto& c : g.classes) c.marker_test.reset();
  g.causal_test = false;
  EXPECT_NE(cam_statements(g).use.front().find("no tested marker explains the flag (the AP tags and electrodes +0.002 "
                                               "[-0.004, 0.008])."),
            std::string::npos);
  // Unflagged classes get no word about a flag.
  flagged.shortcut_flag = false;
  EXPECT_FALSE(any_contains(cam_statements(g).use, "flag"));
}

TEST(Interpretability, NaturalMarkerStatementsFollowTheNumbers) {
  GradcamResult g = phantom_result();
  EXPECT_EQ(statement_of(cam_statements(g).use, "No class's"),
            "No class's probability depends on the AP tags and electrodes (all |change| < 0.02; 400 AP films).");
  // A large mean whose interval includes 0 moves nothing, but "all below 0.02" would be false.
  cam_class(g, "Edema").natural_markers = RemovalTest{0.05, Interval{-0.01, 0.11}, 400};
  EXPECT_EQ(natural_marker_effect(cam_class(g, "Edema")), MarkerEffect::kUnaffected);
  EXPECT_EQ(statement_of(cam_statements(g).use, "No class's"),
            "No class's probability depends on the AP tags and electrodes (every change is below 0.02 or its 95 % CI "
            "includes 0; 400 AP films).");
  // Some move: listed with their numbers, in class order; a change below 0.02 clear of 0 is not listed.
  cam_class(g, "Mass").natural_markers = RemovalTest{-0.03, Interval{-0.04, -0.02}, 400};
  cam_class(g, "Effusion").natural_markers = RemovalTest{0.05, Interval{0.03, 0.07}, 400};
  cam_class(g, "Edema").natural_markers = RemovalTest{0.015, Interval{0.01, 0.02}, 400};
  const CamStatements st = cam_statements(g);
  EXPECT_EQ(statement_of(st.use, "No class's"), "");
  EXPECT_EQ(statement_of(st.use, "Moved by the AP tags and electrodes"),
            "Moved by the AP tags and electrodes (probability with minus without them, 95 % CI; 400 AP films): Effusion "
            "+0.050 [0.030, 0.070], Mass -0.030 [-0.040, -0.020]. These predictions use the view's marks, a shortcut the "
            "films carry naturally; the other classes' changes are below 0.02 or their 95 % CI includes 0.");
  EXPECT_EQ(natural_marker_effect(cam_class(g, "Mass")), MarkerEffect::kLowers);
  EXPECT_EQ(natural_marker_effect(cam_class(g, "Edema")), MarkerEffect::kUnaffected);
  // No AP film to change.
  g.natural_n_images = 0;
  for (auto& c : g.classes) c.natural_markers = RemovalTest{std::nullopt, std::nullopt, 0};
  EXPECT_EQ(natural_marker_effect(cam_class(g, "Mass")), MarkerEffect::kNotTested);
  EXPECT_EQ(cam_statements(g).use.back(), "No AP film of the split carries a text tag or ECG electrodes (n = 0): the "
                                          "natural-marker test had nothing to remove.");
}

TEST(Interpretability, CausalStatementsFollowTheNumbers) {
  GradcamResult g = causal_result();
  cam_class(g, "Pneumothorax").marker_test = MarkerTest{0.31, Interval{0.29, 0.33}, 0.71, 0.95, 1600};
  CamStatements st = cam_statements(g);
  EXPECT_EQ(statement_of(st.causal, "Pneumothorax:"),
            "Pneumothorax: adding the marker raises its probability by 0.310 [0.290, 0.330] on average; its AUROC falls "
            "from 0.950 without the marker to 0.710 with it on every film. The model uses the marker.");
  const std::string rest = statement_of(st.causal, "Unaffected by the marker");
  EXPECT_NE(rest.find("the interval includes 0 for Atelectasis +0.001 [-0.003, 0.005], Cardiomegaly"), std::string::npos)
      << rest;
  EXPECT_EQ(rest.find("Pneumothorax"), std::string::npos);
  EXPECT_EQ(count_of(rest, "+0.001 [-0.003, 0.005]"), 13u);  // every other class

  // The marker's class unaffected: the model does not use it.
  cam_class(g, "Pneumothorax").marker_test = MarkerTest{0.01, Interval{-0.01, 0.03}, 0.9, 0.9, 1600};
  st = cam_statements(g);
  EXPECT_NE(statement_of(st.causal, "Pneumothorax:").find("changes its probability by +0.010 [-0.010, 0.030] on average, its "
                                                          "95 % CI includes 0: unaffected"),
            std::string::npos);
  EXPECT_TRUE(any_contains(st.causal, "The model does not use the marker"));
  EXPECT_FALSE(any_contains(st.causal, "The model uses the marker"));
  EXPECT_EQ(marker_effect(cam_class(g, "Pneumothorax")), MarkerEffect::kUnaffected);

  // A large mean whose interval includes 0: not shown to be an effect.
  cam_class(g, "Pneumothorax").marker_test = MarkerTest{0.05, Interval{-0.01, 0.11}, 0.9, 0.8, 1600};
  EXPECT_EQ(marker_effect(cam_class(g, "Pneumothorax")), MarkerEffect::kUnaffected);
  EXPECT_NE(statement_of(cam_statements(g).causal, "Pneumothorax:").find("+0.050 [-0.010, 0.110] on average, its 95 % CI "
                                                                         "includes 0: unaffected; its AUROC rises from 0.800"),
            std::string::npos);

  // Below kNegligibleProbabilityChange with the interval clear of 0: still unaffected; just above it: raised.
  cam_class(g, "Pneumothorax").marker_test = MarkerTest{0.019, Interval{0.015, 0.023}, 0.9, 0.9, 1600};
  EXPECT_EQ(marker_effect(cam_class(g, "Pneumothorax")), MarkerEffect::kUnaffected);
  EXPECT_TRUE(any_contains(cam_statements(g).causal, "smaller than 0.02: unaffected"));
  cam_class(g, "Effusion").marker_test = MarkerTest{0.019, Interval{0.015, 0.023}, 0.9, 0.9, 1600};
  EXPECT_TRUE(any_contains(cam_statements(g).causal, "the change is smaller than 0.02 for Effusion +0.019 [0.015, 0.023]."));
  cam_class(g, "Pneumothorax").marker_test = MarkerTest{0.021, Interval{0.015, 0.027}, 0.9, 0.9, 1600};
  EXPECT_EQ(marker_effect(cam_class(g, "Pneumothorax")), MarkerEffect::kRaises);
  EXPECT_NE(statement_of(cam_statements(g).causal, "Pneumothorax:").find("its AUROC stays at 0.900"), std::string::npos);

  // Another class moved by the marker is named with its direction, and leaves the unaffected list.
  cam_class(g, "Effusion").marker_test = MarkerTest{-0.05, Interval{-0.07, -0.03}, 0.80, 0.82, 1600};
  st = cam_statements(g);
  EXPECT_EQ(statement_of(st.causal, "Effusion:"),
            "Effusion: adding the marker planted for Pneumothorax (top-left) lowers its probability by 0.050 [0.030, "
            "0.070] on average; its AUROC falls from 0.820 without the marker to 0.800 with it on every film. This "
            "class's output responds to the marker too.");
  EXPECT_EQ(statement_of(st.causal, "Unaffected by the marker").find("Effusion"), std::string::npos);
  EXPECT_EQ(marker_effect(cam_class(g, "Effusion")), MarkerEffect::kLowers);

  // No causal test: no causal statement.
  g.causal_test = false;
  for (auto& c : g.classes) c.marker_test.reset();
  EXPECT_TRUE(cam_statements(g).causal.empty());
  EXPECT_EQ(marker_effect(cam_class(g, "Effusion")), MarkerEffect::kNotTested);
}

TEST(Interpretability, Base64MatchesRfc4648) {
  // RFC 4648 section 10 test vectors.
  const std::pair<const char*, const char*> vectors[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [in, out] : vectors) EXPECT_EQ(base64_encode(in), out) << in;
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  EXPECT_EQ(decode_base64(base64_encode(all)), all);
}

TEST_F(ReportTest, GradcamSectionShowsTheFlaggedClassAndTheCausalTest) {
  const fs::path eval = write_gradcam_run("run");
  const ReportFiles f = write_report({"", eval.string(), "", ""});
  const std::string html = cxr::read_text_file(f.index_html), md = cxr::read_text_file(f.markdown);
  EXPECT_NE(html.find("<h2 id=\"interpretability\">Interpretability (Grad-CAM)</h2>"), std::string::npos);
  EXPECT_EQ(html.find("gradcam-not-run"), std::string::npos);
  // The reminder sits before the causal test's numbers.
  const size_t reminder = html.find("id=\"gradcam-reminder\">Grad-CAM shows where");
  ASSERT_NE(reminder, std::string::npos);
  EXPECT_LT(reminder, html.find("id=\"causal-table\""));
  EXPECT_NE(html.find("(the interpretability trap)", reminder), std::string::npos);

  // One shortcut badge, in Pneumothorax's row (the only class the fixture flags).
  const std::string table = table_of(html, "gradcam-table");
  EXPECT_EQ(count_of(html, "class=\"badge shortcut\""), 1u);
  EXPECT_NE(row_of(table, "Pneumothorax").find("class=\"badge shortcut\""), std::string::npos) << row_of(table, "Pneumothorax");
  EXPECT_NE(row_of(table, "Pneumothorax").find("<td class=\"text\">corners</td><td>0.450</td><td>0.620 [0.600, 0.640]</td>"),
            std::string::npos);
  EXPECT_NE(row_of(table, "Cardiomegaly").find("FAIL (rho 0.81)"), std::string::npos);
  EXPECT_NE(row_of(table, "Hernia").find("<td>n/a</td><td>0</td><td>n/a</td>"), std::string::npos);
  EXPECT_EQ(count_of(md, "**SHORTCUT**"), 1u);

  // The causal test: the marker's class highlighted, statements from the fixture's numbers.
  const std::string causal = table_of(html, "causal-table");
  EXPECT_EQ(count_of(causal, "class=\"marker\""), 1u);
  EXPECT_NE(row_of(causal, "Pneumothorax (marker)").find("class=\"marker\""), std::string::npos);
  EXPECT_NE(html.find("<li>Pneumothorax: adding the marker raises its probability by 0.310 [0.290, 0.330] on average; its "
                      "AUROC falls from 0.950 without the marker to 0.710 with it on every film. The model uses the "
                      "marker.</li>"),
            std::string::npos);
  EXPECT_NE(html.find("Mass: adding the marker planted for Pneumothorax (top-left) lowers its probability by 0.050"),
            std::string::npos);
  const size_t unaffected = html.find("<li>Unaffected by the marker");
  ASSERT_NE(unaffected, std::string::npos);
  const std::string line = html.substr(unaffected, html.find("</li>", unaffected) - unaffected);
  const size_t zero = line.find("the interval includes 0 for "), small = line.find("the change is smaller than 0.02 for ");
  ASSERT_NE(zero, std::string::npos);
  ASSERT_NE(small, std::string::npos);
  EXPECT_GT(line.find("Effusion +0.004 [-0.002, 0.010]"), zero) << line;
  EXPECT_LT(line.find("Effusion +0.004 [-0.002, 0.010]"), small) << line;
  EXPECT_GT(line.find("Edema +0.015 [0.010, 0.020]"), small) << line;
  EXPECT_EQ(line.find("Pneumothorax"), std::string::npos);
  EXPECT_EQ(line.find("Mass"), std::string::npos);
  EXPECT_NE(md.find("- Pneumothorax: adding the marker raises its probability by 0.310"), std::string::npos);

  // Findings and limitations from the numbers and the file's texts.
  EXPECT_NE(html.find("The maps of Cardiomegaly fail the randomisation check (Spearman rho"), std::string::npos);
  EXPECT_NE(html.find("down to layer4: Cardiomegaly 0.81 (threshold 0.50))"), std::string::npos);
  EXPECT_NE(html.find("12 of 14 classes pass the randomisation check"), std::string::npos);
  EXPECT_NE(html.find("no faster than deleting random pixels for Mass 0.450 vs 0.400"), std::string::npos);
  EXPECT_NE(html.find("Regions (phantom anatomy): Phantom regions come from the anatomy"), std::string::npos);
  EXPECT_NE(html.find("a map cell spans about 32 px"), std::string::npos);
  EXPECT_NE(html.find("is below 0.50"), std::string::npos);
  EXPECT_NE(html.find("Hernia has none here"), std::string::npos);

  // Files: the input copied unchanged, the heat map, the shown overlay only.
  EXPECT_EQ(cxr::read_text_file(fs::path(f.out_dir) / "data/cam_stats.json"), cxr::read_text_file(kFixture));
  EXPECT_NE(cxr::read_text_file(fs::path(f.out_dir) / "plots/cam_region_shares.svg").find("Pneumothorax *"), std::string::npos);
  EXPECT_NE(html.find("id=\"cam-region-plot\""), std::string::npos);
  EXPECT_TRUE(std::count(f.files.begin(), f.files.end(), "gradcam/Pneumothorax.png"));
  EXPECT_FALSE(fs::exists(fs::path(f.out_dir) / "gradcam/Effusion.png"));
  EXPECT_EQ(f.files.size(), 14u + 3u);
}

TEST_F(ReportTest, GradcamSectionShowsWhatThePredictionsUse) {
  const fs::path eval = write_gradcam_run("run");
  const ReportFiles f = write_report({"", eval.string(), "", ""});
  const std::string html = cxr::read_text_file(f.index_html), md = cxr::read_text_file(f.markdown);
  // After the planted-marker test, before the per-class table.
  const size_t heading = html.find("<h3>What the predictions use (the phantom's causal tests)</h3>");
  ASSERT_NE(heading, std::string::npos);
  EXPECT_LT(html.find("id=\"causal-table\""), heading);
  EXPECT_LT(heading, html.find("id=\"use-table\""));
  EXPECT_LT(html.find("id=\"use-table\""), html.find("id=\"gradcam-table\""));
  EXPECT_NE(html.find("AP tags and electrodes removed: 400 films (the split&apos;s AP films with a text tag or ECG electrodes"),
            std::string::npos);

  // One row per class: the three changes side by side (fixtures/README.md).
  const std::string table = table_of(html, "use-table");
  EXPECT_EQ(count_of(table, "<tr"), 15u);  // header and 14 classes
  EXPECT_EQ(row_of(table, "Pneumothorax (shortcut flag)"),
            "<tr class=\"flagged\"><td class=\"text\">Pneumothorax (shortcut flag)</td><td>+0.010 [-0.010, 0.030]</td>"
            "<td>32</td><td class=\"text\">does not rest on the lesion</td><td>n/a</td><td>+0.002 [-0.004, 0.008]</td>"
            "<td>+0.310 [0.290, 0.330]</td>");
  EXPECT_NE(row_of(table, "Mass").find("<td>+0.420 [0.380, 0.460]</td><td>32</td><td class=\"text\">uses the lesion</td>"
                                       "<td>n/a</td><td>+0.002 [-0.004, 0.008]</td><td>-0.050 [-0.070, -0.030]</td>"),
            std::string::npos);
  EXPECT_NE(row_of(table, "Effusion").find("<td>+0.050 [0.030, 0.070]</td><td>+0.004 [-0.002, 0.010]</td>"), std::string::npos);
  EXPECT_NE(row_of(table, "Nodule").find("uses it, perhaps little"), std::string::npos);
  EXPECT_NE(row_of(table, "Cardiomegaly").find("the lesion lowers it"), std::string::npos);
  EXPECT_NE(row_of(table, "Hernia").find("<td>n/a</td><td>0</td><td class=\"text\">no films</td>"), std::string::npos);
  EXPECT_EQ(count_of(table, "class=\"flagged\""), 1u);

  // The statements, from the fixture's numbers.
  EXPECT_NE(html.find("<li>Pneumothorax: removing the lesion changes its probability by +0.010 [-0.010, 0.030] (n = 32): the "
                      "prediction does not rest on the lesion. Grad-CAM flags it as a possible shortcut, and the flag is "
                      "consistent with a prediction that does not rest on the lesion; its probability moves with the "
                      "planted marker +0.310 [0.290, 0.330].</li>"),
            std::string::npos);
  EXPECT_NE(html.find("<li>Removing the lesion lowers Nodule&apos;s probability by 0.030 [0.010, 0.050] (n = 32): the "
                      "prediction uses the lesion, perhaps little"),
            std::string::npos);
  EXPECT_NE(html.find("<li>Removing the lesion raises Cardiomegaly&apos;s probability by 0.050 [0.030, 0.070]"), std::string::npos);
  EXPECT_NE(html.find(", Mass by 0.420 [0.380, 0.460] (n = 32), "), std::string::npos);
  EXPECT_NE(html.find("<li>No film of the split truly has Hernia"), std::string::npos);
  const size_t moved = html.find("<li>Moved by the AP tags and electrodes");
  ASSERT_NE(moved, std::string::npos);
  const std::string line = html.substr(moved, html.find("</li>", moved) - moved);
  EXPECT_NE(line.find("400 AP films): Effusion +0.050 [0.030, 0.070]. These"), std::string::npos) << line;

  // Markdown: the same table and statements (brackets escaped).
  EXPECT_NE(md.find("\n### What the predictions use (the phantom's causal tests)\n"), std::string::npos);
  EXPECT_NE(md.find("\n| **Pneumothorax** (shortcut flag) | +0.010 \\[-0.010, 0.030\\] | 32 | does not rest on the lesion | n/a | "
                    "+0.002 \\[-0.004, 0.008\\] | +0.310 \\[0.290, 0.330\\] |\n"),
            std::string::npos);
  EXPECT_NE(md.find("\n| Hernia | n/a | 0 | no films | n/a | +0.002 \\[-0.004, 0.008\\] | +0.001 \\[-0.003, 0.005\\] |\n"),
            std::string::npos);
  EXPECT_NE(md.find("\n- Pneumothorax: removing the lesion changes its probability by +0.010 \\[-0.010, 0.030\\] (n = 32)"),
            std::string::npos);
  EXPECT_NE(md.find("\n- Moved by the AP tags and electrodes"), std::string::npos);
}

TEST_F(ReportTest, RealFilmsRenderWithoutTheLesionAndNaturalMarkerTable) {
  const fs::path eval = write_gradcam_run("run");
  const fs::path cam = eval.parent_path().parent_path() / "gradcam/cam_stats.json";
  auto check_absent = [&](const std::string& why) {
    const ReportFiles f = write_report({"", eval.string(), "", ""});
    const std::string html = cxr::read_text_file(f.index_html), md = cxr::read_text_file(f.markdown);
    EXPECT_EQ(html.find("use-table"), std::string::npos) << why;
    EXPECT_EQ(html.find("What the predictions use"), std::string::npos) << why;
    EXPECT_EQ(md.find("What the predictions use"), std::string::npos) << why;
    EXPECT_EQ(html.find("Removing the lesion"), std::string::npos) << why;
    EXPECT_EQ(html.find("AP tags and electrodes"), std::string::npos) << why;
    // The rest of the section is there.
    EXPECT_NE(html.find("id=\"gradcam-table\""), std::string::npos) << why;
    EXPECT_NE(html.find("id=\"causal-table\""), std::string::npos) << why;
  };
  // As gradcam writes real films: the top-level test null, no per-class keys.
  edit(cam, [](ojson& j) {
    j["counterfactual_natural_markers"] = nullptr;
    for (auto& [name, c] : j["classes"].items()) {
      c.erase("counterfactual_natural_markers");
      c.erase("counterfactual_lesion_removed");
    }
  });
  check_absent("top-level null");
  // Older files: the key absent too.
  edit(cam, [](ojson& j) { j.erase("counterfactual_natural_markers"); });
  check_absent("top-level absent");

  // The lesion test missing for one class (the natural test run): that class reads "not run".
  cxr::atomic_write_file(cam, cxr::read_text_file(kFixture));
  edit(cam, [](ojson& j) { j["classes"]["Mass"].erase("counterfactual_lesion_removed"); });
  const std::string html = cxr::read_text_file(write_report({"", eval.string(), "", ""}).index_html);
  EXPECT_NE(row_of(table_of(html, "use-table"), "Mass").find("<td>n/a</td><td></td><td class=\"text\">not run</td>"),
            std::string::npos)
      << row_of(table_of(html, "use-table"), "Mass");
  EXPECT_EQ(html.find("Mass by 0.420"), std::string::npos);
}

TEST_F(ReportTest, ABadCausalTestFailsNamingThePointerAndKeepsTheReport) {
  const fs::path eval = write_gradcam_run("run");
  const fs::path cam = eval.parent_path().parent_path() / "gradcam";
  const ReportFiles first = write_report({"", eval.string(), "", ""});
  const std::string html = cxr::read_text_file(first.index_html);
  ASSERT_NE(html.find("id=\"use-table\""), std::string::npos);
  auto fails_with = [&](const std::function<void(ojson&)>& change, const std::string& expected) {
    cxr::atomic_write_file(cam / "cam_stats.json", cxr::read_text_file(kFixture));
    edit(cam / "cam_stats.json", change);
    const std::string error = error_of({"", eval.string(), "", ""});
    EXPECT_NE(error.find("cam_stats.json: " + expected), std::string::npos) << error;
    EXPECT_NE(error.find("cxrtrain gradcam"), std::string::npos) << error;
    EXPECT_EQ(cxr::read_text_file(first.index_html), html);
    for (const auto& file : first.files) EXPECT_TRUE(fs::exists(fs::path(first.out_dir) / file)) << file;
  };
  const std::string lesion = "/counterfactual_lesion_removed", natural = "/counterfactual_natural_markers";
  // The interval must contain its mean (0.42 lies below [0.43, 0.46]).
  fails_with([&](ojson& j) { j["classes"]["Mass"][lesion.substr(1)]["delta_p_ci95"] = {0.43, 0.46}; },
             "/classes/Mass" + lesion + "/delta_p_ci95 is [0.430, 0.460], which does not contain delta_p_mean 0.42");
  fails_with([&](ojson& j) { j["classes"]["Effusion"][natural.substr(1)]["delta_p_ci95"] = {0.01, 0.04}; },
             "/classes/Effusion" + natural + "/delta_p_ci95 is [0.010, 0.040], which does not contain delta_p_mean 0.05");
  fails_with([&](ojson& j) { j["classes"]["Mass"][lesion.substr(1)]["n"] = -1; },
             "/classes/Mass" + lesion + "/n is -1, expected a count >= 0");
  fails_with([&](ojson& j) { j["classes"]["Edema"][natural.substr(1)]["delta_p_mean"] = "0.015"; },
             "/classes/Edema" + natural + "/delta_p_mean is a string, expected a number or null");
  fails_with([&](ojson& j) { j["classes"]["Edema"][lesion.substr(1)]["n"] = 3.5; },
             "/classes/Edema" + lesion + "/n is a number, expected a whole number");
  fails_with([&](ojson& j) { j["classes"]["Mass"][lesion.substr(1)]["delta_p_mean"] = 1.5; },
             "/classes/Mass" + lesion + "/delta_p_mean is 1.5, outside [-1, 1]");
  fails_with([&](ojson& j) { j["classes"]["Mass"][lesion.substr(1)]["delta_p_ci95"] = nullptr; },
             "/classes/Mass" + lesion + "/delta_p_ci95 is null, but delta_p_mean is set");
  fails_with([&](ojson& j) { j["classes"]["Hernia"][lesion.substr(1)]["delta_p_mean"] = 0.1; },
             "/classes/Hernia" + lesion + " has a delta_p_mean without films (n 0)");
  fails_with([&](ojson& j) { j[natural.substr(1)] = 5; }, natural + " is a number, expected an object");
  // Present per class exactly when the test was run, every class on the same films.
  fails_with([&](ojson& j) { j[natural.substr(1)] = nullptr; },
             "/classes/Atelectasis" + natural + " is set, but " + natural + " is null or missing");
  fails_with([&](ojson& j) { j["classes"]["Nodule"].erase(natural.substr(1)); },
             "/classes/Nodule" + natural + " is missing or null, but " + natural + " says the test was run");
  fails_with([&](ojson& j) { j["classes"]["Nodule"][natural.substr(1)]["n"] = 399; },
             "/classes/Nodule" + natural + "/n is 399, but " + natural + "/n_images is 400");
}

TEST_F(ReportTest, GradcamOverlayIsEmbeddedAsTheFilesBytes) {
  const fs::path eval = write_gradcam_run("run");
  const ReportFiles f = write_report({"", eval.string(), "", ""});
  const std::string html = cxr::read_text_file(f.index_html), md = cxr::read_text_file(f.markdown);
  const std::string prefix = "<img src=\"data:image/png;base64,";
  EXPECT_EQ(count_of(html, prefix), 1u) << "only the flagged / marker class's overlay";
  const size_t at = html.find(prefix);
  ASSERT_NE(at, std::string::npos);
  const size_t start = at + prefix.size();
  const std::string encoded = html.substr(start, html.find('"', start) - start);
  EXPECT_EQ(decode_base64(encoded), png_marker());
  EXPECT_NE(html.find("alt=\"Grad-CAM overlay, Pneumothorax\"", start), std::string::npos);
  EXPECT_EQ(cxr::read_text_file(fs::path(f.out_dir) / "gradcam/Pneumothorax.png"), png_marker());
  EXPECT_NE(md.find("![Grad-CAM overlay, Pneumothorax](gradcam/Pneumothorax.png)"), std::string::npos);
  EXPECT_EQ(md.find("data:image"), std::string::npos);

  // A second flagged class: its overlay is shown too, with its own bytes.
  edit(eval.parent_path().parent_path() / "gradcam/cam_stats.json",
       [](ojson& j) { j["classes"]["Effusion"]["shortcut_flag"] = true; });
  const std::string html2 = cxr::read_text_file(write_report({"", eval.string(), "", ""}).index_html);
  EXPECT_EQ(count_of(html2, prefix), 2u);
  EXPECT_NE(html2.find(png_data_uri(png_other())), std::string::npos);
  EXPECT_EQ(count_of(html2, "class=\"badge shortcut\""), 2u);
}

TEST_F(ReportTest, ABadCamStatsFailsNamingThePointerAndKeepsTheReport) {
  const fs::path eval = write_gradcam_run("run");
  const fs::path cam = eval.parent_path().parent_path() / "gradcam";
  const ReportFiles first = write_report({"", eval.string(), "", ""});
  const std::string html = cxr::read_text_file(first.index_html);
  const std::string good = cxr::read_text_file(cam / "cam_stats.json");
  auto fails_with = [&](const std::function<void(ojson&)>& change, const std::string& expected) {
    cxr::atomic_write_file(cam / "cam_stats.json", good);
    edit(cam / "cam_stats.json", change);
    const std::string error = error_of({"", eval.string(), "", ""});
    EXPECT_NE(error.find("cam_stats.json: " + expected), std::string::npos) << error;
    EXPECT_NE(error.find("cxrtrain gradcam"), std::string::npos) << error;
    EXPECT_EQ(cxr::read_text_file(first.index_html), html);
    for (const auto& file : first.files) EXPECT_TRUE(fs::exists(fs::path(first.out_dir) / file)) << file;
  };
  fails_with([](ojson& j) { j["classes"]["Effusion"]["off_target_share"]["mean"] = 1.5; },
             "/classes/Effusion/off_target_share/mean is 1.5, outside [0, 1]");
  fails_with([](ojson& j) { j["schema"] = "cxrtrain.cam_stats/2"; }, "/schema is 'cxrtrain.cam_stats/2'");
  fails_with([](ojson& j) { j["classes"].erase("Hernia"); }, "/classes/Hernia is missing");
  fails_with([](ojson& j) { j["classes"]["Mass"]["region_share"]["lungs"]["mean"] = "high"; },
             "/classes/Mass/region_share/lungs/mean is a string");
  fails_with([](ojson& j) { j["classes"]["Mass"]["region_share"]["spleen"] = {{"mean", 0.1}, {"ci95", nullptr}}; },
             "/classes/Mass/region_share/spleen is not one of /regions/names");
  fails_with([](ojson& j) { j["classes"]["Nodule"]["sanity"]["verdict"] = "MAYBE"; }, "/classes/Nodule/sanity/verdict is 'MAYBE'");
  fails_with([](ojson& j) { j["classes"]["Nodule"]["counterfactual"] = nullptr; },
             "/classes/Nodule/counterfactual is null, but /counterfactual says");
  fails_with([](ojson& j) { j["classes"]["Pneumothorax"]["counterfactual"]["delta_p_ci95"] = {0.4, 0.2}; },
             "/classes/Pneumothorax/counterfactual/delta_p_ci95 has lo > hi");
  fails_with([](ojson& j) { j["counterfactual"]["shortcuts"][0]["class"] = "Pneumothorax2"; },
             "/counterfactual/shortcuts/0/class names no class");
  fails_with([](ojson& j) { j["classes"]["Pneumothorax"]["overlay"] = "../../secret.png"; },
             "/classes/Pneumothorax/overlay is '../../secret.png', expected a path inside the gradcam folder");
  fails_with([](ojson& j) { j["classes"]["Pneumothorax"]["overlay"] = "overlays/none.png"; },
             "/classes/Pneumothorax/overlay names '");
  cxr::atomic_write_file(cam / "overlays/Pneumothorax.png", "GIF89a not a png");
  fails_with([](ojson&) {}, "/classes/Pneumothorax/overlay names '" + (cam / "overlays/Pneumothorax.png").string() +
                                "', which is not a PNG file");
  size_t siblings = 0;
  for (const auto& e : fs::directory_iterator(eval)) siblings += e.path().filename().string().find(".tmp") != std::string::npos;
  EXPECT_EQ(siblings, 0u) << "a staging folder was left behind";
}

TEST_F(ReportTest, GradcamTextIsEscaped) {
  const fs::path eval = write_gradcam_run("run <b>x</b>");
  edit(eval.parent_path().parent_path() / "gradcam/cam_stats.json", [](ojson& j) {
    j["checkpoint"] = "<script>alert(1)</script>";
    j["regions"]["limitation"] = "<img src=x onerror=alert(1)> & \"q\" | *a*";
  });
  const ReportFiles f = write_report({"", eval.string(), "", ""});
  const std::string html = cxr::read_text_file(f.index_html), md = cxr::read_text_file(f.markdown);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<img src=x"), std::string::npos);
  EXPECT_NE(html.find("<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>"), std::string::npos);
  EXPECT_NE(html.find("&lt;img src=x onerror=alert(1)&gt; &amp; &quot;q&quot;"), std::string::npos);
  EXPECT_EQ(md.find("<script"), std::string::npos);
  EXPECT_EQ(md.find("<img"), std::string::npos);
  EXPECT_NE(md.find("&lt;img src=x onerror=alert(1)&gt; &amp; \"q\" \\| \\*a\\*"), std::string::npos);
  EXPECT_NE(md.find("Pleural\\_Thickening | 120"), std::string::npos);

  // Without cam_stats.json the run folder is named in the "not run" text, escaped.
  fs::remove_all(eval.parent_path().parent_path() / "gradcam");
  const std::string html2 = cxr::read_text_file(write_report({"", eval.string(), "", ""}).index_html);
  EXPECT_EQ(html2.find("<b>x</b>"), std::string::npos);
  EXPECT_NE(html2.find("(DIR: <code>" + (root_ / "run &lt;b&gt;x&lt;/b&gt;").string() + "</code>)"), std::string::npos);
}

TEST_F(ReportTest, WithoutCamStatsTheSectionSaysNotRun) {
  // An evaluation folder outside a run: no run to name.
  const fs::path dir = write_evaluation("ev");
  ReportFiles f = write_report({"", dir.string(), "", ""});
  std::string html = cxr::read_text_file(f.index_html);
  const std::string md = cxr::read_text_file(f.markdown);
  EXPECT_NE(html.find("<h2 id=\"interpretability\">Interpretability (Grad-CAM)</h2>\n<p id=\"gradcam-not-run\">not run: "
                      "<code>cxrtrain gradcam --run DIR</code>"),
            std::string::npos);
  EXPECT_EQ(html.find("(DIR:"), std::string::npos);
  EXPECT_EQ(html.find("gradcam-table"), std::string::npos);
  const size_t md_section = md.find("## Interpretability (Grad-CAM)\n");
  EXPECT_EQ(md.find("\nnot run: `cxrtrain gradcam --run DIR`"), md.find_first_not_of('\n', md_section + 31) - 1);
  EXPECT_EQ(f.files.size(), 14u);
  EXPECT_FALSE(fs::exists(fs::path(f.out_dir) / "data/cam_stats.json"));
  // RUN/eval/test of a run without gradcam/: the run is named.
  const fs::path eval = write_gradcam_run("run", /*with_gradcam=*/false);
  html = cxr::read_text_file(write_report({"", eval.string() + "/", "", ""}).index_html);
  EXPECT_NE(html.find("not run: <code>cxrtrain gradcam --run DIR</code> writes DIR/gradcam/cam_stats.json, which the next "
                      "report shows here (DIR: <code>" + (root_ / "run").string() + "</code>)."),
            std::string::npos);
}
