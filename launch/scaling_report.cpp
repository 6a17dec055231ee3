// The scaling study's JSON, Markdown and SVG (see scaling_report.h). The plot is a small hand-written
// SVG (two panels, log2 rank axis) so it stays readable as text and needs no plotting library.
#include "launch/scaling_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace cxr::launch {

namespace {

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

double num(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_number())
    throw std::runtime_error(std::string("scaling: bench JSON lacks the number '") + key + "'");
  return j[key].get<double>();
}

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

ordered_json link_json(const Link& l) {
  return {{"alpha_us", l.alpha_s * 1e6}, {"gb_per_s", l.bytes_per_s / 1e9}};
}

ordered_json overlap_json(int ranks, const Overlap& o) {
  return {{"ranks", ranks},
          {"exposed_ms", 1e3 * o.exposed_s},
          {"in_flight_ms", 1e3 * o.in_flight_s},
          {"comm_busy_ms", 1e3 * o.comm_busy_s},
          {"step_ms", 1e3 * o.step_s},
          {"efficiency", o.efficiency}};
}

}  // namespace

ordered_json run_record(const nlohmann::json& b, const std::string& mode, double one_rank_ips) {
  ordered_json r;
  const int ranks = b.at("world_size").get<int>();
  const double ips = num(b, "images_per_second");
  r["mode"] = mode;
  r["ranks"] = ranks;
  r["global_batch"] = b.at("global_batch").get<int>();
  r["batch_per_rank"] = b.at("batch_per_rank").get<int>();
  r["images_per_second"] = ips;
  r["per_rank_images_per_second"] = ips / ranks;
  r["efficiency"] = one_rank_ips > 0 ? ips / (ranks * one_rank_ips) : 1.0;
  for (const char* k : {"step_ms", "data_wait_ms", "forward_ms", "backward_ms", "exposed_comm_ms", "optimizer_ms",
                        "other_ms", "comm_in_flight_ms", "cpu_ms", "comm_mib_per_step"})
    r[k] = num(b, k);
  r["threads"] = b.value("threads", 0);
  r["device"] = b.value("device", "");
  r["backend"] = b.value("backend", "");
  r["buckets"] = ordered_json::array();
  if (b.contains("buckets"))
    for (const auto& k : b["buckets"]) r["buckets"].push_back(k.at("bytes").get<double>());
  r["allreduce_probe"] = ordered_json::array();
  if (b.contains("allreduce_probe"))
    for (const auto& p : b["allreduce_probe"].at("points"))
      r["allreduce_probe"].push_back({{"bytes", p.at("bytes").get<double>()}, {"seconds", p.at("seconds").get<double>()}});
  return r;
}

StepProfile profile_from_run(const nlohmann::json& run) {
  StepProfile p;
  p.compute_s = 1e-3 * (run.at("step_ms").get<double>() - run.at("exposed_comm_ms").get<double>());
  p.backward_s = 1e-3 * run.at("backward_ms").get<double>();
  for (const auto& b : run.at("buckets")) p.bucket_bytes.push_back(b.get<double>());
  if (p.bucket_bytes.empty())
    throw std::runtime_error("scaling: the 1-rank run records no gradient buckets (a bench JSON from an older cxrtrain?)");
  return p;
}

ordered_json model_section(const StepProfile& profile, const ModelOptions& o, const ordered_json& runs) {
  ordered_json m;
  double total = 0;
  ordered_json buckets = ordered_json::array();
  for (double b : profile.bucket_bytes) {
    total += b;
    buckets.push_back(b);
  }
  m["formula"] = "ring all-reduce per bucket: T = 2(p-1) alpha + 2((p-1)/p) n beta; bucket k ready at backward x "
                 "cumulative bytes / all bytes, buckets reduced one after another; exposed = end of last bucket - end "
                 "of backward; efficiency = compute / (compute + exposed)";
  m["profile"] = {{"source", o.profile_source},
                  {"compute_ms", 1e3 * profile.compute_s},
                  {"backward_ms", 1e3 * profile.backward_s},
                  {"gradient_bytes", total},
                  {"bucket_bytes", buckets}};
  m["exposed_fraction"] = o.exposed_fraction;

  // This machine: α, β fitted to the blocking all-reduce timings of the largest multi-rank run, then the
  // step of every multi-rank run predicted from the 1-rank profile and compared with what was measured.
  const ordered_json* probe_run = nullptr;
  for (const auto& r : runs)
    if (r["ranks"].get<int>() > 1 && r["allreduce_probe"].size() >= 2 &&
        (!probe_run || r["ranks"].get<int>() > (*probe_run)["ranks"].get<int>()))
      probe_run = &r;
  std::vector<Network> networks;
  if (probe_run) {
    std::vector<Timing> t;
    for (const auto& p : (*probe_run)["allreduce_probe"]) t.push_back({p["bytes"].get<double>(), p["seconds"].get<double>()});
    const int fit_ranks = (*probe_run)["ranks"].get<int>();
    const Link link = fit_ring_link(t, fit_ranks);
    const Network here = custom_network(
        "this-machine", "flat ring with alpha, beta fitted to blocking all-reduce timings at " +
                            std::to_string(fit_ranks) + " ranks on this machine (cxrtrain bench's allreduce_probe)",
        link);
    // The effective link: the probe's bandwidth, with the latency that reproduces the exposed comm measured
    // in the calibration run (the largest multi-rank run, weak preferred); the other runs test it.
    const ordered_json* cal = nullptr;
    for (const auto& r : runs) {
      const int p = r["ranks"].get<int>();
      if (p < 2) continue;
      const bool better = !cal || p > (*cal)["ranks"].get<int>() ||
                          (p == (*cal)["ranks"].get<int>() && r["mode"] == "weak" && (*cal)["mode"] != "weak");
      if (better) cal = &r;
    }
    auto run_profile = [&](const ordered_json& r) {
      return r["mode"] == "strong" ? strong_scaling_profile(profile, r["ranks"].get<int>()) : profile;
    };
    const Link effective = fit_latency_to_exposed(run_profile(*cal), (*cal)["ranks"].get<int>(), link.bytes_per_s,
                                                  1e-3 * (*cal)["exposed_comm_ms"].get<double>());
    const Network here_effective = custom_network(
        "this-machine-effective", "flat ring with the probe's bandwidth and the latency that reproduces the exposed "
                                  "communication measured in the " + (*cal)["mode"].get<std::string>() + " run at " +
                                  std::to_string((*cal)["ranks"].get<int>()) + " ranks (includes waiting for the other "
                                  "rank and MPI progress under CPU contention)",
        effective);
    ordered_json check = ordered_json::array();
    for (const auto& r : runs) {
      const int p = r["ranks"].get<int>();
      if (p < 2) continue;
      const std::string mode = r["mode"];
      const StepProfile sp = run_profile(r);
      const Overlap ov = simulate_overlap(sp, p, here);
      const Overlap ove = simulate_overlap(sp, p, here_effective);
      const double step = r["step_ms"].get<double>(), exposed = r["exposed_comm_ms"].get<double>();
      check.push_back({{"mode", mode},
                       {"ranks", p},
                       {"predicted_compute_ms", 1e3 * sp.compute_s},
                       {"measured_compute_ms", step - exposed},
                       {"predicted_exposed_ms", 1e3 * ov.exposed_s},
                       {"measured_exposed_ms", exposed},
                       {"predicted_in_flight_ms", 1e3 * ov.in_flight_s},
                       {"measured_in_flight_ms", r["comm_in_flight_ms"].get<double>()},
                       {"predicted_efficiency", ov.efficiency},
                       {"calibration_run", &r == cal},
                       {"effective_predicted_exposed_ms", 1e3 * ove.exposed_s},
                       {"effective_predicted_efficiency", ove.efficiency},
                       {"measured_efficiency", r["efficiency"].get<double>()},
                       // Efficiency lost to exposed communication alone, as measured: compute / step.
                       {"measured_comm_efficiency", step > 0 ? (step - exposed) / step : 1.0}});
    }
    m["this_machine"] = {{"network", here.name},
                         {"description", here.description},
                         {"fit_ranks", fit_ranks},
                         {"link", link_json(link)},
                         {"effective", {{"network", here_effective.name},
                                        {"description", here_effective.description},
                                        {"link", link_json(effective)},
                                        {"calibration_run", {{"mode", (*cal)["mode"]}, {"ranks", (*cal)["ranks"]}}}}},
                         {"check", check}};
    networks.push_back(here);
    networks.push_back(here_effective);
  }
  for (const auto& name : o.networks) networks.push_back(network_preset(name));

  m["networks"] = ordered_json::array();
  for (const auto& n : networks) {
    ordered_json nj;
    nj["name"] = n.name;
    nj["description"] = n.description;
    if (n.gpus_per_node > 0) {
      nj["gpus_per_node"] = n.gpus_per_node;
      nj["intra"] = link_json(n.intra);
    }
    nj["inter"] = link_json(n.inter);
    const std::vector<Prediction> pred = predict(profile, o.ranks, n);
    nj["predictions"] = ordered_json::array();
    for (const auto& p : pred) nj["predictions"].push_back(overlap_json(p.ranks, p.overlap));
    const std::optional<int> stop = first_exposed(pred, o.exposed_fraction);
    nj["stops_hiding_at"] = stop ? ordered_json(*stop) : ordered_json(nullptr);
    m["networks"].push_back(nj);
  }
  return m;
}

namespace {

std::string runs_table(const ordered_json& study) {
  std::string t =
      "| mode | ranks | global batch | img/s | per-rank img/s | efficiency | step ms | data | forward | backward | "
      "exposed comm | optimiser | other | comm in flight |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& r : study["runs"]) {
    t += "| " + r["mode"].get<std::string>() + " | " + std::to_string(r["ranks"].get<int>()) + " | " +
         std::to_string(r["global_batch"].get<int>()) + " | " + fmt("%.2f", r["images_per_second"].get<double>()) +
         " | " + fmt("%.2f", r["per_rank_images_per_second"].get<double>()) + " | " +
         fmt("%.3f", r["efficiency"].get<double>());
    for (const char* k : {"step_ms", "data_wait_ms", "forward_ms", "backward_ms", "exposed_comm_ms", "optimizer_ms",
                          "other_ms", "comm_in_flight_ms"})
      t += " | " + fmt("%.1f", r[k].get<double>());
    t += " |\n";
  }
  return t;
}

std::string check_table(const ordered_json& m) {
  std::string t =
      "| mode | ranks | compute ms (pred / meas) | exposed comm ms (pred / meas) | in flight ms (pred / meas) | "
      "efficiency (pred / meas) | comm-only efficiency meas | effective alpha: exposed ms, efficiency |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& c : m["this_machine"]["check"]) {
    t += "| " + c["mode"].get<std::string>() + " | " + std::to_string(c["ranks"].get<int>()) + " | " +
         fmt("%.1f", c["predicted_compute_ms"].get<double>()) + " / " + fmt("%.1f", c["measured_compute_ms"].get<double>()) +
         " | " + fmt("%.2f", c["predicted_exposed_ms"].get<double>()) + " / " +
         fmt("%.2f", c["measured_exposed_ms"].get<double>()) + " | " + fmt("%.2f", c["predicted_in_flight_ms"].get<double>()) +
         " / " + fmt("%.2f", c["measured_in_flight_ms"].get<double>()) + " | " +
         fmt("%.3f", c["predicted_efficiency"].get<double>()) + " / " + fmt("%.3f", c["measured_efficiency"].get<double>()) +
         " | " + fmt("%.3f", c["measured_comm_efficiency"].get<double>()) + " | " +
         fmt("%.2f", c["effective_predicted_exposed_ms"].get<double>()) + ", " +
         fmt("%.3f", c["effective_predicted_efficiency"].get<double>()) +
         (c["calibration_run"].get<bool>() ? " (calibrated here)" : "") + " |\n";
  }
  return t;
}

std::string predictions_table(const ordered_json& m, int min_ranks) {
  const auto& nets = m["networks"];
  std::string t = "| GPUs |";
  std::string rule = "|---:|";
  for (const auto& n : nets) {
    t += " " + n["name"].get<std::string>() + " |";
    rule += "---:|";
  }
  t += "\n" + rule + "\n";
  if (nets.empty()) return t;
  const auto& first = nets[0]["predictions"];
  for (size_t i = 0; i < first.size(); ++i) {
    const int p = first[i]["ranks"].get<int>();
    if (p < min_ranks) continue;
    t += "| " + std::to_string(p) + " |";
    for (const auto& n : nets) {
      const auto& e = n["predictions"][i];
      t += " " + fmt("%.3f", e["efficiency"].get<double>()) + " (" + fmt("%.1f", e["exposed_ms"].get<double>()) + " ms) |";
    }
    t += "\n";
  }
  return t;
}

std::string stops_lines(const ordered_json& m, const std::string& bullet) {
  std::string t;
  const double f = m["exposed_fraction"].get<double>();
  for (const auto& n : m["networks"]) {
    const auto& s = n["stops_hiding_at"];
    t += bullet + n["name"].get<std::string>() + ": " +
         (s.is_null() ? "communication stays hidden under backward (exposed <= " + fmt("%.0f", 100 * f) +
                            " % of compute) up to " + std::to_string(n["predictions"].back()["ranks"].get<int>()) + " ranks"
                      : "communication stops hiding at " + std::to_string(s.get<int>()) + " ranks (exposed > " +
                            fmt("%.0f", 100 * f) + " % of compute)") +
         "\n";
  }
  return t;
}

}  // namespace

std::string render_markdown(const ordered_json& s) {
  std::string md = "# Scaling study\n\n";
  md += "Command: `" + s.value("command_line", std::string()) + "`\n\n";
  if (s.contains("model_command_line")) md += "Model: `" + s["model_command_line"].get<std::string>() + "`\n\n";
  if (!s["runs"].empty()) {
    md += "## Measured (" + s.value("host", std::string("this machine")) + ")\n\n";
    md += "Efficiency = img/s / (ranks x img/s at 1 rank). Times are ms per step (mean of ranks); the job's rate is "
          "the slowest rank's.\n\n";
    md += runs_table(s) + "\n";
  }
  const auto& m = s["model"];
  const auto& pr = m["profile"];
  md += "## Model\n\n" + m["formula"].get<std::string>() + ".\n\n";
  md += "Profile (" + pr["source"].get<std::string>() + "): compute " + fmt("%.1f", pr["compute_ms"].get<double>()) +
        " ms/step, backward " + fmt("%.1f", pr["backward_ms"].get<double>()) + " ms, " +
        std::to_string(pr["bucket_bytes"].size()) + " buckets, " + fmt("%.2f", pr["gradient_bytes"].get<double>() / 1e6) +
        " MB of gradients.\n\n";
  if (m.contains("this_machine")) {
    const auto& h = m["this_machine"];
    md += "### Model vs measurement on this machine\n\n" + h["description"].get<std::string>() + ": alpha " +
          fmt("%.2f", h["link"]["alpha_us"].get<double>()) + " us, bandwidth " +
          fmt("%.3f", h["link"]["gb_per_s"].get<double>()) + " GB/s. " + h["effective"]["description"].get<std::string>() +
          ": alpha " + fmt("%.1f", h["effective"]["link"]["alpha_us"].get<double>()) + " us.\n\n" + check_table(m) + "\n";
  }
  md += "### Predicted efficiency (exposed communication per step)\n\n" + predictions_table(m, 8) + "\n";
  md += stops_lines(m, "- ");
  md += "\nNetworks:\n\n";
  for (const auto& n : m["networks"]) md += "- " + n["name"].get<std::string>() + ": " + n["description"].get<std::string>() + "\n";
  return md;
}

std::string render_console(const ordered_json& s) {
  std::string out;
  if (!s["runs"].empty()) {
    char line[256];
    std::snprintf(line, sizeof line, "%-7s %5s %7s %10s %10s %7s %9s %9s %9s %9s\n", "mode", "ranks", "batch", "img/s",
                  "img/s/rank", "eff", "step ms", "bwd ms", "exp comm", "in flight");
    out += line;
    for (const auto& r : s["runs"]) {
      std::snprintf(line, sizeof line, "%-7s %5d %7d %10.2f %10.2f %7.3f %9.1f %9.1f %9.2f %9.2f\n",
                    r["mode"].get<std::string>().c_str(), r["ranks"].get<int>(), r["global_batch"].get<int>(),
                    r["images_per_second"].get<double>(), r["per_rank_images_per_second"].get<double>(),
                    r["efficiency"].get<double>(), r["step_ms"].get<double>(), r["backward_ms"].get<double>(),
                    r["exposed_comm_ms"].get<double>(), r["comm_in_flight_ms"].get<double>());
      out += line;
    }
  }
  const auto& m = s["model"];
  if (m.contains("this_machine")) {
    const auto& h = m["this_machine"];
    out += "model of this machine: alpha " + fmt("%.2f", h["link"]["alpha_us"].get<double>()) + " us, " +
           fmt("%.3f", h["link"]["gb_per_s"].get<double>()) + " GB/s (fitted at " +
           std::to_string(h["fit_ranks"].get<int>()) + " ranks); predicted / measured:\n";
    for (const auto& c : h["check"])
      out += "  " + c["mode"].get<std::string>() + " x" + std::to_string(c["ranks"].get<int>()) + ": exposed comm " +
             fmt("%.2f", c["predicted_exposed_ms"].get<double>()) + " / " + fmt("%.2f", c["measured_exposed_ms"].get<double>()) +
             " ms, in flight " + fmt("%.2f", c["predicted_in_flight_ms"].get<double>()) + " / " +
             fmt("%.2f", c["measured_in_flight_ms"].get<double>()) + " ms, efficiency " +
             fmt("%.3f", c["predicted_efficiency"].get<double>()) + " / " + fmt("%.3f", c["measured_efficiency"].get<double>()) +
             "; with the effective alpha " + fmt("%.1f", h["effective"]["link"]["alpha_us"].get<double>()) + " us: exposed " +
             fmt("%.2f", c["effective_predicted_exposed_ms"].get<double>()) + " ms" +
             (c["calibration_run"].get<bool>() ? " (calibrated on this run)" : "") + "\n";
  }
  const auto& pr = m["profile"];
  out += "model profile (" + pr["source"].get<std::string>() + "): compute " + fmt("%.1f", pr["compute_ms"].get<double>()) +
         " ms/step, backward " + fmt("%.1f", pr["backward_ms"].get<double>()) + " ms, " +
         fmt("%.2f", pr["gradient_bytes"].get<double>() / 1e6) + " MB of gradients in " +
         std::to_string(pr["bucket_bytes"].size()) + " buckets\npredicted efficiency (exposed comm per step):\n";
  out += predictions_table(m, 8);
  out += stops_lines(m, "  ");
  return out;
}

// ---- SVG ----------------------------------------------------------------------------------------------

namespace {

struct Series {
  std::string name, color;
  std::vector<std::pair<double, double>> points;
  bool line = true, markers = false, dashed = false;
};

Series series(const std::string& name, const std::string& color) {
  Series s;
  s.name = name;
  s.color = color;
  return s;
}

struct Panel {
  std::string title, ylabel;
  double xmax = 2, ymax = 1;  // x from 1 (log2), y from 0
  std::vector<Series> series;
  std::optional<double> hline;
  std::string hline_label;
};

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};

// A "nice" upper bound for a linear axis and its tick step.
std::pair<double, double> nice_axis(double max) {
  if (!(max > 0)) max = 1;
  const double raw = max / 5, mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  return {step * std::ceil(max / step), step};
}

std::string panel_svg(const Panel& p, double x0, double y0, double w, double h) {
  std::string s;
  const double left = x0 + 60, right = x0 + w - 10, top = y0 + 30, bottom = y0 + h - 45;
  const double lx = std::log2(std::max(2.0, p.xmax));
  auto X = [&](double v) { return left + (right - left) * std::log2(std::max(1.0, v)) / lx; };
  auto Y = [&](double v) { return bottom - (bottom - top) * v / p.ymax; };
  s += "<text x=\"" + fmt("%.1f", (left + right) / 2) + "\" y=\"" + fmt("%.1f", y0 + 18) +
       "\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">" + xml_escape(p.title) + "</text>\n";
  s += "<rect x=\"" + fmt("%.1f", left) + "\" y=\"" + fmt("%.1f", top) + "\" width=\"" + fmt("%.1f", right - left) +
       "\" height=\"" + fmt("%.1f", bottom - top) + "\" fill=\"none\" stroke=\"#444\"/>\n";
  for (double v = 1; v <= p.xmax + 0.5; v *= 2) {
    s += "<line x1=\"" + fmt("%.1f", X(v)) + "\" y1=\"" + fmt("%.1f", top) + "\" x2=\"" + fmt("%.1f", X(v)) + "\" y2=\"" +
         fmt("%.1f", bottom) + "\" stroke=\"#ddd\"/>\n";
    s += "<text x=\"" + fmt("%.1f", X(v)) + "\" y=\"" + fmt("%.1f", bottom + 15) +
         "\" text-anchor=\"middle\" font-size=\"11\">" + fmt("%.0f", v) + "</text>\n";
  }
  const auto [ymax, ystep] = nice_axis(p.ymax);
  for (double v = 0; v <= ymax + 1e-9; v += ystep) {
    s += "<line x1=\"" + fmt("%.1f", left) + "\" y1=\"" + fmt("%.1f", Y(v)) + "\" x2=\"" + fmt("%.1f", right) + "\" y2=\"" +
         fmt("%.1f", Y(v)) + "\" stroke=\"#eee\"/>\n";
    s += "<text x=\"" + fmt("%.1f", left - 5) + "\" y=\"" + fmt("%.1f", Y(v) + 4) +
         "\" text-anchor=\"end\" font-size=\"11\">" + fmt(ystep < 1 ? "%.2f" : "%.0f", v) + "</text>\n";
  }
  s += "<text x=\"" + fmt("%.1f", (left + right) / 2) + "\" y=\"" + fmt("%.1f", bottom + 32) +
       "\" text-anchor=\"middle\" font-size=\"12\">ranks (GPUs), log2 axis</text>\n";
  s += "<text transform=\"translate(" + fmt("%.1f", x0 + 14) + "," + fmt("%.1f", (top + bottom) / 2) +
       ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">" + xml_escape(p.ylabel) + "</text>\n";
  if (p.hline) {
    s += "<line x1=\"" + fmt("%.1f", left) + "\" y1=\"" + fmt("%.1f", Y(*p.hline)) + "\" x2=\"" + fmt("%.1f", right) +
         "\" y2=\"" + fmt("%.1f", Y(*p.hline)) + "\" stroke=\"#888\" stroke-dasharray=\"2,3\"/>\n";
    s += "<text x=\"" + fmt("%.1f", left + 4) + "\" y=\"" + fmt("%.1f", Y(*p.hline) + 13) + "\" font-size=\"10\" fill=\"#666\">" +
         xml_escape(p.hline_label) + "</text>\n";
  }
  // Legend in the lower right: the curves (throughput rising, efficiency near 1) keep to the upper part.
  double legend_y = bottom - 10;
  for (const auto& ser : p.series)
    if (!ser.points.empty()) legend_y -= 15;
  legend_y += 15;
  for (const auto& ser : p.series) {
    if (ser.points.empty()) continue;
    if (ser.line && ser.points.size() > 1) {
      std::string pts;
      for (const auto& [x, y] : ser.points) pts += fmt("%.1f", X(x)) + "," + fmt("%.1f", Y(std::min(y, p.ymax))) + " ";
      s += "<polyline class=\"series\" data-name=\"" + xml_escape(ser.name) + "\" points=\"" + pts +
           "\" fill=\"none\" stroke=\"" + ser.color + "\" stroke-width=\"2\"" +
           (ser.dashed ? " stroke-dasharray=\"6,4\"" : "") + "/>\n";
    }
    if (ser.markers)
      for (const auto& [x, y] : ser.points)
        s += "<circle cx=\"" + fmt("%.1f", X(x)) + "\" cy=\"" + fmt("%.1f", Y(std::min(y, p.ymax))) + "\" r=\"4\" fill=\"" +
             ser.color + "\"/>\n";
    s += "<line x1=\"" + fmt("%.1f", right - 170) + "\" y1=\"" + fmt("%.1f", legend_y) + "\" x2=\"" + fmt("%.1f", right - 150) +
         "\" y2=\"" + fmt("%.1f", legend_y) + "\" stroke=\"" + ser.color + "\" stroke-width=\"2\"" +
         (ser.dashed ? " stroke-dasharray=\"6,4\"" : "") + "/>\n";
    s += "<text x=\"" + fmt("%.1f", right - 145) + "\" y=\"" + fmt("%.1f", legend_y + 4) + "\" font-size=\"11\">" +
         xml_escape(ser.name) + "</text>\n";
    legend_y += 15;
  }
  return s;
}

}  // namespace

std::string render_svg(const ordered_json& s) {
  std::vector<Panel> panels;
  int max_measured = 1;
  for (const auto& r : s["runs"]) max_measured = std::max(max_measured, r["ranks"].get<int>());
  const auto& m = s["model"];
  if (!s["runs"].empty()) {
    Panel t;
    t.title = "Measured throughput";
    t.ylabel = "images per second";
    t.xmax = std::max(2, max_measured);
    Series weak = series("weak (batch/rank fixed)", kColors[0]);
    Series strong = series("strong (global batch fixed)", kColors[1]), ideal = series("ideal weak", "#999999");
    weak.markers = strong.markers = true;
    ideal.dashed = true;
    double one = 0, ymax = 0;
    for (const auto& r : s["runs"]) {
      const int p = r["ranks"].get<int>();
      const double ips = r["images_per_second"].get<double>();
      const std::string mode = r["mode"];
      if (p == 1) one = ips;
      if (mode != "strong") weak.points.push_back({p, ips});
      if (mode != "weak") strong.points.push_back({p, ips});
      ymax = std::max(ymax, ips);
    }
    for (int p = 1; p <= max_measured; p *= 2) ideal.points.push_back({p, one * p});
    ymax = std::max(ymax, one * max_measured);
    t.ymax = nice_axis(1.1 * ymax).first;
    for (Series* x : {&weak, &strong, &ideal})
      if (x->points.size() > 1) t.series.push_back(*x);
    panels.push_back(t);
  }
  Panel e;
  e.title = "Efficiency: measured and alpha-beta model";
  e.ylabel = "efficiency vs 1 rank";
  e.ymax = 1.1;
  const double f = m["exposed_fraction"].get<double>();
  e.hline = 1 / (1 + f);
  e.hline_label = "exposed comm = " + fmt("%.0f", 100 * f) + " % of compute";
  int xmax = max_measured;
  size_t color = 2;
  for (const auto& n : m["networks"]) {
    // The effective latency is a calibration of this machine's measured wait, not a network: not extrapolated.
    if (n["name"] == "this-machine-effective") continue;
    Series ser = series("model: " + n["name"].get<std::string>(), kColors[color++ % 8]);
    if (n["name"].get<std::string>().rfind("this-machine", 0) == 0) ser.dashed = true;
    for (const auto& p : n["predictions"]) {
      ser.points.push_back({p["ranks"].get<double>(), p["efficiency"].get<double>()});
      xmax = std::max(xmax, p["ranks"].get<int>());
    }
    e.series.push_back(ser);
  }
  if (!s["runs"].empty()) {
    Series weak = series("measured weak", kColors[0]);
    Series strong = series("measured strong", kColors[1]);
    weak.markers = strong.markers = true;
    for (const auto& r : s["runs"]) {
      const std::string mode = r["mode"];
      const int p = r["ranks"].get<int>();
      if (mode != "strong") weak.points.push_back({p, r["efficiency"].get<double>()});
      if (mode != "weak") strong.points.push_back({p, r["efficiency"].get<double>()});
    }
    e.series.push_back(weak);
    e.series.push_back(strong);
  }
  e.xmax = xmax;
  panels.push_back(e);

  const double pw = 560, ph = 400;
  const double width = pw * static_cast<double>(panels.size());
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt("%.0f", width) + "\" height=\"" +
                    fmt("%.0f", ph) + "\" viewBox=\"0 0 " + fmt("%.0f", width) + " " + fmt("%.0f", ph) +
                    "\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  for (size_t i = 0; i < panels.size(); ++i) svg += panel_svg(panels[i], pw * static_cast<double>(i), 0, pw, ph);
  svg += "</svg>\n";
  return svg;
}

}  // namespace cxr::launch
