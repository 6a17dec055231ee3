// Plot geometry (see plots.h). Coordinates are printed with one decimal; colours are computed, never
// taken from input.
#include "report/plots.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "report/conclusions.h"
#include "report/format.h"

namespace cxr::report {
namespace {

using json = nlohmann::ordered_json;

std::string px(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

json nullable(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }
json nullable(const std::optional<Interval>& v) { return v ? json::array({v->lo, v->hi}) : json(nullptr); }

// White at 0, red for a group doing worse than the rest (negative gap), blue for better; saturated at |t| = 1.
std::string diverging(double t) {
  t = std::max(-1.0, std::min(1.0, t));
  const double a = std::fabs(t);
  const int r0 = t < 0 ? 192 : 36, g0 = t < 0 ? 57 : 113, b0 = t < 0 ? 43 : 163;
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<int>(std::lround(255 + (r0 - 255) * a)),
                static_cast<int>(std::lround(255 + (g0 - 255) * a)), static_cast<int>(std::lround(255 + (b0 - 255) * a)));
  return buf;
}

// White at 0, blue at 1: a share of the maps' mass.
std::string sequential(double t) {
  t = std::max(0.0, std::min(1.0, t));
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<int>(std::lround(255 + (36 - 255) * t)),
                static_cast<int>(std::lround(255 + (113 - 255) * t)), static_cast<int>(std::lround(255 + (163 - 255) * t)));
  return buf;
}

// Panels of a small-multiples grid: 5 per row.
struct Grid {
  static constexpr double kSize = 150, kLeft = 42, kTop = 34, kGapX = 30, kGapY = 58;
  static constexpr int kColumns = 5;
  static double x(int i) { return kLeft + (i % kColumns) * (kSize + kGapX); }
  static double y(int i) { return kTop + (i / kColumns) * (kSize + kGapY); }
  static double width() { return kLeft + kColumns * (kSize + kGapX); }
  static double height(int n) { return kTop + ((n + kColumns - 1) / kColumns) * (kSize + kGapY); }
};

// A polyline through (x, y) in [0, 1]^2 scaled to a panel, points closer than 0.1 px dropped.
std::string polyline(const std::vector<double>& xs, const std::vector<double>& ys, double x0, double y0, double size,
                     double scale = 1) {
  std::string out, last;
  for (size_t i = 0; i < xs.size(); ++i) {
    const std::string p = px(x0 + xs[i] / scale * size) + "," + px(y0 + (1 - ys[i] / scale) * size);
    if (p == last) continue;
    out += (out.empty() ? "" : " ") + p;
    last = p;
  }
  return out;
}

json panel_frame(int i, const std::string& title, const std::string& subtitle, const std::string& x_label,
                 const std::string& y_label, const std::string& max_label) {
  const double x = Grid::x(i), y = Grid::y(i), s = Grid::kSize;
  return {{"x", px(x)},           {"y", px(y)},          {"size", px(s)},
          {"title_x", px(x)},     {"title_y", px(y - 16)}, {"title", title},
          {"subtitle_y", px(y - 4)}, {"subtitle", subtitle},
          {"x_label", x_label},   {"x_label_x", px(x + s / 2)}, {"x_label_y", px(y + s + 24)},
          {"y_label", y_label},   {"y_label_x", px(x - 28)}, {"y_label_y", px(y + s / 2)},
          {"zero_x", px(x - 4)},  {"zero_y", px(y + s + 12)}, {"max_label", max_label},
          {"max_x_x", px(x + s)}, {"max_y_y", px(y + 4)},   {"diag", px(x) + "," + px(y + s) + " " + px(x + s) + "," + px(y)}};
}

}  // namespace

Plot forest_plot(const EvaluationResult& r) {
  std::vector<const ClassResult*> order;
  for (const auto& c : r.classes) order.push_back(&c);
  std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) {
    if (a->auroc.has_value() != b->auroc.has_value()) return a->auroc.has_value();
    return a->auroc && *a->auroc > *b->auroc;
  });
  double lo = 0.5;
  for (const auto* c : order)
    for (const auto& ci : {c->ci_delong, c->ci_bootstrap})
      if (ci) lo = std::min(lo, ci->lo);
  lo = std::max(0.0, std::floor(lo * 10) / 10);
  const double x0 = 190, x1 = 610, top = 62, row = 24;
  auto x = [&](double v) { return x0 + (v - lo) / (1 - lo) * (x1 - x0); };
  Plot p;
  json rows = json::array(), data = json::array();
  for (size_t i = 0; i < order.size(); ++i) {
    const ClassResult& c = *order[i];
    const double y = top + static_cast<double>(i) * row + row / 2;
    json rw = {{"label", c.name}, {"label_y", px(y + 4)}, {"defined", c.auroc.has_value()}};
    if (c.auroc) {
      rw["point_x"] = px(x(*c.auroc));
      rw["point_y"] = px(y);
      rw["text"] = fixed(*c.auroc) + " " + interval(c.ci_delong) + " / " + interval(c.ci_bootstrap);
      if (c.ci_delong) rw["delong"] = {{"x1", px(x(c.ci_delong->lo))}, {"x2", px(x(c.ci_delong->hi))}, {"y", px(y - 3)}};
      if (c.ci_bootstrap)
        rw["bootstrap"] = {{"x1", px(x(c.ci_bootstrap->lo))}, {"x2", px(x(c.ci_bootstrap->hi))}, {"y", px(y + 3)}};
      rw["tooltip"] = c.name + ": AUROC " + fixed(*c.auroc) + ", DeLong " + interval(c.ci_delong) + ", bootstrap " +
                      interval(c.ci_bootstrap) + ", " + std::to_string(c.n_pos) + " positives";
    } else {
      rw["text"] = "no AUROC: " + first_reason(c.reason);
    }
    rw["text_x"] = px(x1 + 12);
    rows.push_back(rw);
    data.push_back({{"class", c.name}, {"n_pos", c.n_pos}, {"n_neg", c.n_neg}, {"auroc", nullable(c.auroc)},
                    {"auroc_ci95_delong", nullable(c.ci_delong)}, {"auroc_ci95_bootstrap", nullable(c.ci_bootstrap)}});
  }
  const double bottom = top + static_cast<double>(order.size()) * row;
  json ticks = json::array();
  for (int t = static_cast<int>(std::lround(lo * 10)); t <= 10; ++t)
    ticks.push_back({{"x", px(x(t / 10.0))}, {"label", fixed(t / 10.0, 1)}});
  json refs = json::array();
  // Reference lines, their labels on two heights so that close lines stay readable.
  refs.push_back({{"x", px(x(0.5))}, {"label", "chance"}, {"dash", "4 3"}, {"label_y", px(top - 22)}});
  if (r.macro_auroc)
    refs.push_back({{"x", px(x(*r.macro_auroc))}, {"label", "macro " + fixed(*r.macro_auroc)}, {"dash", "1 3"},
                    {"label_y", px(top - 10)}});
  p.view = {{"width", px(920)}, {"height", px(bottom + 40)}, {"rows", rows}, {"ticks", ticks}, {"refs", refs},
            {"axis_x1", px(x0)}, {"axis_x2", px(x1)}, {"axis_y", px(bottom)}, {"tick_y", px(bottom + 16)},
            {"top", px(top - 6)}, {"ref_label_y", px(top - 10)}, {"header_x", px(x1 + 12)},
            {"title", "AUROC per class on " + r.split + ", 95 % intervals: DeLong (dark, above) and patient bootstrap (orange, below)"}};
  p.data = {{"split", r.split}, {"macro_auroc", nullable(r.macro_auroc)},
            {"macro_auroc_ci95_bootstrap", nullable(r.macro_ci_bootstrap)}, {"classes", data}};
  return p;
}

Plot roc_plot(const EvaluationResult& r) {
  Plot p;
  json panels = json::array(), data = json::object();
  for (int i = 0; i < data::kNumClasses; ++i) {
    const ClassResult& c = r.classes[static_cast<size_t>(i)];
    json panel = panel_frame(i, c.name, "AUROC " + fixed_or(c.auroc), "1 - specificity", "sensitivity", "1");
    if (!c.roc_fpr.empty()) {
      panel["line"] = {{"points", polyline(c.roc_fpr, c.roc_tpr, Grid::x(i), Grid::y(i), Grid::kSize)}};
      if (c.sensitivity && c.specificity) {
        panel["marks"] = json::array({{{"cx", px(Grid::x(i) + (1 - *c.specificity) * Grid::kSize)},
                                       {"cy", px(Grid::y(i) + (1 - *c.sensitivity) * Grid::kSize)},
                                       {"r", "3.5"},
                                       {"tooltip", "operating point: sensitivity " + fixed(*c.sensitivity, 2) +
                                                       ", specificity " + fixed(*c.specificity, 2)}}});
      }
    } else {
      panel["empty"] = {{"text", r.has_curves ? first_reason(c.reason) : "curves.json missing"},
                        {"x", px(Grid::x(i) + 6)},
                        {"y", px(Grid::y(i) + Grid::kSize / 2)}};
    }
    panels.push_back(panel);
    data[c.name] = {{"auroc", nullable(c.auroc)},
                    {"fpr", c.roc_fpr.empty() ? json(nullptr) : json(c.roc_fpr)},
                    {"tpr", c.roc_tpr.empty() ? json(nullptr) : json(c.roc_tpr)},
                    {"operating_point", c.sensitivity && c.specificity
                                            ? json({{"sensitivity", *c.sensitivity}, {"specificity", *c.specificity}})
                                            : json(nullptr)}};
  }
  p.view = {{"width", px(Grid::width())}, {"height", px(Grid::height(data::kNumClasses))}, {"panels", panels},
            {"title", "ROC curves on " + r.split + " (dot: the operating point chosen on " +
                          (r.thresholds_chosen_on.empty() ? std::string("no split") : r.thresholds_chosen_on) + ")"}};
  p.data = {{"split", r.split}, {"classes", data}};
  return p;
}

Plot reliability_plot(const EvaluationResult& r) {
  Plot p;
  json panels = json::array(), data = json::object();
  for (int i = 0; i < data::kNumClasses; ++i) {
    const ClassResult& c = r.classes[static_cast<size_t>(i)];
    double top = 0;
    int64_t most = 1;
    std::vector<double> xs, ys;
    for (const auto& b : c.reliability) {
      if (!b.mean_predicted || !b.observed_rate) continue;
      top = std::max({top, *b.mean_predicted, *b.observed_rate});
      most = std::max(most, b.count);
    }
    // Zoomed to where the predictions are (most are far below 0.5), stated on the axes.
    const double scale = std::min(1.0, std::max(0.1, std::ceil(top * 10 - 1e-9) / 10));
    json marks = json::array(), bins = json::array();
    for (const auto& b : c.reliability) {
      bins.push_back({{"lo", b.lo}, {"hi", b.hi}, {"count", b.count}, {"mean_predicted", nullable(b.mean_predicted)},
                      {"observed_rate", nullable(b.observed_rate)}});
      if (!b.mean_predicted || !b.observed_rate) continue;
      xs.push_back(*b.mean_predicted);
      ys.push_back(*b.observed_rate);
      marks.push_back({{"cx", px(Grid::x(i) + *b.mean_predicted / scale * Grid::kSize)},
                       {"cy", px(Grid::y(i) + (1 - *b.observed_rate / scale) * Grid::kSize)},
                       {"r", px(1.5 + 5.5 * std::sqrt(static_cast<double>(b.count) / static_cast<double>(most)))},
                       {"tooltip", std::to_string(b.count) + " images in (" + fixed(b.lo, 2) + ", " + fixed(b.hi, 2) +
                                       "]: predicted " + fixed(*b.mean_predicted) + ", observed " + fixed(*b.observed_rate)}});
    }
    json panel = panel_frame(i, c.name, "ECE " + fixed(c.ece) + ", Brier " + fixed(c.brier), "mean predicted",
                             "observed rate", fixed(scale, 1));
    if (!xs.empty()) panel["line"] = {{"points", polyline(xs, ys, Grid::x(i), Grid::y(i), Grid::kSize, scale)}};
    panel["marks"] = marks;
    panels.push_back(panel);
    data[c.name] = {{"ece", c.ece}, {"brier", c.brier}, {"axis_max", scale}, {"bins", bins}};
  }
  p.view = {{"width", px(Grid::width())}, {"height", px(Grid::height(data::kNumClasses))}, {"panels", panels},
            {"title", "Reliability on " + r.split + ": observed positive rate against mean predicted probability "
                      "per bin (dot area: images in the bin; axes end at the panel's maximum)"}};
  p.data = {{"split", r.split}, {"bins", 15}, {"classes", data}};
  return p;
}

Plot subgroup_heatmap(const EvaluationResult& r, const std::string& metric) {
  const bool auc = metric == "auroc";
  std::vector<std::pair<std::string, std::string>> groups;
  std::map<std::pair<std::string, std::string>, std::map<std::string, const SubgroupResult*>> cells;
  for (const auto& s : r.subgroups) {
    const auto key = std::make_pair(s.attribute, s.group);
    if (!cells.count(key)) groups.push_back(key);
    cells[key][s.class_name] = &s;
  }
  const double left = 150, top = 118, cw = 50, ch = 22, span = auc ? 0.2 : 0.4;
  Plot p;
  json columns = json::array(), rows = json::array(), data = json::array();
  for (int c = 0; c < data::kNumClasses; ++c) {
    const double cx = left + c * cw + cw / 2;
    columns.push_back({{"label", data::kClassNames[c]}, {"x", px(cx)}, {"y", px(top - 8)},
                       {"transform", "rotate(-50 " + px(cx) + " " + px(top - 8) + ")"}});
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    const double y = top + static_cast<double>(g) * ch;
    json row = {{"label", groups[g].first + " " + groups[g].second}, {"label_y", px(y + ch / 2 + 4)}};
    json row_cells = json::array();
    for (int c = 0; c < data::kNumClasses; ++c) {
      const auto it = cells[groups[g]].find(data::kClassNames[c]);
      const SubgroupResult* s = it == cells[groups[g]].end() ? nullptr : it->second;
      double gap_value = 0, q_value = 1;
      const bool has_gap = s && (auc ? s->gap : s->tpr_gap).has_value();
      const bool has_q = s && (auc ? s->q_value : s->tpr_q_value).has_value();
      if (has_gap) gap_value = *(auc ? s->gap : s->tpr_gap);
      if (has_q) q_value = *(auc ? s->q_value : s->tpr_q_value);
      json cell = {{"x", px(left + c * cw)}, {"y", px(y)}, {"w", px(cw - 1)}, {"h", px(ch - 1)},
                   {"text_x", px(left + c * cw + cw / 2)}, {"text_y", px(y + ch / 2 + 4)}};
      const bool flagged = has_gap && has_q && q_value < kFdrLevel;
      // A gap too small to test (kMinCasesForTest in eval/evaluation.cpp) is shown uncoloured and grey.
      cell["fill"] = !has_gap ? "#e6e6e6" : has_q ? diverging(gap_value / span) : "#fafafa";
      cell["text"] = has_gap ? signed_fixed(gap_value, 2) + (flagged ? "*" : "") : "-";
      cell["text_fill"] = has_gap && !has_q ? "#999999" : "#000000";
      cell["flagged"] = flagged;
      std::string tip = groups[g].first + " " + groups[g].second + ", " + data::kClassNames[c];
      if (s) {
        tip += ": " + std::to_string(s->n_pos) + " positives, " + std::to_string(s->n_neg) + " negatives";
        if (auc) tip += "; AUROC " + fixed_or(s->auroc) + " " + interval(s->ci_delong);
        else tip += "; sensitivity " + fixed_or(s->tpr, "n/a", 2);
        if (has_gap) tip += "; gap to the rest " + signed_fixed(gap_value) + ", q " + (has_q ? p_value(q_value) : std::string("n/a"));
        if (!has_gap && !s->reason.empty()) tip += "; " + s->reason;
        data.push_back({{"attribute", s->attribute}, {"group", s->group}, {"class", s->class_name},
                        {"n_pos", s->n_pos}, {"n_neg", s->n_neg}, {"value", nullable(auc ? s->auroc : s->tpr)},
                        {"gap", has_gap ? json(gap_value) : json(nullptr)}, {"q_value", has_q ? json(q_value) : json(nullptr)}});
      }
      cell["tooltip"] = tip;
      row_cells.push_back(cell);
    }
    row["cells"] = row_cells;
    rows.push_back(row);
  }
  const double bottom = top + static_cast<double>(groups.size()) * ch;
  // Legend: the colour scale from -span to +span.
  json legend = json::array();
  for (int k = -4; k <= 4; ++k)
    legend.push_back({{"x", px(left + (k + 4) * 24)}, {"fill", diverging(k / 4.0)},
                      {"label", k % 2 == 0 ? signed_fixed(span * k / 4.0, 2) : ""},
                      {"label_x", px(left + (k + 4) * 24 + 11)}});
  const std::string what = auc ? "AUROC" : "sensitivity at the operating point";
  p.view = {{"width", px(left + data::kNumClasses * cw + 20)}, {"height", px(bottom + 70)},
            {"columns", columns}, {"rows", rows}, {"legend", legend}, {"legend_y", px(bottom + 14)},
            {"legend_text_y", px(bottom + 44)}, {"legend_caption_y", px(bottom + 60)},
            {"legend_caption", "gap in " + what + " (group minus rest); red: the group does worse; * q < " +
                                   fixed(kFdrLevel, 2) + " (Benjamini-Hochberg); grey text: too few cases to test; grey cell: "
                                   "undefined"},
            {"title", "Subgroups on " + r.split + ": " + what + " of each group against the rest of the split"}};
  p.data = {{"split", r.split}, {"metric", auc ? "auroc" : "sensitivity"}, {"fdr_level", kFdrLevel}, {"cells", data}};
  return p;
}

Plot region_share_heatmap(const GradcamResult& g) {
  const double left = 150, top = 118, cw = 50, ch = 22;
  const auto n_regions = static_cast<double>(g.region_names.size());
  Plot p;
  json columns = json::array(), rows = json::array(), data = json::array();
  for (size_t r = 0; r < g.region_names.size(); ++r) {
    const double cx = left + static_cast<double>(r) * cw + cw / 2;
    columns.push_back({{"label", g.region_names[r]}, {"x", px(cx)}, {"y", px(top - 8)},
                       {"transform", "rotate(-50 " + px(cx) + " " + px(top - 8) + ")"}});
  }
  for (size_t k = 0; k < g.classes.size(); ++k) {
    const ClassCam& c = g.classes[k];
    const double y = top + static_cast<double>(k) * ch;
    // The largest share, outlined for a flagged class (first in the file's order on ties).
    size_t largest = c.region_share.size();
    for (size_t r = 0; r < c.region_share.size(); ++r)
      if (c.region_share[r].mean && (largest == c.region_share.size() || *c.region_share[r].mean > *c.region_share[largest].mean))
        largest = r;
    json row = {{"label", c.name + (c.shortcut_flag ? " *" : "")}, {"label_y", px(y + ch / 2 + 4)}};
    json row_cells = json::array(), shares = json::object();
    for (size_t r = 0; r < c.region_share.size(); ++r) {
      const ShareEstimate& s = c.region_share[r];
      const double x = left + static_cast<double>(r) * cw;
      json cell = {{"x", px(x)}, {"y", px(y)}, {"w", px(cw - 1)}, {"h", px(ch - 1)},
                   {"text_x", px(x + cw / 2)}, {"text_y", px(y + ch / 2 + 4)}};
      cell["fill"] = s.mean ? sequential(*s.mean) : "#e6e6e6";
      cell["text"] = s.mean ? fixed(*s.mean, 2) : "-";
      cell["text_fill"] = s.mean && *s.mean > 0.6 ? "#ffffff" : "#000000";
      cell["flagged"] = c.shortcut_flag && r == largest;
      cell["tooltip"] = c.name + ", " + g.region_names[r] + ": mean share " + fixed_or(s.mean) +
                        (s.ci95 ? " (95 % CI " + interval(s.ci95) + ")" : std::string()) + " over " +
                        std::to_string(c.n_maps_with_mass) + " maps";
      row_cells.push_back(cell);
      shares[g.region_names[r]] = nullable(s.mean);
    }
    row["cells"] = row_cells;
    rows.push_back(row);
    data.push_back({{"class", c.name}, {"n_images", c.n_images}, {"n_maps_with_mass", c.n_maps_with_mass}, {"shortcut_flag", c.shortcut_flag}, {"mean_share", shares}});
  }
  const double bottom = top + static_cast<double>(g.classes.size()) * ch;
  json legend = json::array();
  for (int k = 0; k <= 8; ++k)
    legend.push_back({{"x", px(left + k * 24)}, {"fill", sequential(k / 8.0)}, {"label", k % 2 == 0 ? fixed(k / 8.0, 2) : ""},
                      {"label_x", px(left + k * 24 + 11)}});
  p.view = {{"width", px(std::max(left + n_regions * cw + 20, 700.0))}, {"height", px(bottom + 70)},
            {"columns", columns}, {"rows", rows}, {"legend", legend}, {"legend_y", px(bottom + 14)},
            {"legend_text_y", px(bottom + 44)}, {"legend_caption_y", px(bottom + 60)},
            {"legend_caption", "mean share of the maps' mass (" + g.regions_kind + "); * shortcut flag, its largest share outlined"},
            {"title", "Where the Grad-CAM maps' mass lies on " + g.split + ": mean share per class and region"}};
  p.data = {{"split", g.split}, {"regions", g.region_names}, {"classes", data}};
  return p;
}

namespace {

// The smallest of 0.02, 0.05, 0.1, 0.2, 0.5, 1 that is at least |v|: a symmetric colour scale's end.
double nice_span(double v) {
  for (double s : {0.02, 0.05, 0.1, 0.2, 0.5}) if (v <= s + 1e-12) return s;
  return 1;
}

// 1, 2 or 5 times a power of ten, at least v (> 0).
double nice_ceil(double v) {
  const double p = std::pow(10.0, std::floor(std::log10(v)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (v <= m * p * (1 + 1e-12)) return m * p;
  return 10 * p;
}

}  // namespace

Plot robustness_heatmap(const RobustnessResult& r) {
  // Columns: conditions of the first appearance of their (family, name), severities ascending within it.
  std::vector<std::pair<std::string, std::string>> groups;
  std::map<std::pair<std::string, std::string>, std::vector<const RobustnessCondition*>> members;
  for (const auto& c : r.conditions) {
    if (c.family == "adversarial") continue;
    const auto key = std::make_pair(c.family, c.name);
    if (!members.count(key)) groups.push_back(key);
    members[key].push_back(&c);
  }
  std::vector<const RobustnessCondition*> order;
  std::vector<double> xs;
  const double left = 150, cw = 40, ch = 22, group_gap = 8;
  double x = left;
  size_t longest = 0;
  for (const auto& g : groups) {
    auto& m = members[g];
    std::stable_sort(m.begin(), m.end(), [](auto* a, auto* b) { return a->severity < b->severity; });
    for (const auto* c : m) {
      order.push_back(c);
      xs.push_back(x);
      x += cw;
      longest = std::max(longest, r.label(*c).size());
    }
    x += group_gap;
  }
  double largest = 0;
  for (const auto* c : order)
    for (const auto& cell : c->per_class)
      if (cell.difference) largest = std::max(largest, std::fabs(*cell.difference));
  const double span = nice_span(largest);
  // Rotated labels need about 0.77 x 6 px per character above the grid.
  const double top = std::max(118.0, 30 + 4.7 * static_cast<double>(longest));
  Plot p;
  json columns = json::array(), rows = json::array(), cells_data = json::array(), columns_data = json::array();
  for (size_t j = 0; j < order.size(); ++j) {
    const double cx = xs[j] + cw / 2;
    columns.push_back({{"label", r.label(*order[j])}, {"x", px(cx)}, {"y", px(top - 8)},
                       {"transform", "rotate(-50 " + px(cx) + " " + px(top - 8) + ")"}});
    const RobustnessCondition& c = *order[j];
    columns_data.push_back({{"label", r.label(c)}, {"family", c.family}, {"name", c.name}, {"severity", c.severity},
                            {"parameter", nullable(c.parameter)}, {"unit", c.unit}, {"split", c.split},
                            {"description", c.description}});
  }
  for (int k = 0; k < data::kNumClasses; ++k) {
    const double y = top + k * ch;
    const std::string name = data::kClassNames[k];
    json row = {{"label", name}, {"label_y", px(y + ch / 2 + 4)}};
    json row_cells = json::array();
    for (size_t j = 0; j < order.size(); ++j) {
      const RobustnessCondition& c = *order[j];
      const RobustnessCell& v = c.per_class[static_cast<size_t>(k)];
      const RobustnessBaseline& b = r.split(c.split).baseline[static_cast<size_t>(k)];
      json cell = {{"x", px(xs[j])}, {"y", px(y)}, {"w", px(cw - 1)}, {"h", px(ch - 1)},
                   {"text_x", px(xs[j] + cw / 2)}, {"text_y", px(y + ch / 2 + 4)}};
      cell["fill"] = v.difference ? diverging(*v.difference / span) : "#e6e6e6";
      cell["text"] = v.difference ? signed_fixed(*v.difference, 2) + (v.significant ? "*" : "") : "-";
      cell["text_fill"] = v.difference && std::fabs(*v.difference) > 0.7 * span ? "#ffffff" : "#000000";
      cell["flagged"] = v.significant;
      cell["attrs"] = {{"class", name}, {"condition", r.label(c)},
                       {"difference", v.difference ? general(*v.difference) : std::string("null")},
                       {"significant", v.significant ? "true" : "false"}};
      cell["tooltip"] = r.label(c) + (c.parameter ? " (" + c.parameter_text() + ")" : std::string()) + ", " + name +
                        ": AUROC " + fixed_or(v.auroc) + " against " + fixed_or(b.auroc) + " unshifted" +
                        (v.difference ? "; difference " + signed_fixed(*v.difference) : std::string()) +
                        (v.q_value ? ", q " + p_value(*v.q_value) : std::string()) + "; " + c.description;
      row_cells.push_back(cell);
      cells_data.push_back({{"class", name}, {"condition", r.label(c)}, {"baseline", nullable(b.auroc)},
                            {"auroc", nullable(v.auroc)}, {"difference", nullable(v.difference)},
                            {"q_value", nullable(v.q_value)}, {"significant", v.significant}});
    }
    row["cells"] = row_cells;
    rows.push_back(row);
  }
  const double bottom = top + data::kNumClasses * ch;
  json legend = json::array();
  for (int k = -4; k <= 4; ++k)
    legend.push_back({{"x", px(left + (k + 4) * 24)}, {"fill", diverging(k / 4.0)},
                      {"label", k % 2 == 0 ? signed_fixed(span * k / 4.0, span < 0.1 ? 3 : 2) : ""},
                      {"label_x", px(left + (k + 4) * 24 + 11)}});
  p.view = {{"width", px(std::max(x + 4.0 * static_cast<double>(longest) + 20, 1000.0))}, {"height", px(bottom + 70)},
            {"columns", columns}, {"rows", rows}, {"legend", legend}, {"legend_y", px(bottom + 14)},
            {"legend_text_y", px(bottom + 44)}, {"legend_caption_y", px(bottom + 60)},
            {"legend_caption", "AUROC change (shifted minus unshifted, same images); red: worse under the shift; * and "
                               "outline: q < " + general(r.alpha) + " (paired DeLong, Benjamini-Hochberg); grey: undefined"},
            {"title", "AUROC change per class under simulated shifts on " + r.main_split + " (columns: condition and severity)"}};
  p.data = {{"alpha", r.alpha}, {"colour_span", span}, {"columns", columns_data}, {"cells", cells_data}};
  return p;
}

Plot adversarial_plot(const RobustnessResult& r) {
  struct Series {
    std::string name, colour;
    std::vector<std::pair<double, double>> points;  // (epsilon, macro AUROC)
  };
  std::vector<Series> series;
  for (const auto& [attack, shown, colour] :
       {std::tuple{"fgsm", "FGSM", "#e08a1e"}, std::tuple{"pgd", "PGD", "#1f3b57"}})
    for (const auto& s : r.splits) {
      Series line{std::string(shown) + (s.name != r.main_split ? " (" + s.name + ")" : ""), colour, {}};
      std::vector<std::pair<double, double>> pts;
      for (const auto& c : r.conditions)
        if (c.family == "adversarial" && c.name == attack && c.split == s.name && c.macro_auroc)
          pts.push_back({*c.parameter, *c.macro_auroc});
      if (pts.empty()) continue;
      if (const auto base = s.macro_auroc()) line.points.push_back({0.0, *base});
      std::stable_sort(pts.begin(), pts.end());
      line.points.insert(line.points.end(), pts.begin(), pts.end());
      series.push_back(line);
    }
  Plot p;
  if (series.empty()) {
    p.view = {{"series", json::array()}};
    p.data = {{"series", json::array()}};
    return p;
  }
  double max_eps = 0, min_auc = 1;
  for (const auto& s : series)
    for (const auto& [e, a] : s.points) max_eps = std::max(max_eps, e), min_auc = std::min(min_auc, a);
  const double x_max = max_eps > 0 ? nice_ceil(max_eps) : 1;
  const double y_min = std::min(0.5, std::floor(min_auc * 10 + 1e-9) / 10), y_max = 1;
  const double left = 70, top = 40, w = 460, h = 280;
  auto sx = [&](double e) { return left + e / x_max * w; };
  auto sy = [&](double a) { return top + (y_max - a) / (y_max - y_min) * h; };
  json x_ticks = json::array(), y_ticks = json::array(), lines = json::array(), data = json::array();
  const double x_step = nice_ceil(x_max / 5);
  for (int i = 0; i * x_step <= x_max * (1 + 1e-9); ++i)
    x_ticks.push_back({{"x", px(sx(i * x_step))}, {"label", general(i * x_step)}});
  for (int i = 0; std::lround(y_min * 10) + i <= 10; ++i) {
    const double v = (std::lround(y_min * 10) + i) / 10.0;
    y_ticks.push_back({{"y", px(sy(v))}, {"label_y", px(sy(v) + 4)}, {"label", fixed(v, 1)}});
  }
  for (size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    std::string points;
    json marks = json::array(), values = json::array();
    for (const auto& [e, a] : s.points) {
      points += (points.empty() ? "" : " ") + px(sx(e)) + "," + px(sy(a));
      marks.push_back({{"cx", px(sx(e))}, {"cy", px(sy(a))}, {"epsilon", general(e)}, {"auroc", general(a)},
                       {"tooltip", s.name + ", epsilon " + general(e) + ": macro AUROC " + fixed(a)}});
      values.push_back({{"epsilon", e}, {"macro_auroc", a}});
    }
    const double ly = top + 16 + 18 * static_cast<double>(i);
    lines.push_back({{"name", s.name}, {"colour", s.colour}, {"points", points}, {"marks", marks},
                     {"legend_x1", px(left + w - 230)}, {"legend_x2", px(left + w - 206)}, {"legend_y", px(ly)},
                     {"legend_text_x", px(left + w - 200)}, {"legend_text_y", px(ly + 4)}});
    data.push_back({{"attack", s.name}, {"points", values}});
  }
  json refs = json::array();
  if (y_min < 0.5) refs.push_back({{"y", px(sy(0.5))}, {"x1", px(left)}, {"x2", px(left + w)}, {"label", "chance"},
                                   {"label_x", px(left + 4)}, {"label_y", px(sy(0.5) - 4)}});
  const std::string unit = r.adversarial ? r.adversarial->epsilon_unit : std::string("grey levels");
  p.view = {{"id", "robustness-adversarial-plot"}, {"width", px(left + w + 30)}, {"height", px(top + h + 60)},
            {"frame_x", px(left)}, {"frame_y", px(top)}, {"frame_w", px(w)}, {"frame_h", px(h)},
            {"axis_y", px(top + h)}, {"tick_y", px(top + h + 16)}, {"tick_label_x", px(left - 6)},
            {"x_ticks", x_ticks}, {"y_ticks", y_ticks}, {"series", lines}, {"refs", refs},
            {"x_label", "epsilon (" + unit + ")"}, {"x_label_x", px(left + w / 2)}, {"x_label_y", px(top + h + 38)},
            {"y_label", "macro AUROC"}, {"y_label_x", px(left - 44)}, {"y_label_y", px(top + h / 2)},
            {"title", "Macro AUROC under FGSM and PGD against epsilon (epsilon 0: the unperturbed images)"}};
  p.data = {{"epsilon_unit", unit}, {"series", data}};
  return p;
}

}  // namespace cxr::report
