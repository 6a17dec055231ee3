// `cxrtrain evaluate`: a run's checkpoint scored on a split by every rank (the predictions gathered, rank 0
// computing the statistics and writing DIR/eval/<split>/), or a predictions file from any model scored
// against a pack. Inputs are checked in full before anything is written: a bad file names its line and
// leaves the outputs as they were.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "core/config.h"
#include "eval/evaluation.h"

namespace cxr::comm {
class Communicator;
}

namespace cxr::eval {

struct RunEvaluationOptions {
  std::string run_dir;
  std::string checkpoint = "best";  // best (falls back to last when there is none) | last | a path
  std::string compare;              // another model's predictions file for the paired comparison ("": none)
};

// Collective over `world`. `config` is the run's (core/run_dir.h latest_run_config + overrides). Rank 0 writes
// eval/<split>/{predictions.csv,curves.json,metrics.json} and eval/<threshold split>/predictions.csv and returns the
// metrics; the other ranks return null.
nlohmann::ordered_json evaluate_run(const Config& config, comm::Communicator& world, int local_rank,
                                    const RunEvaluationOptions& options, std::string* out_dir = nullptr);

struct PredictionsEvaluationOptions {
  std::string predictions, pack, out_dir;
  std::string threshold_predictions;  // the same model on the threshold split ("": no operating points)
  std::string compare;
  bool allow_partial = false;         // predictions may cover part of the split (stated in metrics.json)
  EvaluationOptions stats;            // split, threshold split, bootstrap, operating-point rule
};

// Single process. Writes out_dir/{predictions.csv,curves.json,metrics.json} and returns the metrics.
nlohmann::ordered_json evaluate_predictions_file(const PredictionsEvaluationOptions& options);

}  // namespace cxr::eval
