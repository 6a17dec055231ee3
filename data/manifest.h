// manifest.json of a pack: schema, source, classes, image size and, per split, its shard files,
// row counts, patients and per-class positives. Provenance (sha256 of sources, command line,
// generator parameters) is stored alongside as free-form JSON.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/classes.h"

namespace cxr::data {

struct SplitManifest {
  std::string name;
  std::vector<std::string> shards;     // file names relative to the pack folder
  std::vector<int64_t> shard_rows;
  std::vector<std::string> shard_sha256;  // hex digest of each shard file; "" in packs of older versions
  int64_t count = 0;
  int64_t patients = 0;
  std::array<int64_t, kNumClasses> positives{};
};

struct Manifest {
  std::string schema;
  std::string source;                  // nih-cxr14 | phantom | labelled-csv
  std::vector<std::string> classes;
  int image_size = 0;
  std::vector<SplitManifest> splits;
  // Classes the source has no label for (a labelled CSV whose label map says "not evaluable"): their
  // label column holds 0 for every image, which means "unknown", not "negative". manifest.json key
  // `classes_not_evaluable`, written only when non-empty; packs without it have every class evaluable.
  std::vector<std::string> classes_not_evaluable;

  const SplitManifest& split(const std::string& name) const;  // throws UserError naming the valid splits
  // False for a class listed in classes_not_evaluable (`c` in label-column order, 0..13).
  bool class_evaluable(int c) const;
};

// Reads and checks manifest.json: types, ranges (image side 1-16384, counts >= 0, rows adding up to
// each split's count), plain shard file names, and the 14 classes in cxrtrain's order. UserError naming
// the file and key otherwise.
Manifest read_manifest(const std::string& pack_dir);
// sha256 of the manifest file itself: the pack's identity, recorded in checkpoints.
std::string manifest_sha256(const std::string& pack_dir);
// JSON text of the manifest; `provenance_json` (a JSON object) is merged in as extra top-level keys.
std::string manifest_json(const Manifest& manifest, const std::string& provenance_json);

}  // namespace cxr::data
