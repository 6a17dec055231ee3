// The α–β scaling model (see scaling_model.h). The preset numbers are assumptions taken from vendor
// specifications and published NCCL measurements; docs/scaling.md lists the sources.
#include "launch/scaling_model.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace cxr::launch {

double ring_allreduce_seconds(double bytes, int ranks, const Link& link) {
  if (ranks < 1) throw std::invalid_argument("ring all-reduce: ranks must be >= 1");
  if (ranks == 1 || bytes <= 0) return 0.0;
  if (link.bytes_per_s <= 0) throw std::invalid_argument("ring all-reduce: bandwidth must be > 0");
  const double p = ranks;
  // Reduce-scatter then all-gather: 2(p−1) steps, each moving n/p bytes to the next rank.
  return 2.0 * (p - 1.0) * link.alpha_s + 2.0 * ((p - 1.0) / p) * bytes / link.bytes_per_s;
}

double allreduce_seconds(double bytes, int ranks, const Network& net) {
  const int g = net.gpus_per_node;
  if (g <= 0) return ring_allreduce_seconds(bytes, ranks, net.inter);
  if (ranks <= g) return ring_allreduce_seconds(bytes, ranks, net.intra);
  const int nodes = (ranks + g - 1) / g;
  // Reduce-scatter + all-gather inside the node (together one intra-node ring all-reduce), and in between
  // each GPU's 1/g share all-reduced over the nodes, g rings side by side (one NIC per GPU).
  return ring_allreduce_seconds(bytes, g, net.intra) + ring_allreduce_seconds(bytes / g, nodes, net.inter);
}

namespace {

constexpr double kGB = 1e9;
constexpr double kUs = 1e-6;

const Link kNvlink4{3 * kUs, 450 * kGB};  // H100 SXM: 900 GB/s bidirectional per GPU
const Link kNvlink3{3 * kUs, 300 * kGB};  // A100 SXM: 600 GB/s bidirectional per GPU
const Link kIbHdr{5 * kUs, 25 * kGB};     // HDR 200 Gb/s per port, one port per GPU
const Link kIbNdr{5 * kUs, 50 * kGB};     // NDR 400 Gb/s per port, one port per GPU

}  // namespace

std::vector<std::string> network_preset_names() {
  return {"nvlink", "nvlink-a100", "ib-hdr", "ib-ndr", "nvlink+ib-hdr", "nvlink+ib-ndr"};
}

Network network_preset(const std::string& name) {
  Network n;
  n.name = name;
  if (name == "nvlink") {
    n.inter = kNvlink4;
    n.description = "flat ring on NVLink 4 (H100 SXM, 450 GB/s per direction, alpha 3 us); past 8 GPUs this assumes "
                    "one NVLink domain (NVLink Switch System), an upper bound";
  } else if (name == "nvlink-a100") {
    n.inter = kNvlink3;
    n.description = "flat ring on NVLink 3 (A100 SXM, 300 GB/s per direction, alpha 3 us); past 8 GPUs an upper bound";
  } else if (name == "ib-hdr") {
    n.inter = kIbHdr;
    n.description = "flat ring, every hop InfiniBand HDR (200 Gb/s = 25 GB/s per GPU, one port per GPU, alpha 5 us)";
  } else if (name == "ib-ndr") {
    n.inter = kIbNdr;
    n.description = "flat ring, every hop InfiniBand NDR (400 Gb/s = 50 GB/s per GPU, one port per GPU, alpha 5 us)";
  } else if (name == "nvlink+ib-hdr") {
    n.intra = kNvlink3;
    n.inter = kIbHdr;
    n.gpus_per_node = 8;
    n.description = "hierarchical, 8 GPUs per node: NVLink 3 inside (300 GB/s), InfiniBand HDR across (25 GB/s per GPU)";
  } else if (name == "nvlink+ib-ndr") {
    n.intra = kNvlink4;
    n.inter = kIbNdr;
    n.gpus_per_node = 8;
    n.description = "hierarchical, 8 GPUs per node: NVLink 4 inside (450 GB/s), InfiniBand NDR across (50 GB/s per GPU)";
  } else {
    std::string names;
    for (const auto& s : network_preset_names()) names += (names.empty() ? "" : ", ") + s;
    throw std::invalid_argument("unknown network '" + name + "'; known: " + names);
  }
  return n;
}

Network custom_network(const std::string& name, const std::string& description, const Link& link) {
  Network n;
  n.name = name;
  n.description = description;
  n.inter = link;
  return n;
}

Overlap simulate_overlap(const StepProfile& profile, int ranks, const Network& network) {
  if (profile.compute_s <= 0) throw std::invalid_argument("scaling model: compute time must be > 0");
  if (profile.backward_s < 0 || profile.backward_s > profile.compute_s)
    throw std::invalid_argument("scaling model: backward time must lie in [0, compute time]");
  Overlap o;
  double total = 0;
  for (double b : profile.bucket_bytes) {
    if (b < 0) throw std::invalid_argument("scaling model: negative bucket size");
    total += b;
  }
  double cumulative = 0, channel_free = 0;
  for (double b : profile.bucket_bytes) {
    cumulative += b;
    const double ready = total > 0 ? profile.backward_s * cumulative / total : profile.backward_s;
    const double start = std::max(ready, channel_free);
    const double end = start + allreduce_seconds(b, ranks, network);
    o.ready_s.push_back(ready);
    o.start_s.push_back(start);
    o.end_s.push_back(end);
    o.comm_busy_s += end - start;
    channel_free = end;
  }
  if (!o.end_s.empty()) {
    o.in_flight_s = o.end_s.back() - o.start_s.front();
    o.exposed_s = std::max(0.0, o.end_s.back() - profile.backward_s);
  }
  o.step_s = profile.compute_s + o.exposed_s;
  o.efficiency = profile.compute_s / o.step_s;
  return o;
}

StepProfile strong_scaling_profile(const StepProfile& one_rank, int ranks) {
  if (ranks < 1) throw std::invalid_argument("scaling model: ranks must be >= 1");
  StepProfile s = one_rank;
  s.compute_s /= ranks;
  s.backward_s /= ranks;
  return s;
}

std::vector<Prediction> predict(const StepProfile& profile, const std::vector<int>& ranks, const Network& network) {
  std::vector<Prediction> out;
  for (int p : ranks) out.push_back({p, simulate_overlap(profile, p, network)});
  return out;
}

std::optional<int> first_exposed(const std::vector<Prediction>& predictions, double fraction) {
  for (const auto& p : predictions) {
    const double compute = p.overlap.step_s - p.overlap.exposed_s;
    if (p.overlap.exposed_s > fraction * compute) return p.ranks;
  }
  return std::nullopt;
}

std::vector<int> powers_of_two(int from, int max_ranks) {
  std::vector<int> out;
  for (int p = std::max(1, from); p <= max_ranks; p *= 2) out.push_back(p);
  return out;
}

Link fit_ring_link(const std::vector<Timing>& timings, int ranks) {
  if (ranks < 2) throw std::invalid_argument("fitting a ring needs timings at 2 or more ranks");
  const double p = ranks;
  // t = a·x + b·y with x = 2(p−1) (so a = α) and y = 2((p−1)/p)·n (so b = β), weighted by 1/t² (relative
  // errors: the sizes span decades, and unweighted the largest message alone would set α).
  double sxx = 0, sxy = 0, syy = 0, sxt = 0, syt = 0;
  for (const auto& t : timings) {
    if (!(t.seconds > 0)) throw std::invalid_argument("fitting a ring needs positive timings");
    const double x = 2 * (p - 1), y = 2 * ((p - 1) / p) * t.bytes, w = 1 / (t.seconds * t.seconds);
    sxx += w * x * x;
    sxy += w * x * y;
    syy += w * y * y;
    sxt += w * x * t.seconds;
    syt += w * y * t.seconds;
  }
  const double det = sxx * syy - sxy * sxy;
  if (timings.size() < 2 || !(det > 1e-12 * sxx * syy))
    throw std::invalid_argument("fitting a ring needs timings at two or more distinct message sizes");
  double alpha = (sxt * syy - sxy * syt) / det;
  double beta = (sxx * syt - sxy * sxt) / det;
  if (alpha < 0) {  // latency below resolution: fit β alone through the origin
    alpha = 0;
    beta = syt / syy;
  }
  if (!(beta > 0)) throw std::invalid_argument("fitted bandwidth is not positive: timings do not grow with size");
  return Link{alpha, 1.0 / beta};
}

Link fit_latency_to_exposed(const StepProfile& profile, int ranks, double bytes_per_s, double exposed_s) {
  if (ranks < 2) throw std::invalid_argument("fitting a latency needs 2 or more ranks");
  auto exposed = [&](double alpha) {
    return simulate_overlap(profile, ranks, custom_network("fit", "", Link{alpha, bytes_per_s})).exposed_s;
  };
  if (exposed(0) >= exposed_s) return Link{0, bytes_per_s};
  double lo = 0, hi = 1e-6;
  while (exposed(hi) < exposed_s) {
    lo = hi;
    hi *= 2;
    if (hi > 1e6) throw std::invalid_argument("no latency reproduces that exposed time");
  }
  for (int i = 0; i < 200 && hi - lo > 1e-15 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    (exposed(mid) < exposed_s ? lo : hi) = mid;
  }
  return Link{0.5 * (lo + hi), bytes_per_s};
}

}  // namespace cxr::launch
