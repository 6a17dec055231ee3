// manifest.json reading and writing (see manifest.h).
#include "data/manifest.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <filesystem>

#include "core/error.h"
#include "core/fs.h"
#include "core/sha256.h"
#include "core/strings.h"
#include "data/pack_format.h"

namespace cxr::data {

using json = nlohmann::ordered_json;  // keeps splits in train, val, test order
namespace fs = std::filesystem;

const SplitManifest& Manifest::split(const std::string& name) const {
  std::vector<std::string> names;
  for (const auto& s : splits) {
    if (s.name == name) return s;
    names.push_back(s.name);
  }
  throw UserError("the pack has no split '" + name + "'", "available splits: " + join(names, ", "));
}

bool Manifest::class_evaluable(int c) const {
  if (c < 0 || c >= kNumClasses) throw std::out_of_range("class index " + std::to_string(c));
  return std::find(classes_not_evaluable.begin(), classes_not_evaluable.end(), kClassNames[c]) ==
         classes_not_evaluable.end();
}

namespace {

constexpr int kMaxImageSide = 16384;

[[noreturn]] void bad_manifest(const fs::path& path, const std::string& what) {
  throw UserError(path.string() + ": " + what,
                  "the pack is damaged or was written by another tool; re-create it (cxrtrain pack / synth)");
}

// j[key] as an integer in [lo, hi], refusing strings, fractions and numbers out of range.
int64_t get_int(const json& j, const char* key, int64_t lo, int64_t hi, const fs::path& path, const std::string& where) {
  if (!j.contains(key)) bad_manifest(path, where + "'" + key + "' is missing");
  const json& v = j.at(key);
  if (!v.is_number_integer()) bad_manifest(path, where + "'" + key + "' is " + v.dump() + ", expected an integer");
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    bad_manifest(path, where + "'" + key + "' is " + v.dump() + ", out of range");
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi)
    bad_manifest(path, where + "'" + key + "' is " + std::to_string(x) + ", expected " + std::to_string(lo) + " to " +
                           std::to_string(hi));
  return x;
}

std::string get_string(const json& j, const char* key, const fs::path& path, const std::string& where) {
  if (!j.contains(key) || !j.at(key).is_string()) bad_manifest(path, where + "'" + key + "' is missing or not a string");
  return j.at(key).get<std::string>();
}

bool is_hex_digest(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

Manifest read_manifest(const std::string& pack_dir) {
  const fs::path path = fs::path(pack_dir) / "manifest.json";
  if (!fs::exists(path)) {
    throw UserError("'" + pack_dir + "' is not a pack: " + path.string() + " does not exist",
                    "make one with `cxrtrain pack` or `cxrtrain synth`");
  }
  json j;
  try {
    j = json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    bad_manifest(path, std::string("not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) bad_manifest(path, "the top level is not a JSON object");
  Manifest m;
  m.schema = get_string(j, "schema", path, "");
  if (m.schema != kPackSchema)
    throw UserError(path.string() + ": schema '" + m.schema + "' is not " + kPackSchema,
                    "re-create the pack with this version of cxrtrain");
  m.source = get_string(j, "source", path, "");
  if (!j.contains("classes") || !j.at("classes").is_array()) bad_manifest(path, "'classes' is missing or not a list");
  for (const auto& c : j.at("classes")) {
    if (!c.is_string()) bad_manifest(path, "'classes' holds " + c.dump() + ", not a class name");
    m.classes.push_back(c.get<std::string>());
  }
  if (m.classes != class_names()) {
    size_t i = 0;
    while (i < m.classes.size() && i < static_cast<size_t>(kNumClasses) && m.classes[i] == kClassNames[i]) ++i;
    bad_manifest(path, "'classes' must be the 14 NIH classes in cxrtrain's label-column order (" +
                           join(class_names(), ", ") + ")" +
                           (i < m.classes.size() && i < static_cast<size_t>(kNumClasses)
                                ? "; entry " + std::to_string(i) + " is '" + m.classes[i] + "' where cxrtrain has '" +
                                      kClassNames[i] + "'"
                                : "; it has " + std::to_string(m.classes.size()) + " entries"));
  }
  m.image_size = static_cast<int>(get_int(j, "image_size", 1, kMaxImageSide, path, ""));
  if (j.contains("classes_not_evaluable")) {  // absent in NIH/phantom packs and older packs: all evaluable
    const json& ne = j.at("classes_not_evaluable");
    if (!ne.is_array()) bad_manifest(path, "'classes_not_evaluable' is not a list");
    for (const auto& c : ne) {
      if (!c.is_string() || !class_index(c.get<std::string>()))
        bad_manifest(path, "'classes_not_evaluable' holds " + c.dump() + ", not one of the 14 class names");
      if (std::find(m.classes_not_evaluable.begin(), m.classes_not_evaluable.end(), c.get<std::string>()) !=
          m.classes_not_evaluable.end())
        bad_manifest(path, "'classes_not_evaluable' lists " + c.dump() + " twice");
      m.classes_not_evaluable.push_back(c.get<std::string>());
    }
  }
  if (!j.contains("splits") || !j.at("splits").is_object()) bad_manifest(path, "'splits' is missing or not an object");
  for (const auto& [name, s] : j.at("splits").items()) {
    const std::string where = "split '" + name + "': ";
    if (!s.is_object()) bad_manifest(path, where + "not an object");
    SplitManifest sm;
    sm.name = name;
    sm.count = get_int(s, "count", 0, INT32_MAX, path, where);
    sm.patients = get_int(s, "patients", 0, sm.count, path, where);
    if (!s.contains("shards") || !s.at("shards").is_array()) bad_manifest(path, where + "'shards' is missing or not a list");
    int64_t rows = 0;
    for (const auto& shard : s.at("shards")) {
      if (!shard.is_object()) bad_manifest(path, where + "a shard entry is not an object");
      const std::string file = get_string(shard, "file", path, where);
      if (file.empty() || file.find('/') != std::string::npos || file.find('\\') != std::string::npos || file == "." ||
          file == "..")
        bad_manifest(path, where + "shard file '" + file + "' is not a plain file name inside the pack folder");
      sm.shards.push_back(file);
      sm.shard_rows.push_back(get_int(shard, "rows", 0, sm.count, path, where + "shard '" + file + "': "));
      rows += sm.shard_rows.back();
      std::string digest;
      if (shard.contains("sha256")) {
        digest = get_string(shard, "sha256", path, where);
        if (!is_hex_digest(digest)) bad_manifest(path, where + "shard '" + file + "': 'sha256' is not a hex sha256 digest");
      }
      sm.shard_sha256.push_back(digest);
    }
    if (rows != sm.count)
      bad_manifest(path, where + "its shards hold " + std::to_string(rows) + " rows but its count is " +
                             std::to_string(sm.count));
    if (!s.contains("positives") || !s.at("positives").is_object())
      bad_manifest(path, where + "'positives' is missing or not an object");
    for (int c = 0; c < kNumClasses; ++c)
      sm.positives[c] = get_int(s.at("positives"), kClassNames[c], 0, sm.count, path, where + "positives: ");
    m.splits.push_back(std::move(sm));
  }
  return m;
}

std::string manifest_sha256(const std::string& pack_dir) {
  return sha256_file((fs::path(pack_dir) / "manifest.json").string());
}

std::string manifest_json(const Manifest& m, const std::string& provenance_json) {
  json j;
  j["schema"] = m.schema;
  j["source"] = m.source;
  j["classes"] = m.classes;
  j["image_size"] = m.image_size;
  if (!m.classes_not_evaluable.empty()) j["classes_not_evaluable"] = m.classes_not_evaluable;
  json splits = json::object();
  for (const auto& s : m.splits) {
    json js;
    js["count"] = s.count;
    js["patients"] = s.patients;
    json shards = json::array();
    for (size_t i = 0; i < s.shards.size(); ++i) {
      json shard = {{"file", s.shards[i]}, {"rows", s.shard_rows[i]}};
      if (i < s.shard_sha256.size() && !s.shard_sha256[i].empty()) shard["sha256"] = s.shard_sha256[i];
      shards.push_back(shard);
    }
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
