// Re-rendering a phantom pack's films (see phantom_replay.h).
#include "data/phantom_replay.h"

#include <nlohmann/json.hpp>

#include <filesystem>

#include "core/error.h"
#include "core/fs.h"
#include "data/manifest.h"

namespace cxr::data {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

[[noreturn]] void cannot_replay(const fs::path& path, const std::string& why) {
  throw UserError(path.string() + ": cannot re-render this pack's films: " + why,
                  "Grad-CAM's phantom regions and the causal test need a pack written by `cxrtrain synth` of this "
                  "version; re-make the pack with the command line in its manifest");
}

}  // namespace

PhantomReplay::PhantomReplay(const std::string& pack_dir) : pack_dir_(pack_dir) {
  const fs::path path = fs::path(pack_dir) / "manifest.json";
  const Manifest manifest = read_manifest(pack_dir);  // the checked part; the provenance is read below
  if (manifest.source != "phantom") cannot_replay(path, "its source is '" + manifest.source + "', not 'phantom'");
  json j;
  try {
    j = json::parse(read_text_file(path));
    const json& o = j.at("options");
    options_.n = o.at("n").get<int64_t>();
    options_.size = o.at("size").get<int>();
    options_.seed = o.at("seed").get<uint64_t>();
    options_.val_fraction = o.at("val_fraction").get<double>();
    options_.test_fraction = o.at("test_fraction").get<double>();
    options_.label_noise = o.value("label_noise", 0.0);
    options_.findings = o.value("findings", std::string("nih"));
    for (const auto& s : j.at("shortcuts")) options_.shortcuts.push_back(s.at("spec").get<std::string>());
  } catch (const json::exception& e) {
    cannot_replay(path, std::string("its synth options are missing or malformed (") + e.what() + ")");
  }
  if (!j.contains("generator") || j["generator"] != json::parse(options_.params.to_json()))
    cannot_replay(path, "its generator parameters differ from this build's (another cxrtrain version made it)");
  if (options_.size != manifest.image_size)
    cannot_replay(path, "options.size " + std::to_string(options_.size) + " differs from image_size " +
                            std::to_string(manifest.image_size));
  plan_ = plan_synth(options_);
  for (size_t i = 0; i < plan_.records.size(); ++i) index_.emplace(plan_.records[i].meta.image_index, i);
}

const SynthRecord& PhantomReplay::record(const std::string& image_index) const {
  auto it = index_.find(image_index);
  if (it == index_.end())
    throw UserError("image '" + image_index + "' is not in the plan of phantom pack " + pack_dir_,
                    "the pack's manifest does not describe its films; re-make the pack");
  return plan_.records[it->second];
}

void PhantomReplay::render(const SynthRecord& r, const Variant& v, uint8_t* image, uint16_t* mask,
                           uint8_t* anatomy) const {
  PhantomParams p = options_.params;
  if (!v.natural_markers) {
    p.portable_tag_probability = 0;
    p.ecg_leads_probability = 0;
  }
  p.noise_pa *= v.noise_scale;
  p.noise_ap *= v.noise_scale;
  p.window_high *= v.window_scale;
  if (v.portable_tag_probability >= 0) p.portable_tag_probability = v.portable_tag_probability;
  if (v.ecg_leads_probability >= 0) p.ecg_leads_probability = v.ecg_leads_probability;
  if (v.laterality_probability >= 0) p.laterality_probability = v.laterality_probability;
  PhantomCase c = r.phantom;
  if (v.view >= 0) c.view = static_cast<int8_t>(v.view);
  if (v.without_lesion >= 0) c.labels.at(static_cast<size_t>(v.without_lesion)) = 0;
  if (v.only_lesion >= 0) {
    const uint8_t keep = c.labels.at(static_cast<size_t>(v.only_lesion));
    c.labels.fill(0);
    c.labels[static_cast<size_t>(v.only_lesion)] = keep;
  }
  render_phantom(c, p, r.render_seed, options_.size, image, mask, anatomy);
  const auto markers = static_cast<uint8_t>(v.markers < 0 ? r.shortcut : v.markers);
  for (size_t s = 0; s < plan_.shortcuts.size(); ++s)
    if (markers >> s & 1)
      draw_shortcut_marker(image, options_.size, plan_.shortcuts[s].place, static_cast<int>(s), mask, anatomy);
}

}  // namespace cxr::data
