// The report's "Robustness" section (report/robustness_section.h, the plots in report/plots.h) from a hand-made
// RUN/robustness/robustness.json with known values: the heat map's cells (difference, significance mark and
// colour by the diverging formula, column order, grey where undefined), the significant-drops table listing
// exactly the significant negative cells, the shortcut table, the adversarial curve points (epsilon 0 = the
// baseline macro AUROC), the attack settings and disclaimer, the narrowed not-evaluated item, "not measured"
// without the file, and damaged files refused naming the file and the key.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "data/classes.h"
#include "eval/evaluation.h"
#include "report/report.h"
#include "tests/report/scratch_dir_test.h"

namespace fs = std::filesystem;
using namespace cxr::report;
using ojson = nlohmann::ordered_json;

namespace {

const std::vector<std::string> kNames = cxr::data::class_names();
constexpr int kHernia = 7;  // not evaluable on the fixture's split (no positives)

// Baseline AUROC of class k: 0.70 + 0.01 k (Hernia: null). Its mean over the 13 others, the adversarial curves'
// epsilon-0 point: (13 x 0.70 + 0.01 x (0 + ... + 13 - 7)) / 13.
double baseline_auroc(int k) { return 0.70 + 0.01 * k; }
const double kBaselineMacro = (13 * 0.70 + 0.01 * (91 - 7)) / 13;

// A condition whose every evaluable class changes by `diff` (q 0.8, not significant) except `special`:
// class -> (difference, q, significant). Macro values by formula over the 13 evaluable classes;
// significant_drops by the schema's rule (significant and negative).
ojson condition(const std::string& family, const std::string& name, int severity, const ojson& parameter,
                const std::string& unit, double diff, const std::map<std::string, std::tuple<double, double, bool>>& special = {}) {
  ojson c = {{"family", family}, {"name", name}, {"severity", severity}, {"parameter", parameter}, {"unit", unit},
             {"split", "test"}, {"description", name + " <b>&</b> \"changed\""}};
  c["per_class"] = ojson::array();
  ojson drops = ojson::array();
  double sum = 0;
  for (int k = 0; k < 14; ++k) {
    const std::string& cls = kNames[static_cast<size_t>(k)];
    if (k == kHernia) {
      c["per_class"].push_back({{"class", cls}, {"auroc", nullptr}, {"lo", nullptr}, {"hi", nullptr}, {"difference", nullptr},
                                {"p_value", nullptr}, {"q_value", nullptr}, {"significant", nullptr}});
      continue;
    }
    double d = diff, q = 0.8;
    bool sig = false;
    if (const auto it = special.find(cls); it != special.end()) std::tie(d, q, sig) = it->second;
    const double a = baseline_auroc(k) + d;
    sum += d;
    c["per_class"].push_back({{"class", cls}, {"auroc", a}, {"lo", a - 0.04}, {"hi", a + 0.04}, {"difference", d},
                              {"p_value", q / 2}, {"q_value", q}, {"significant", sig}});
    if (sig && d < 0) drops.push_back(cls);
  }
  c["macro_auroc"] = kBaselineMacro + sum / 13;
  c["macro_difference"] = sum / 13;
  c["significant_drops"] = drops;
  return c;
}

ojson make_robustness(bool attacks = true) {
  ojson j;
  j["schema"] = "cxrtrain.robustness/1";
  j["model"] = {{"run_dir", "runs/r1"}, {"checkpoint", "runs/r1/checkpoints/best.pt"}, {"step", 384}, {"pack", "packs/p"},
                {"ranks", 2}};
  j["classes"] = kNames;
  j["alpha"] = 0.05;
  j["multiple_testing"] = "Benjamini-Hochberg over every (condition, class) paired test of this file";
  ojson baseline = ojson::array();
  for (int k = 0; k < 14; ++k) {
    if (k == kHernia)
      baseline.push_back({{"class", kNames[7]}, {"auroc", nullptr}, {"lo", nullptr}, {"hi", nullptr}, {"positives", 0},
                          {"negatives", 1200}});
    else
      baseline.push_back({{"class", kNames[static_cast<size_t>(k)]}, {"auroc", baseline_auroc(k)},
                          {"lo", baseline_auroc(k) - 0.05}, {"hi", baseline_auroc(k) + 0.05}, {"positives", 100},
                          {"negatives", 1100}});
  }
  j["splits"] = {{"test", {{"images", 1200}, {"baseline", baseline}}}};
  const std::string contrast_unit = "factor on deviations from the mean";
  j["conditions"] = ojson::array({
      // Severity 2 before 1 in the file: the heat map puts them side by side in severity order.
      condition("shift", "contrast", 2, 0.85, contrast_unit, -0.005,
                {{"Nodule", {-0.12, 0.001, true}}, {"Edema", {0.04, 0.01, true}}}),
      condition("shift", "contrast", 1, 0.95, contrast_unit, -0.005),
      condition("shift", "gaussian-noise", 1, 3, "SD in grey levels", 0.0,
                {{"Mass", {-0.03, 0.04, true}}, {"Effusion", {-0.05, 0.2, false}}}),
      condition("scanner", "ap-share", 1, 0.5, "share of AP films", -0.01, {{"Atelectasis", {-0.08, 0.002, true}}}),
      condition("shortcut", "independent:marker", 0, nullptr, "", -0.01, {{"Pneumothorax", {-0.02, 0.3, false}}}),
      condition("shortcut", "removed:marker", 0, nullptr, "", 0.0, {{"Pneumothorax", {-0.2, 0.0001, true}}}),
  });
  if (attacks) {
    // FGSM: every class -0.05 epsilon; PGD: -0.08 epsilon; all significant. PGD's points listed out of order.
    for (double e : {1.0, 4.0}) {
      std::map<std::string, std::tuple<double, double, bool>> all;
      for (int k = 0; k < 14; ++k) all[kNames[static_cast<size_t>(k)]] = {-0.05 * e, 0.001, true};
      j["conditions"].push_back(condition("adversarial", "fgsm", 0, e, "grey levels", 0, all));
    }
    for (double e : {4.0, 1.0}) {
      std::map<std::string, std::tuple<double, double, bool>> all;
      for (int k = 0; k < 14; ++k) all[kNames[static_cast<size_t>(k)]] = {-0.08 * e, 0.001, true};
      j["conditions"].push_back(condition("adversarial", "pgd", 0, e, "grey levels", 0, all));
    }
    j["adversarial"] = {{"steps_pgd", 7}, {"step_size", "2.5 * epsilon / steps"}, {"loss", "summed binary cross-entropy"},
                        {"epsilon_unit", "grey levels of the 0..255 model input, after resizing, before normalisation"},
                        {"images", 1200}};
  }
  j["seconds"] = {{"total", 120.0}, {"per_condition", 3.1}};
  j["images_per_second"] = 390.0;
  j["note"] = "a robustness probe, not a security claim";
  return j;
}

struct Rendered {
  std::string html, md, heatmap, adversarial, conclusions;
  std::vector<std::string> files;
};

class RobustnessSectionTest : public cxr::test::ScratchDirTest {
 protected:
  RobustnessSectionTest() : ScratchDirTest("cxr_robustness_section_") {}

  fs::path run_dir() const { return root_ / "run"; }

  // RUN/eval/test/metrics.json (200 seeded images), so the report finds RUN/robustness/robustness.json.
  fs::path write_evaluation() {
    std::mt19937_64 rng(7);
    std::normal_distribution<double> z;
    std::uniform_real_distribution<double> u;
    cxr::eval::ScoredSplit ev;
    for (size_t i = 0; i < 200; ++i) {
      cxr::data::SampleMeta m;
      m.image_index = "img" + std::to_string(i);
      m.patient_id = static_cast<int32_t>(i / 2);
      m.follow_up = static_cast<int32_t>(i % 2);
      m.sex = static_cast<int8_t>(rng() % 2);
      m.age = static_cast<int16_t>(20 + rng() % 60);
      m.view = static_cast<int8_t>(rng() % 2);
      for (int c = 0; c < cxr::data::kNumClasses; ++c) {
        const bool pos = u(rng) < 0.2;
        m.labels[static_cast<size_t>(c)] = pos;
        ev.probability.push_back(1 / (1 + std::exp(-(z(rng) + (pos ? 1.5 : 0.0) - 1.5))));
      }
      ev.meta.push_back(m);
    }
    cxr::eval::EvaluationOptions o;
    o.resamples = 10;
    ojson m = cxr::eval::evaluate_split(ev, ev, o);
    m["model"] = {{"predictions", "model.csv"}, {"pack", (root_ / "no_pack").string()}};
    const fs::path dir = run_dir() / "eval" / "test";
    fs::create_directories(dir);
    cxr::atomic_write_file(dir / "metrics.json", m.dump(2));
    return dir;
  }
  void write_robustness(const ojson& j) {
    fs::create_directories(run_dir() / "robustness");
    cxr::atomic_write_file(run_dir() / "robustness" / "robustness.json", j.dump(1));
  }
  Rendered render() {
    ReportOptions o;
    o.eval_dir = write_evaluation().string();
    const ReportFiles files = write_report(o);
    Rendered r;
    r.files = files.files;
    r.html = cxr::read_text_file(files.index_html);
    r.md = cxr::read_text_file(files.markdown);
    r.conclusions = cxr::read_text_file(fs::path(files.out_dir) / "data" / "conclusions.json");
    for (auto [name, out] : {std::pair{"plots/robustness_heatmap.svg", &r.heatmap}, std::pair{"plots/robustness_adversarial.svg", &r.adversarial}})
      if (fs::exists(fs::path(files.out_dir) / name)) *out = cxr::read_text_file(fs::path(files.out_dir) / name);
    return r;
  }
  std::string error_of(const std::function<void(ojson&)>& edit) {
    ojson j = make_robustness();
    edit(j);
    write_robustness(j);
    try {
      render();
    } catch (const cxr::UserError& e) {
      return e.what();
    }
    return "no error";
  }
};

#define EXPECT_HAS(text, part) EXPECT_NE((text).find(part), std::string::npos) << "missing: " << (part) << "\nin:\n" << (text)

struct Cell {
  std::string cls, condition, difference, significant, body;
};

// Every <g class="cell" data-...>...</g> of the heat map, in document order.
std::vector<Cell> cells_of(const std::string& svg) {
  static const std::regex re("<g class=\"cell\" data-class=\"([^\"]*)\" data-condition=\"([^\"]*)\" data-difference=\"([^\"]*)\" "
                             "data-significant=\"([^\"]*)\">(.*?)</g>");
  std::vector<Cell> out;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator(); ++it)
    out.push_back({(*it)[1], (*it)[2], (*it)[3], (*it)[4], (*it)[5]});
  return out;
}

// The body of the <table id="...">.
std::string table(const std::string& html, const std::string& id) {
  const size_t a = html.find("<table id=\"" + id + "\">");
  if (a == std::string::npos) return "";
  return html.substr(a, html.find("</table>", a) - a);
}

size_t count_of(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t p = text.find(part); p != std::string::npos; p = text.find(part, p + part.size())) ++n;
  return n;
}

// The diverging colour's formula (white at 0, #c0392b at -1, #2471a3 at +1), written out independently.
std::string colour(double t) {
  const double a = std::fabs(t);
  const int r = t < 0 ? 192 : 36, g = t < 0 ? 57 : 113, b = t < 0 ? 43 : 163;
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<int>(std::lround(255 + (r - 255) * a)),
                static_cast<int>(std::lround(255 + (g - 255) * a)), static_cast<int>(std::lround(255 + (b - 255) * a)));
  return buf;
}

}  // namespace

TEST_F(RobustnessSectionTest, HeatMapCellsCarryTheDifferencesAndSignificance) {
  write_robustness(make_robustness());
  const Rendered r = render();
  const std::vector<Cell> cells = cells_of(r.heatmap);
  // 14 classes x 6 conditions (the attacks are not in the heat map).
  ASSERT_EQ(cells.size(), 14u * 6);
  const std::vector<std::string> columns = {"contrast 1", "contrast 2", "gaussian-noise 1", "ap-share 1",
                                            "independent:marker", "removed:marker"};
  for (size_t i = 0; i < cells.size(); ++i) {
    const Cell& c = cells[i];
    const int k = static_cast<int>(i / 6);
    EXPECT_EQ(c.cls, kNames[static_cast<size_t>(k)]) << i;
    EXPECT_EQ(c.condition, columns[i % 6]) << i;
    // The mark (outline, bold, "*") exactly on the significant cells.
    const bool marked = c.body.find("stroke=\"#000000\"") != std::string::npos;
    EXPECT_EQ(marked, c.significant == "true") << c.cls << " / " << c.condition;
    EXPECT_EQ(c.body.find("*</text>") != std::string::npos, c.significant == "true") << c.cls << " / " << c.condition;
    if (k == kHernia) {
      EXPECT_EQ(c.difference, "null");
      EXPECT_HAS(c.body, "fill=\"#e6e6e6\"");
      EXPECT_HAS(c.body, ">-</text>");
    }
  }
  auto at = [&](const std::string& cls, const std::string& condition) -> const Cell& {
    for (const auto& c : cells)
      if (c.cls == cls && c.condition == condition) return c;
    static const Cell none{};
    ADD_FAILURE() << "no cell " << cls << " / " << condition;
    return none;
  };
  const std::vector<std::tuple<std::string, std::string, double, bool>> expected = {
      {"Nodule", "contrast 2", -0.12, true},        {"Edema", "contrast 2", 0.04, true},
      {"Nodule", "contrast 1", -0.005, false},      {"Mass", "gaussian-noise 1", -0.03, true},
      {"Effusion", "gaussian-noise 1", -0.05, false}, {"Atelectasis", "ap-share 1", -0.08, true},
      {"Pneumothorax", "independent:marker", -0.02, false}, {"Pneumothorax", "removed:marker", -0.2, true},
      {"Cardiomegaly", "removed:marker", 0.0, false}};
  int significant = 0;
  for (const auto& c : cells) significant += c.significant == "true";
  EXPECT_EQ(significant, 5);
  // The colour scale is symmetric, ending at the smallest of 0.02, 0.05, 0.1, 0.2, ... above the largest |change|
  // (0.2 here): -0.2 is full red, +0.04 a fifth of the way to blue.
  for (const auto& [cls, cond, diff, sig] : expected) {
    const Cell& c = at(cls, cond);
    EXPECT_NEAR(std::stod(c.difference), diff, 1e-9) << cls << " / " << cond;
    EXPECT_EQ(c.significant, sig ? "true" : "false") << cls << " / " << cond;
    EXPECT_HAS(c.body, "fill=\"" + colour(diff / 0.2) + "\"");
  }
  EXPECT_EQ(colour(-1), "#c0392b");
  EXPECT_HAS(r.heatmap, ">-0.20</text>");
  EXPECT_HAS(r.heatmap, ">+0.20</text>");
  EXPECT_HAS(r.html, "id=\"robustness-heatmap-plot\"");
  // Tooltips escape the description.
  EXPECT_HAS(r.heatmap, "contrast &lt;b&gt;&amp;&lt;/b&gt; &quot;changed&quot;");
  EXPECT_EQ(r.heatmap.find("<b>"), std::string::npos);
}

TEST_F(RobustnessSectionTest, SignificantDropsTableListsExactlyTheSignificantNegativeCells) {
  write_robustness(make_robustness());
  const Rendered r = render();
  const std::string t = table(r.html, "robustness-drops");
  ASSERT_FALSE(t.empty());
  // Four significant negative cells, largest drop first: not Edema's significant rise, not Effusion's
  // non-significant -0.05, not the attacks.
  EXPECT_EQ(count_of(t, "<tr><td class=\"text\">"), 4u) << t;
  const std::string rows =
      "<tr><td class=\"text\">removed:marker</td><td class=\"text\"></td><td class=\"text\">Pneumothorax</td>"
      "<td>0.830 → 0.630</td><td>-0.200</td><td>&lt; 0.001</td></tr>\n"
      "<tr><td class=\"text\">contrast 2</td><td class=\"text\">0.85 factor on deviations from the mean</td>"
      "<td class=\"text\">Nodule</td><td>0.800 → 0.680</td><td>-0.120</td><td>0.001</td></tr>\n"
      "<tr><td class=\"text\">ap-share 1</td><td class=\"text\">0.5 share of AP films</td><td class=\"text\">Atelectasis</td>"
      "<td>0.700 → 0.620</td><td>-0.080</td><td>0.002</td></tr>\n"
      "<tr><td class=\"text\">gaussian-noise 1</td><td class=\"text\">3 SD in grey levels</td><td class=\"text\">Mass</td>"
      "<td>0.790 → 0.760</td><td>-0.030</td><td>0.04</td></tr>\n";
  EXPECT_HAS(t, rows);
  EXPECT_EQ(t.find("Edema"), std::string::npos);
  EXPECT_EQ(t.find("Effusion"), std::string::npos);
  EXPECT_HAS(r.md, "| removed:marker |  | Pneumothorax | 0.830 → 0.630 | -0.200 | &lt; 0.001 |\n| contrast 2 |");
  // 6 conditions x 13 evaluable classes = 78 tests; 5 significant, 4 negative; with the 4 attacks 78 + 4 x 13 = 130.
  EXPECT_HAS(r.html, "Under 6 simulated conditions (3 shift, 1 scanner and 2 shortcut), 4 of 78 paired class comparisons "
                     "show a significant AUROC drop and 1 a significant rise (q &lt; 0.05, Benjamini-Hochberg over all "
                     "130 tests of the file); the largest drop: removed:marker, Pneumothorax (-0.200, q &lt; 0.001).");
  // The small-shift control: contrast 0.95 (severity 1) changes nothing here; contrast 1.05 added with a significant
  // Cardiomegaly drop is named; contrast 0.85 (severity 2) is not part of it.
  EXPECT_HAS(r.html, "The small-shift control, contrast 0.95 (within 5 % of the identity), changes no class significantly.");
  ojson with_control = make_robustness();
  with_control["conditions"].push_back(condition("shift", "contrast", 0, 1.05, "factor on deviations from the mean", 0.0,
                                                 {{"Cardiomegaly", {-0.018, 0.002, true}}}));
  write_robustness(with_control);
  EXPECT_HAS(render().html, "The small-shift control, contrast 0.95 and 1.05 (within 5 % of the identity), changes "
                            "Cardiomegaly -0.018 (q 0.002) at 1.05: this model responds to a contrast change a robust "
                            "model would tolerate");
  // No drops: the table says none.
  ojson j = make_robustness();
  for (auto& c : j["conditions"])
    if (c["family"] != "adversarial") {
      for (auto& x : c["per_class"])
        if (x["significant"] == true) x["significant"] = false;
      c["significant_drops"] = ojson::array();
    }
  write_robustness(j);
  EXPECT_HAS(table(render().html, "robustness-drops"), "<tr><td class=\"text\" colspan=\"6\">none</td></tr>");
}

TEST_F(RobustnessSectionTest, ShortcutTablePerClass) {
  write_robustness(make_robustness());
  const Rendered r = render();
  const std::string t = table(r.html, "robustness-shortcut");
  EXPECT_HAS(t, "<th>independent:marker</th><th>q (difference)</th><th>removed:marker</th><th>q (difference)</th>");
  EXPECT_HAS(t, "<tr><td class=\"text\">Pneumothorax</td><td>0.830</td><td>0.810</td><td>0.3 (-0.020)</td><td>0.630</td>"
                "<td class=\"fail\">&lt; 0.001 (-0.200)</td></tr>");
  EXPECT_HAS(t, "<tr><td class=\"text\">Hernia</td><td>n/a</td><td>n/a</td><td>n/a</td><td>n/a</td><td>n/a</td></tr>");
  EXPECT_EQ(count_of(t, "<tr><td class=\"text\">"), 14u);
  EXPECT_HAS(r.md, "| Pneumothorax | 0.830 | 0.810 | 0.3 (-0.020) | 0.630 | &lt; 0.001 (-0.200) |");
  // Shortcut probes on another split: their columns name it, the baseline column is that split's.
  ojson other = make_robustness();
  other["splits"]["val"] = other["splits"]["test"];
  other["splits"]["val"]["baseline"][13]["auroc"] = 0.9;
  for (auto& c : other["conditions"])
    if (c["family"] == "shortcut") c["split"] = "val";
  // A shift at an explicit parameter (severity 0) is labelled by it, first in its group.
  other["conditions"].push_back(condition("shift", "contrast", 0, 1.05, "factor on deviations from the mean", 0.0));
  write_robustness(other);
  const Rendered on_val = render();
  std::vector<std::string> labels;
  for (const auto& c : cells_of(on_val.heatmap))
    if (c.cls == "Atelectasis") labels.push_back(c.condition);
  EXPECT_EQ(labels, (std::vector<std::string>{"contrast=1.05", "contrast 1", "contrast 2", "gaussian-noise 1", "ap-share 1",
                                              "independent:marker (val)", "removed:marker (val)"}));
  EXPECT_HAS(table(on_val.html, "robustness-shortcut"), "<th>AUROC (val)</th><th>independent:marker (val)</th>");
  EXPECT_HAS(table(on_val.html, "robustness-shortcut"), "<tr><td class=\"text\">Pneumothorax</td><td>0.900</td>");
  EXPECT_HAS(table(on_val.html, "robustness-drops"), "<td class=\"text\">removed:marker (val)</td>");
  EXPECT_HAS(table(on_val.html, "robustness-adversarial"), "<tr><td class=\"text\">PGD</td><td>1</td>");
  // Without shortcut conditions the section says so.
  ojson j = make_robustness();
  ojson kept = ojson::array();
  for (const auto& c : j["conditions"])
    if (c["family"] != "shortcut") kept.push_back(c);
  j["conditions"] = kept;
  write_robustness(j);
  const Rendered without = render();
  EXPECT_EQ(without.html.find("id=\"robustness-shortcut\""), std::string::npos);
  EXPECT_HAS(without.html, "id=\"robustness-no-shortcut\"");
  EXPECT_EQ(cells_of(without.heatmap).size(), 14u * 4);
}

TEST_F(RobustnessSectionTest, AdversarialCurvesStartAtTheBaselineMacro) {
  write_robustness(make_robustness());
  const Rendered r = render();
  static const std::regex re("data-attack=\"([^\"]*)\" data-epsilon=\"([^\"]*)\" data-auroc=\"([^\"]*)\"");
  std::vector<std::tuple<std::string, double, double>> points;
  for (auto it = std::sregex_iterator(r.adversarial.begin(), r.adversarial.end(), re); it != std::sregex_iterator(); ++it)
    points.emplace_back((*it)[1], std::stod((*it)[2]), std::stod((*it)[3]));
  // Per attack: epsilon 0 at the baseline macro, then each epsilon in order with the macro of its 13 classes.
  const std::vector<std::tuple<std::string, double, double>> expected = {
      {"FGSM", 0, kBaselineMacro}, {"FGSM", 1, kBaselineMacro - 0.05}, {"FGSM", 4, kBaselineMacro - 0.20},
      {"PGD", 0, kBaselineMacro},  {"PGD", 1, kBaselineMacro - 0.08},  {"PGD", 4, kBaselineMacro - 0.32}};
  ASSERT_EQ(points.size(), expected.size()) << r.adversarial;
  for (size_t i = 0; i < points.size(); ++i) {
    EXPECT_EQ(std::get<0>(points[i]), std::get<0>(expected[i])) << i;
    EXPECT_NEAR(std::get<1>(points[i]), std::get<1>(expected[i]), 1e-9) << i;
    EXPECT_NEAR(std::get<2>(points[i]), std::get<2>(expected[i]), 1e-5) << i;
  }
  EXPECT_EQ(count_of(r.adversarial, "class=\"series-line\""), 2u);
  EXPECT_HAS(r.html, "id=\"robustness-adversarial-plot\"");
  // Settings, disclaimer, table.
  EXPECT_HAS(r.html, "This is a robustness probe, not a security claim");
  EXPECT_HAS(r.html, "PGD (7 steps, step size 2.5 * epsilon / steps), L-infinity, loss: summed binary cross-entropy; "
                     "epsilon in grey levels of the 0..255 model input, after resizing, before normalisation; 1,200 images.");
  const std::string t = table(r.html, "robustness-adversarial");
  EXPECT_HAS(t, "<tr><td class=\"text\">PGD</td><td>1</td><td>0.765</td><td>0.685</td><td>-0.080</td><td>13 of 13</td></tr>\n"
                "<tr><td class=\"text\">PGD</td><td>4</td><td>0.765</td><td>0.445</td><td>-0.320</td><td>13 of 13</td></tr>");
  EXPECT_HAS(r.html, "PGD at the largest epsilon, 4 grey levels, takes the macro AUROC on test from 0.765 to 0.445.");
  EXPECT_HAS(r.md, "![Macro AUROC against epsilon](plots/robustness_adversarial.svg)");
  EXPECT_HAS(r.md, "| FGSM | 4 | 0.765 | 0.565 | -0.200 | 13 of 13 |");
}

TEST_F(RobustnessSectionTest, NotEvaluatedNarrowedToWhatIsStillMissing) {
  const std::string original = "robustness to distribution shift (scanner, exposure, noise, resolution) and to adversarial inputs";
  write_robustness(make_robustness());
  Rendered r = render();
  const std::string narrowed = "robustness to real scanner and site differences (only simulated shifts and re-rendered "
                               "phantom scanner profiles were measured, in the Robustness section) and to adaptive "
                               "adversarial attacks (only FGSM and PGD with 7 PGD steps were run)";
  EXPECT_HAS(r.html, "<li>" + narrowed + "</li>");
  EXPECT_EQ(r.html.find(original), std::string::npos);
  EXPECT_HAS(r.conclusions, narrowed);
  EXPECT_EQ(r.conclusions.find(original), std::string::npos);
  // The other items stay.
  EXPECT_HAS(r.html, "<li>temporal stability in calendar time (only the follow-up proxy is measured)</li>");
  // No attack ran: adversarial inputs stay unevaluated, and there is no curve.
  write_robustness(make_robustness(/*attacks=*/false));
  r = render();
  EXPECT_HAS(r.html, "were measured, in the Robustness section) and to adversarial inputs (no attack was run)</li>");
  EXPECT_HAS(r.html, "id=\"robustness-no-attack\"");
  EXPECT_TRUE(r.adversarial.empty());
  EXPECT_EQ(std::count(r.files.begin(), r.files.end(), "plots/robustness_adversarial.svg"), 0);
}

TEST_F(RobustnessSectionTest, WithoutTheFileTheSectionSaysNotMeasured) {
  const Rendered r = render();
  EXPECT_HAS(r.html, "<h2 id=\"robustness\">Robustness</h2>\n<p id=\"robustness-not-measured\">not measured &mdash; run "
                     "<code>cxrtrain probe-shift --run RUN</code>");
  const size_t section = r.md.find("## Robustness\n");
  ASSERT_NE(section, std::string::npos);
  EXPECT_EQ(r.md.find("not measured - run `cxrtrain probe-shift --run RUN`", section),
            r.md.find_first_not_of('\n', section + 14));
  EXPECT_EQ(r.html.find("robustness-drops"), std::string::npos);
  EXPECT_HAS(r.html, "<li>robustness to distribution shift (scanner, exposure, noise, resolution) and to adversarial inputs</li>");
  for (const auto& f : r.files) EXPECT_EQ(f.find("robustness"), std::string::npos) << f;
  // With the file, its copy and the plots are written; the section sits after the temporal one.
  write_robustness(make_robustness());
  const Rendered with = render();
  for (const char* f : {"data/robustness.json", "plots/robustness_heatmap.svg", "plots/robustness_adversarial.svg",
                        "data/robustness_heatmap.json", "data/robustness_adversarial.json"})
    EXPECT_EQ(std::count(with.files.begin(), with.files.end(), f), 1) << f;
  EXPECT_LT(with.html.find("id=\"temporal\""), with.html.find("id=\"robustness\""));
  EXPECT_LT(with.html.find("id=\"robustness\""), with.html.find("id=\"expert\""));
  EXPECT_EQ(with.html.find("robustness-not-measured"), std::string::npos);
}

TEST_F(RobustnessSectionTest, DamagedFilesAreRefusedNamingTheFileAndTheKey) {
  const std::string file = (run_dir() / "robustness" / "robustness.json").string();
  auto expect_error = [&](const std::function<void(ojson&)>& edit, const std::string& key_and_problem) {
    const std::string e = error_of(edit);
    EXPECT_HAS(e, file + ": " + key_and_problem);
    EXPECT_HAS(e, "HINT:");
    EXPECT_HAS(e, "cxrtrain probe-shift");
  };
  expect_error([](ojson& j) { j["schema"] = "cxrtrain.robustness/2"; },
               "/schema is 'cxrtrain.robustness/2', expected 'cxrtrain.robustness/1'");
  expect_error([](ojson& j) { j["conditions"][2]["per_class"][3].erase("q_value"); },
               "/conditions/2/per_class/3/q_value is missing");
  expect_error([](ojson& j) { j["conditions"][0].erase("split"); }, "/conditions/0/split is missing");
  expect_error([](ojson& j) { j.erase("alpha"); }, "/alpha is missing");
  expect_error([](ojson& j) { j["conditions"][1]["per_class"][0]["auroc"] = "0.7"; },
               "/conditions/1/per_class/0/auroc is a string, expected a number or null");
  expect_error([](ojson& j) { j["conditions"][1]["severity"] = 1.5; }, "/conditions/1/severity is a number, expected a whole number");
  expect_error([](ojson& j) { j["conditions"][0]["per_class"][2]["significant"] = "yes"; },
               "/conditions/0/per_class/2/significant is not a boolean or null");
  expect_error([](ojson& j) { j["splits"]["test"]["images"] = "1200"; }, "/splits/test/images is a string");
  expect_error([](ojson& j) { j["conditions"][0]["per_class"].erase(13); },
               "/conditions/0/per_class has 13 entries, expected one per class (14)");
  expect_error([](ojson& j) { j["splits"]["test"]["baseline"].push_back(j["splits"]["test"]["baseline"][0]); },
               "/splits/test/baseline has 15 entries");
  expect_error([](ojson& j) { std::swap(j["conditions"][0]["per_class"][0], j["conditions"][0]["per_class"][1]); },
               "/conditions/0/per_class/0/class is 'Cardiomegaly', expected 'Atelectasis'");
  expect_error([](ojson& j) { j["conditions"][3]["per_class"][4]["q_value"] = 1.5; },
               "/conditions/3/per_class/4/q_value is 1.5, outside [0, 1]");
  expect_error([](ojson& j) { j["conditions"][0]["family"] = "weather"; }, "/conditions/0/family is 'weather'");
  expect_error([](ojson& j) { j["conditions"][0]["split"] = "val"; }, "/conditions/0/split is 'val', which /splits does not have");
  expect_error([](ojson& j) { j.erase("adversarial"); }, "/adversarial is missing, but /conditions holds adversarial attacks");
  expect_error([](ojson& j) { j["adversarial"]["steps_pgd"] = "7"; }, "/adversarial/steps_pgd is a string");
  expect_error([](ojson& j) { j["conditions"][0]["significant_drops"] = {"Edema"}; },
               "/conditions/0/significant_drops lists [Edema], but per_class has significant negative differences for [Nodule]");
  expect_error([](ojson& j) { j["conditions"][6]["parameter"] = nullptr; }, "/conditions/6/parameter is not an epsilon");
  expect_error([](ojson& j) { j["classes"][0] = "Atelectasis!"; }, "/classes/0 is 'Atelectasis!'");
  // Not JSON at all.
  write_robustness(make_robustness());
  cxr::atomic_write_file(file, "{\"schema\": ");
  try {
    render();
    ADD_FAILURE() << "a torn file was accepted";
  } catch (const cxr::UserError& e) {
    EXPECT_HAS(std::string(e.what()), "'" + file + "' is not valid JSON");
  }
  // The intact fixture is accepted (the errors above come from the edits).
  EXPECT_EQ(error_of([](ojson&) {}), "no error");
}
