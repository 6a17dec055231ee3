// `cxrtrain study`: one job from a config to a report. synth (only when data.pack does not exist yet) ->
// train -> evaluate -> gradcam -> robustness (probe-shift) -> report, in one run directory, resumable: each
// finished stage is recorded in RUN/study.json and not redone (training itself resumes from last.pt). With seeds K > 1 the world is split
// into groups (MPI_Comm_split), each training and evaluating its own seeds on the same data, one run
// directory per seed (RUN/seeds/seed_<S>/); rank 0 then writes RUN/seeds/summary.json (eval/seed_variance.h)
// and the report of the first seed with the seed-to-seed section, in RUN/report/.
#pragma once

#include <string>
#include <vector>

#include "comm/communicator.h"
#include "core/config.h"

namespace cxr::launch {

// The stages, in the order they run.
inline const std::vector<std::string>& study_stage_names() {
  static const std::vector<std::string> names = {"synth", "train", "evaluate", "gradcam", "robustness", "report"};
  return names;
}

// "synth,train,evaluate" -> the stages named, checked against study_stage_names() (UserError naming the
// nearest stage); the order given does not matter, they always run in stage order.
std::vector<std::string> parse_stages(const std::string& list, const std::string& origin);

// Which seeds this rank trains. Ranks are split into `groups` groups of consecutive world ranks (so a group
// stays on as few nodes as possible); group g trains seed indices g, g + groups, g + 2 groups, ... < seeds,
// one after another. groups 0 = min(seeds, world size). UserError unless groups divides the world size and
// 1 <= groups <= min(seeds, world size).
struct SeedPlan {
  int groups = 1, group_size = 1;
  int group = 0;                 // this rank's group
  int group_rank = 0;            // this rank within it
  std::vector<int> seed_indices;  // this group's seeds, 0 .. seeds-1
};
SeedPlan plan_seed_groups(int seeds, int world_size, int world_rank, int groups);

// The run directory of seed index i of a K-seed study (K > 1): RUN/seeds/seed_<config seed + i>.
std::string seed_run_dir(const Config& config, int seed_index);

struct StudyOptions {
  int seeds = 0;                   // 0 = study.seeds
  int groups = 0;                  // seed groups; 0 = min(seeds, world size)
  std::vector<std::string> redo;   // stages to run again even if finished (and every later stage)
  int local_rank = 0;              // GPU index on this node (launch/environment.h)
  int threads = 0;                 // torch threads per rank for training (0 = cores / ranks on the node)
  bool progress = true;
  std::string command_line;        // recorded in study.json
};

struct StudyResult {
  std::string report;              // index.html ("" when the report stage did not run)
  std::string seeds_summary;       // RUN/seeds/summary.json (K > 1)
  std::vector<std::string> lines;  // what each stage did, for the closing printout (rank 0)
};

// Collective over `world`; every rank passes the same config and options. Rank 0 returns the result.
StudyResult run_study(const Config& config, comm::Communicator& world, const StudyOptions& options);

}  // namespace cxr::launch
