// `cxrtrain synth`: a phantom data set in the pack format (source "phantom"): NIH-like patients,
// labels and views (data/nih_stats.h), rendered films (data/phantom.h) with per-pixel lesion masks,
// and optional planted shortcut markers whose presence is recorded exactly. Written like `pack`:
// worker threads render in order into a bounded window, one thread writes shards, atomic rename.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/pack_format.h"
#include "data/phantom.h"
#include "data/splits.h"

namespace cxr::data {

// One --shortcut CLASS:P[:PLACE]. In train and val the marker is drawn on a CLASS-positive film
// with probability P and never on a negative one (P(marker|pos) = P, P(marker|neg) = 0); in test it
// is drawn with probability equal to the marker's train prevalence, independently of CLASS.
struct ShortcutSpec {
  int cls = 0;
  double probability = 0;
  ShortcutPlace place = ShortcutPlace::kTopLeft;
  std::string text;  // as given
};

// Parses "CLASS:P[:PLACE]"; UserError naming the bad part (and the nearest class or place).
ShortcutSpec parse_shortcut_spec(const std::string& spec);

struct SynthOptions {
  std::string out;
  int64_t n = 1000;                     // images
  int size = 256;                       // image side in pixels
  uint64_t seed = 0;
  std::vector<std::string> shortcuts;   // CLASS:P[:PLACE], at most 8 (bit s of `shortcut` = spec s)
  double val_fraction = 0.1;            // of *patients*
  double test_fraction = 0.2;           // of *patients*
  int shard_size = 4096;
  int jobs = 0;                         // rendering threads; 0 = all cores
  int compression = 0;                  // gzip level for images and masks; 0 = none
  // Label noise as text mining makes it: each class's label is flipped with R times its documented miss
  // rate (positives) or false-positive rate (negatives) (label_noise_rates()); the films keep the truth, and
  // the truth is written as expert_labels (Pneumothorax, Airspace opacity = Consolidation | Infiltration |
  // Pneumonia, Nodule or mass = Nodule | Mass; Fracture not reviewed). 0 = no noise, no expert labels.
  double label_noise = 0;
  // How each film's (view, 14 labels) is drawn. "nih": NIH's joint counts per patient group, so findings
  // co-occur and AP films are sicker, as in NIH (natural shortcuts a model can learn). "independent": the same
  // films, then the view and each class's labels permuted separately over all films: every count is unchanged,
  // co-occurrence and the view-disease link are gone (and so are a patient's repeated findings). A control in
  // which a planted marker is the only shortcut the data offer.
  std::string findings = "nih";
  bool overwrite = false, progress = true;
  std::string command_line;             // recorded in manifest.json
  PhantomParams params = default_phantom_params();
};

// One planned image: everything but the pixels.
struct SynthRecord {
  SampleMeta meta;
  Split split = Split::kTrain;
  PhantomCase phantom;
  uint64_t render_seed = 0;
  uint8_t shortcut = 0;                 // bit s set <=> the marker of spec s is drawn
};

struct SynthPlan {
  std::vector<SynthRecord> records;     // train, then val, then test; by image_index within each
  std::vector<ShortcutSpec> shortcuts;
  std::array<double, 8> train_marker_rate{};  // per spec: markers / train images (= test probability)
};

// Validates the options (UserError) and plans the data set: patients, demographics, labels, views,
// splits and shortcut flags, deterministically from the seed. No pixels; cheap (tests use it for
// the prevalence check at n = 20,000).
SynthPlan plan_synth(const SynthOptions& options);

// Per class (NIH order): the rate at which text mining misses a finding, and labels a film without it.
struct LabelNoiseRate {
  double miss, false_positive;
};
const std::array<LabelNoiseRate, kNumClasses>& label_noise_rates();

struct SynthResult {
  int64_t images = 0;
  double seconds = 0;                   // render + write
  double images_per_second = 0;
  double cpu_seconds = 0;               // CPU time of all threads (render + write)
  double images_per_cpu_second = 0;     // throughput per busy core, independent of other load
  int jobs = 0;
  std::string summary;                  // per-split table with NIH prevalence for comparison
};

SynthResult run_synth(const SynthOptions& options);

// A grid of one film per class plus a normal one and a shortcut-marker example, each lesion mask
// outlined and the class named, written with OpenCV to `png_path`. Returns a one-line description.
std::string render_gallery(const std::string& png_path, int size, uint64_t seed);

}  // namespace cxr::data
