// manifest.json reading and writing (see manifest.h).
#include "data/manifest.h"

#include <nlohmann/json.hpp>

#include <filesystem>

#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"
#include "data/pack_format.h"

namespace cxr::data {

using json = nlohmann::ordered_json;  // keeps splits in train, val, test order

const SplitManifest& Manifest::split(const std::string& name) const {
  std::vector<std::string> names;
  for (const auto& s : splits) {
    if (s.name == name) return s;
    names.push_back(s.name);
  }
  throw UserError("the pack has no split '" + name + "'", "available splits: " + join(names, ", "));
}

Manifest read_manifest(const std::string& pack_dir) {
  std::filesystem::path path = std::filesystem::path(pack_dir) / "manifest.json";
  if (!std::filesystem::exists(path)) {
    throw UserError("'" + pack_dir + "' is not a pack: " + path.string() + " does not exist",
                    "make one with `cxrtrain pack` or `cxrtrain synth`");
  }
  json j;
  try {
    j = json::parse(read_text_file(path));
    Manifest m;
    m.schema = j.at("schema").get<std::string>();
    if (m.schema != kPackSchema)
      throw UserError(path.string() + ": schema '" + m.schema + "' is not " + kPackSchema,
                      "re-create the pack with this version of cxrtrain");
    m.source = j.at("source").get<std::string>();
    m.classes = j.at("classes").get<std::vector<std::string>>();
    m.image_size = j.at("image_size").get<int>();
    for (const auto& [name, s] : j.at("splits").items()) {
      SplitManifest sm;
      sm.name = name;
      sm.count = s.at("count").get<int64_t>();
      sm.patients = s.at("patients").get<int64_t>();
      for (const auto& shard : s.at("shards")) {
        sm.shards.push_back(shard.at("file").get<std::string>());
        sm.shard_rows.push_back(shard.at("rows").get<int64_t>());
      }
      const auto& pos = s.at("positives");
      for (int c = 0; c < kNumClasses; ++c) sm.positives[c] = pos.at(kClassNames[c]).get<int64_t>();
      m.splits.push_back(std::move(sm));
    }
    return m;
  } catch (const json::exception& e) {
    throw UserError(path.string() + ": malformed manifest (" + e.what() + ")",
                    "the pack is damaged or was written by another tool; re-create it");
  }
}

std::string manifest_json(const Manifest& m, const std::string& provenance_json) {
  json j;
  j["schema"] = m.schema;
  j["source"] = m.source;
  j["classes"] = m.classes;
  j["image_size"] = m.image_size;
  json splits = json::object();
  for (const auto& s : m.splits) {
    json js;
    js["count"] = s.count;
    js["patients"] = s.patients;
    json shards = json::array();
    for (size_t i = 0; i < s.shards.size(); ++i) shards.push_back({{"file", s.shards[i]}, {"rows", s.shard_rows[i]}});
    js["shards"] = shards;
    json pos = json::object(), prev = json::object();
    for (int c = 0; c < kNumClasses; ++c) {
      pos[kClassNames[c]] = s.positives[c];
      prev[kClassNames[c]] = s.count ? static_cast<double>(s.positives[c]) / static_cast<double>(s.count) : 0.0;
    }
    js["positives"] = pos;
    js["prevalence"] = prev;
    splits[s.name] = js;
  }
  j["splits"] = splits;
  if (!provenance_json.empty()) {
    json extra = json::parse(provenance_json);
    for (auto& [k, v] : extra.items()) j[k] = v;
  }
  return j.dump(2) + "\n";
}

}  // namespace cxr::data
