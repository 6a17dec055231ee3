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
  int64_t count = 0;
  int64_t patients = 0;
  std::array<int64_t, kNumClasses> positives{};
};

struct Manifest {
  std::string schema;
  std::string source;                  // nih-cxr14 | phantom
  std::vector<std::string> classes;
  int image_size = 0;
  std::vector<SplitManifest> splits;

  const SplitManifest& split(const std::string& name) const;  // throws UserError naming the valid splits
};

Manifest read_manifest(const std::string& pack_dir);
// JSON text of the manifest; `provenance_json` (a JSON object) is merged in as extra top-level keys.
std::string manifest_json(const Manifest& manifest, const std::string& provenance_json);

}  // namespace cxr::data
