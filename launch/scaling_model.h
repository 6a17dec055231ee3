// An α–β model of data-parallel scaling past one machine (`cxrtrain scaling`): ring all-reduce time per
// gradient bucket, buckets launched as backward makes them ready and reduced one after another, and the
// communication left over after backward ("exposed") that lowers efficiency. Pure functions, no torch.
// Units: seconds and bytes throughout; bandwidths in bytes per second.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace cxr::launch {

// One kind of link: a message of n bytes costs α + n·β per ring step.
struct Link {
  double alpha_s = 0;          // latency per ring step, seconds
  double bytes_per_s = 0;      // bandwidth per rank and direction (β = 1 / bytes_per_s)
};

// A network for the all-reduce. gpus_per_node = 0: one flat ring over all ranks on `inter`.
// gpus_per_node = g > 0: hierarchical (reduce-scatter inside the node on `intra`, a ring over the
// ceil(p/g) nodes on `inter` carrying 1/g of the bytes per GPU (one NIC per GPU, g rings in parallel),
// all-gather inside the node); p <= g uses `intra` alone.
struct Network {
  std::string name;
  std::string description;     // what the numbers are and where they come from (assumptions)
  Link intra;
  Link inter;
  int gpus_per_node = 0;
};

// Ring all-reduce of `bytes` over `ranks` ranks: T = 2(p−1)α + 2((p−1)/p)·n·β; 0 for p = 1.
double ring_allreduce_seconds(double bytes, int ranks, const Link& link);
// The all-reduce on `network` (flat ring or hierarchical, see Network).
double allreduce_seconds(double bytes, int ranks, const Network& network);

// The presets: nvlink, nvlink-a100, ib-hdr, ib-ndr, nvlink+ib-hdr, nvlink+ib-ndr. Throws
// std::invalid_argument naming them for an unknown name.
Network network_preset(const std::string& name);
std::vector<std::string> network_preset_names();
// A flat network from measured/fitted numbers (e.g. MPI over shared memory on this machine).
Network custom_network(const std::string& name, const std::string& description, const Link& link);

// What one rank does per step, measured at 1 rank (or documented): compute_s is the whole step without
// exposed communication; backward_s its backward part; bucket_bytes in launch order (bucket 0 holds the
// last layers, whose gradients are ready first).
struct StepProfile {
  double compute_s = 0;
  double backward_s = 0;
  std::vector<double> bucket_bytes;
};

// One step's communication timeline, times from the start of backward. Bucket k is ready at
// backward_s × (bytes of buckets 0..k) / (all bytes), starts when it is ready and the one before it has
// finished (one channel, same order on every rank), and takes allreduce_seconds(bytes_k).
struct Overlap {
  std::vector<double> ready_s, start_s, end_s;
  double comm_busy_s = 0;      // sum of the buckets' all-reduce times
  double in_flight_s = 0;      // end of the last bucket minus start of the first
  double exposed_s = 0;        // max(0, end of the last bucket − backward_s)
  double step_s = 0;           // compute_s + exposed_s
  double efficiency = 1;       // compute_s / step_s
};
Overlap simulate_overlap(const StepProfile& profile, int ranks, const Network& network);

// The same step with the per-rank compute divided by `ranks` (strong scaling: fixed global batch; the
// bucket sizes do not change).
StepProfile strong_scaling_profile(const StepProfile& one_rank, int ranks);

struct Prediction {
  int ranks = 0;
  Overlap overlap;
};
std::vector<Prediction> predict(const StepProfile& profile, const std::vector<int>& ranks, const Network& network);

// The first rank count (in the order given) whose exposed communication exceeds `fraction` of the
// compute step: where communication stops hiding under backward. None if it never does.
std::optional<int> first_exposed(const std::vector<Prediction>& predictions, double fraction);

// 2, 4, ..., up to and including max_ranks (powers of two from `from`).
std::vector<int> powers_of_two(int from, int max_ranks);

// Least-squares fit (relative errors: weights 1/t²) of a flat ring's α and bandwidth to all-reduce timings at one rank count p
// (t_i = 2(p−1)α + 2((p−1)/p)·n_i·β). Needs p >= 2 and two distinct sizes; α is clamped at >= 0 (then
// β alone is refitted). Throws std::invalid_argument otherwise.
struct Timing {
  double bytes = 0;
  double seconds = 0;
};
Link fit_ring_link(const std::vector<Timing>& timings, int ranks);

// The latency α that makes the model's exposed communication at `ranks` equal `exposed_s`, bandwidth
// kept (bisection; exposed grows with α). α = 0 when the bandwidth alone already exposes that much. Used
// to calibrate an "effective" link on one measured run and test it on another.
Link fit_latency_to_exposed(const StepProfile& profile, int ranks, double bytes_per_s, double exposed_s);

}  // namespace cxr::launch
