// The report's "Time (follow-up proxy)" section (report/temporal_section.h): a hand-made metrics.json "temporal"
// rendered as the class x band table (AUROC [CI], q (gap) of each later band, "untested" and "n/a" where the
// statistics are null, the q < 0.05 count, band counts with thousands separators) with its caveat escaped, in
// index.html and report.md; a real evaluation's section carries the caveat; an older metrics.json without
// "temporal" says "not computed"; a damaged "temporal" is refused naming the key.
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
#include "tests/report/scratch_dir_test.h"

namespace fs = std::filesystem;
using namespace cxr::report;
using ojson = nlohmann::ordered_json;

namespace {

// Bands of 300 / 1,329 / 450 / 93 images; every class 0.700 [0.600, 0.800] with q 0.9 (gap +0.010), except
// Edema: first film 0.800 [0.750, 0.850]; films 2-5 0.700 [0.600, 0.800], gap -0.1, q 0.004; films 6-20 without
// positives (all null); films 21+ 0.650 [0.500, 0.800], gap -0.15 untested. Hernia in films 21+: one positive,
// an AUROC of 0.969 without an interval or a gap.
ojson make_temporal() {
  ojson t;
  t["proxy"] = "NIH's 'Follow-up #'";
  const char* names[] = {"first film", "films 2-5", "films 6-20", "films 21+"};
  const int64_t images[] = {300, 1329, 450, 93}, patients[] = {300, 105, 47, 13};
  t["bands"] = ojson::array();
  for (int b = 0; b < 4; ++b)
    t["bands"].push_back({{"name", names[b]}, {"films", "films"}, {"follow_up_min", b}, {"follow_up_max", nullptr},
                          {"n_images", images[b]}, {"n_patients", patients[b]}});
  t["reference_band"] = "first film";
  t["images_without_follow_up"] = 0;
  t["rows"] = ojson::array();
  for (int b = 0; b < 4; ++b)
    for (const auto& c : cxr::data::class_names()) {
      ojson r = {{"band", names[b]}, {"class", c}, {"n_images", images[b]}, {"n_patients", patients[b]},
                 {"n_pos", 20}, {"n_neg", 80}, {"auroc", 0.7}, {"auroc_ci95_delong", {0.6, 0.8}}};
      if (b == 0) {
        r.update({{"gap", nullptr}, {"p_value", nullptr}, {"q_value", nullptr}, {"reason", "gap: the reference band"}});
      } else {
        r.update({{"gap", 0.01}, {"p_value", 0.5}, {"q_value", 0.9}});
      }
      if (c == "Edema") {
        if (b == 0) r.update({{"auroc", 0.8}, {"auroc_ci95_delong", {0.75, 0.85}}});
        if (b == 1) r.update({{"gap", -0.1}, {"p_value", 0.001}, {"q_value", 0.004}});
        if (b == 2)
          r.update({{"n_pos", 0}, {"auroc", nullptr}, {"auroc_ci95_delong", nullptr}, {"gap", nullptr},
                    {"p_value", nullptr}, {"q_value", nullptr}, {"reason", "auroc: no positive images"}});
        if (b == 3)
          r.update({{"auroc", 0.65}, {"auroc_ci95_delong", {0.5, 0.8}}, {"gap", -0.15}, {"p_value", nullptr},
                    {"q_value", nullptr}, {"reason", "p_value: fewer than 10"}});
      }
      if (c == "Hernia" && b == 3)
        r.update({{"n_pos", 1}, {"auroc", 0.969}, {"auroc_ci95_delong", nullptr}, {"gap", nullptr}, {"p_value", nullptr},
                  {"q_value", nullptr}, {"reason", "gap: no DeLong variance"}});
      t["rows"].push_back(r);
    }
  t["tests"] = {{"min_cases", 10}};
  t["caveat"] = "Follow-up films <b>sicker</b> & \"AP\".";
  return t;
}

class TemporalSectionTest : public cxr::test::ScratchDirTest {
 protected:
  TemporalSectionTest() : ScratchDirTest("cxr_temporal_section_") {}

  // An evaluate output folder (400 seeded images of 100 patients, 4 films each: follow-up 0..3); `edit` changes
  // metrics.json before it is written.
  fs::path write_evaluation(const std::function<void(ojson&)>& edit = {}) {
    std::mt19937_64 rng(5);
    std::normal_distribution<double> z;
    std::uniform_real_distribution<double> u;
    cxr::eval::ScoredSplit ev;
    for (size_t i = 0; i < 400; ++i) {
      cxr::data::SampleMeta m;
      m.image_index = "img" + std::to_string(i);
      m.patient_id = static_cast<int32_t>(i / 4);
      m.follow_up = static_cast<int32_t>(i % 4);
      m.sex = static_cast<int8_t>(rng() % 2);
      m.age = static_cast<int16_t>(20 + rng() % 60);
      m.view = static_cast<int8_t>(rng() % 2);
      for (int c = 0; c < cxr::data::kNumClasses; ++c) {
        const bool pos = u(rng) < 0.2;
        m.labels[static_cast<size_t>(c)] = pos;
        ev.probability.push_back(1 / (1 + std::exp(-(z(rng) + (pos ? 1 + c / 10.0 : 0.0) - 1.5))));
      }
      ev.meta.push_back(m);
    }
    cxr::eval::EvaluationOptions o;
    o.resamples = 20;
    ojson m = cxr::eval::evaluate_split(ev, ev, o);
    m["model"] = {{"predictions", "model.csv"}, {"pack", (root_ / "no_pack").string()}};
    if (edit) edit(m);
    const fs::path dir = root_ / "eval";
    fs::create_directories(dir);
    cxr::atomic_write_file(dir / "metrics.json", m.dump(2));
    return dir;
  }
  std::pair<std::string, std::string> render(const fs::path& eval_dir) {
    ReportOptions o;
    o.eval_dir = eval_dir.string();
    const ReportFiles files = write_report(o);
    return {cxr::read_text_file(files.index_html), cxr::read_text_file(files.markdown)};
  }
};

#define EXPECT_HAS(text, part) EXPECT_NE((text).find(part), std::string::npos) << "missing: " << (part) << "\nin:\n" << (text)

}  // namespace

TEST_F(TemporalSectionTest, TableFromHandMadeNumbersInHtmlAndMarkdown) {
  const auto [html, md] = render(write_evaluation([](ojson& m) { m["temporal"] = make_temporal(); }));
  EXPECT_HAS(html, "<h2 id=\"temporal\">Time (follow-up proxy)</h2>");
  EXPECT_HAS(html, "<th>films 2-5<br><span class=\"note\">1,329 images, 105 patients</span></th><th>q (gap)</th>");
  EXPECT_HAS(html, "<th>first film<br><span class=\"note\">300 images, 300 patients</span></th><th>films 2-5");
  EXPECT_HAS(html, "<tr><td class=\"text\">Edema</td><td>0.800 [0.750, 0.850]</td><td>0.700 [0.600, 0.800]</td>"
                   "<td class=\"fail\">0.004 (-0.100)</td><td>n/a</td><td>n/a</td><td>0.650 [0.500, 0.800]</td>"
                   "<td>untested (-0.150)</td></tr>");
  EXPECT_HAS(html, "<tr><td class=\"text\">Hernia</td><td>0.700 [0.600, 0.800]</td><td>0.700 [0.600, 0.800]</td>"
                   "<td>0.9 (+0.010)</td>");
  EXPECT_HAS(html, "<td>0.969 (no CI)</td><td>n/a</td></tr>");
  EXPECT_HAS(html, "against the first film: q (gap)");
  EXPECT_HAS(html, "fewer than 10 positives or negatives on a side). 1 gaps with q &lt; 0.05.");
  EXPECT_HAS(html, "<p class=\"warning\" id=\"temporal-caveat\">Follow-up films &lt;b&gt;sicker&lt;/b&gt; &amp; &quot;AP&quot;.</p>");
  EXPECT_EQ(html.find("<b>sicker"), std::string::npos);
  EXPECT_EQ(html.find("temporal-not-computed"), std::string::npos);
  // The section sits between the subgroups and the expert labels.
  EXPECT_LT(html.find("id=\"underdiagnosis-table\""), html.find("id=\"temporal\""));
  EXPECT_LT(html.find("id=\"temporal\""), html.find("id=\"expert\""));

  EXPECT_HAS(md, "## Time (follow-up proxy)");
  EXPECT_HAS(md, "| class | first film (300 images, 300 patients) | films 2-5 (1,329 images, 105 patients) | q (gap) |");
  EXPECT_HAS(md, "|---|---:|---:|---:|---:|---:|---:|---:|\n");
  // Rows follow each other with no blank line (a blank line ends a Markdown table).
  EXPECT_HAS(md, "| Edema | 0.800 \\[0.750, 0.850\\] | 0.700 \\[0.600, 0.800\\] | 0.004 (-0.100) | n/a | n/a | "
                 "0.650 \\[0.500, 0.800\\] | untested (-0.150) |\n| Effusion |");
  EXPECT_HAS(md, "> **Follow-up films &lt;b&gt;sicker&lt;/b&gt; &amp; \"AP\".**");
}

TEST_F(TemporalSectionTest, RealEvaluationCarriesTheCaveatAndCalendarTimeStaysNotEvaluated) {
  const auto [html, md] = render(write_evaluation());
  EXPECT_HAS(html, "id=\"temporal-table\"");
  // 100 patients with 4 films each: 100 first films, 300 films 2-5, none later.
  EXPECT_HAS(html, "<th>first film<br><span class=\"note\">100 images, 100 patients</span></th>");
  EXPECT_HAS(html, "<th>films 2-5<br><span class=\"note\">300 images, 100 patients</span></th>");
  EXPECT_HAS(html, "<th>films 21+<br><span class=\"note\">0 images, 0 patients</span></th>");
  EXPECT_HAS(html, "so a difference across bands confounds time with case mix and is not evidence of temporal drift in years.");
  EXPECT_HAS(md, "is not evidence of temporal drift in years.**");
  EXPECT_HAS(html, "<li>temporal stability in calendar time (only the follow-up proxy is measured)</li>");
  EXPECT_EQ(html.find("later years"), std::string::npos);
}

TEST_F(TemporalSectionTest, OlderMetricsWithoutTemporalSayNotComputed) {
  const auto [html, md] = render(write_evaluation([](ojson& m) { m.erase("temporal"); }));
  EXPECT_HAS(html, "<h2 id=\"temporal\">Time (follow-up proxy)</h2>\n<p id=\"temporal-not-computed\">not computed:");
  EXPECT_EQ(html.find("temporal-table"), std::string::npos);
  EXPECT_EQ(html.find("temporal-caveat"), std::string::npos);
  const size_t section = md.find("## Time (follow-up proxy)\n");
  ASSERT_NE(section, std::string::npos);
  EXPECT_EQ(md.find("not computed: this metrics.json predates the follow-up proxy", section),
            md.find_first_not_of('\n', section + 26));
  EXPECT_EQ(md.find("| class | first film"), std::string::npos);
}

TEST_F(TemporalSectionTest, RefusesADamagedTemporalObjectNamingTheKey) {
  auto error_of = [&](const std::function<void(ojson&)>& edit) -> std::string {
    const fs::path dir = write_evaluation([&](ojson& m) {
      m["temporal"] = make_temporal();
      edit(m["temporal"]);
    });
    try {
      render(dir);
    } catch (const cxr::UserError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_HAS(error_of([](ojson& t) { t["rows"][5]["band"] = "films 99+"; }), "/temporal/rows/5/band names no band");
  EXPECT_HAS(error_of([](ojson& t) { t["rows"][0]["auroc"] = "x"; }), "/temporal/rows/0/auroc is a string");
  EXPECT_HAS(error_of([](ojson& t) { t["rows"][3]["q_value"] = 1.5; }), "/temporal/rows/3/q_value is 1.5");
  EXPECT_HAS(error_of([](ojson& t) { t.erase("caveat"); }), "/temporal/caveat");
}
