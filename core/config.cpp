// Config parsing (see config.h). One table of fields drives YAML parsing, --set overrides,
// validation messages and YAML output, so the four can never disagree.
#include "core/config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <type_traits>

#include "core/error.h"
#include "core/strings.h"

namespace cxr {
namespace {

// Calls f(key, member) for every field. The const overload reuses the non-const one.
template <class F>
void for_each_field(Config& c, F&& f) {
  f("seed", c.seed);
  f("run_dir", c.run_dir);
  f("data.pack", c.data.pack);
  f("data.train_split", c.data.train_split);
  f("data.val_split", c.data.val_split);
  f("data.image_size", c.data.image_size);
  f("data.crop_fraction", c.data.crop_fraction);
  f("data.mean", c.data.mean);
  f("data.std", c.data.std);
  f("data.augment", c.data.augment);
  f("data.verify", c.data.verify);
  f("loader.workers", c.loader.workers);
  f("loader.prefetch", c.loader.prefetch);
  f("loader.tail", c.loader.tail);
  f("model.depth", c.model.depth);
  f("model.width", c.model.width);
  f("model.in_channels", c.model.in_channels);
  f("model.zero_init_residual", c.model.zero_init_residual);
  f("model.norm", c.model.norm);
  f("model.bn_group", c.model.bn_group);
  f("train.global_batch", c.train.global_batch);
  f("train.epochs", c.train.epochs);
  f("train.max_steps", c.train.max_steps);
  f("train.lr", c.train.lr);
  f("train.weight_decay", c.train.weight_decay);
  f("train.schedule", c.train.schedule);
  f("train.warmup_steps", c.train.warmup_steps);
  f("train.pos_weight", c.train.pos_weight);
  f("train.grad_clip", c.train.grad_clip);
  f("train.precision", c.train.precision);
  f("train.channels_last", c.train.channels_last);
  f("train.bucket_mb", c.train.bucket_mb);
  f("train.backend", c.train.backend);
  f("train.collective_timeout_s", c.train.collective_timeout_s);
  f("train.device", c.train.device);
  f("train.threads", c.train.threads);
  f("train.checkpoint_every", c.train.checkpoint_every);
  f("train.evaluate", c.train.evaluate);
  f("eval.batch_size", c.eval.batch_size);
  f("eval.split", c.eval.split);
  f("eval.threshold_split", c.eval.threshold_split);
  f("eval.target_sensitivity", c.eval.target_sensitivity);
  f("eval.bootstrap", c.eval.bootstrap);
  f("eval.threads", c.eval.threads);
  f("study.seeds", c.study.seeds);
  f("study.stages", c.study.stages);
  f("study.synth.n", c.study.synth.n);
  f("study.synth.size", c.study.synth.size);
  f("study.synth.seed", c.study.synth.seed);
  f("study.synth.label_noise", c.study.synth.label_noise);
  f("study.synth.shortcut", c.study.synth.shortcut);
  f("study.synth.findings", c.study.synth.findings);
  f("study.gradcam_per_class", c.study.gradcam_per_class);
  f("study.gradcam_counterfactual_images", c.study.gradcam_counterfactual_images);
  f("study.gradcam_lesion_images", c.study.gradcam_lesion_images);
  f("study.gradcam_deletion_images", c.study.gradcam_deletion_images);
  f("study.robustness_attack_images", c.study.robustness_attack_images);
  f("study.robustness_extra", c.study.robustness_extra);
  f("log.interval", c.log.interval);
  f("log.all_ranks", c.log.all_ranks);
}

template <class T>
void assign(T& member, const std::string& text, const std::string& key, const std::string& origin) {
  try {
    if constexpr (std::is_same_v<T, std::string>) {
      member = text;
    } else if constexpr (std::is_same_v<T, bool>) {
      std::string t = to_lower(trim(text));
      if (t == "true" || t == "yes" || t == "on" || t == "1") member = true;
      else if (t == "false" || t == "no" || t == "off" || t == "0") member = false;
      else throw std::invalid_argument("not a boolean");
    } else if constexpr (std::is_integral_v<T>) {
      const long long v = parse_int(text);
      if (v < static_cast<long long>(std::numeric_limits<T>::min()) || v > static_cast<long long>(std::numeric_limits<T>::max()))
        throw UserError(origin + ": key '" + key + "' is " + std::string(trim(text)) + ", outside the range of an integer of " +
                            std::to_string(8 * sizeof(T)) + " bits (" + std::to_string(std::numeric_limits<T>::min()) + " to " +
                            std::to_string(std::numeric_limits<T>::max()) + ")",
                        "fix the value in " + origin);
      member = static_cast<T>(v);
    } else {
      const double v = parse_double(text);
      if (!std::isfinite(v))
        throw UserError(origin + ": key '" + key + "' is " + std::string(trim(text)) + "; every number in a config must be finite",
                        "fix the value in " + origin);
      member = static_cast<T>(v);
    }
  } catch (const std::invalid_argument&) {
    const char* kind = std::is_same_v<T, bool> ? "true/false" : std::is_integral_v<T> ? "an integer" : "a number";
    throw UserError(origin + ": key '" + key + "' has value '" + text + "', which is not " + kind,
                    "fix the value in " + origin);
  }
}

void set_key(Config& c, const std::string& key, const std::string& value, const std::string& origin) {
  bool found = false;
  for_each_field(c, [&](const char* name, auto& member) {
    if (key == name) {
      assign(member, value, key, origin);
      found = true;
    }
  });
  if (!found) {
    throw UserError(origin + ": unknown key '" + key + "'; did you mean '" + nearest(key, config_keys()) + "'?",
                    "valid keys: " + join(config_keys(), ", "));
  }
}

void flatten(const YAML::Node& node, const std::string& prefix, std::vector<std::pair<std::string, std::string>>& out,
             const std::string& origin) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      std::string key = kv.first.as<std::string>();
      flatten(kv.second, prefix.empty() ? key : prefix + "." + key, out, origin);
    }
  } else if (node.IsScalar()) {
    out.emplace_back(prefix, node.Scalar());
  } else if (node.IsNull()) {
    if (!prefix.empty()) out.emplace_back(prefix, "");
  } else {
    throw UserError(origin + ": key '" + prefix + "' holds a list; every config value is a single scalar");
  }
}

}  // namespace

std::vector<std::string> config_keys() {
  Config c;
  std::vector<std::string> keys;
  for_each_field(c, [&](const char* name, auto&) { keys.emplace_back(name); });
  return keys;
}

void apply_yaml(Config& config, const std::string& yaml_text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw UserError(origin + ": not valid YAML (line " + std::to_string(e.mark.line + 1) + "): " + e.msg);
  }
  if (root.IsNull()) return;
  if (!root.IsMap()) throw UserError(origin + ": the top level must be a mapping of keys to values");
  std::vector<std::pair<std::string, std::string>> flat;
  flatten(root, "", flat, origin);
  for (const auto& [key, value] : flat) set_key(config, key, value, origin);
}

void apply_overrides(Config& config, const std::vector<std::string>& assignments) {
  for (const auto& a : assignments) {
    auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw UserError("--set '" + a + "' is not of the form key=value", "example: --set data.image_size=224");
    }
    set_key(config, std::string(trim(a.substr(0, eq))), std::string(trim(a.substr(eq + 1))), "--set " + a);
  }
}

void validate(const Config& c) {
  auto fail = [](const std::string& key, const std::string& why) {
    throw UserError("config key '" + key + "': " + why);
  };
  Config copy = c;
  for_each_field(copy, [&](const char* key, auto& member) {
    if constexpr (std::is_floating_point_v<std::decay_t<decltype(member)>>) {
      if (!std::isfinite(member)) fail(key, "is not a finite number");
    }
  });
  if (c.data.image_size < 0 || c.data.image_size > 16384) fail("data.image_size", "must be 0 (the pack's size) to 16384");
  if (!(c.data.crop_fraction > 0 && c.data.crop_fraction <= 1)) fail("data.crop_fraction", "must be in (0, 1]");
  if (!(c.data.std > 0)) fail("data.std", "must be > 0");
  if (c.data.augment != "none" && c.data.augment != "light") fail("data.augment", "must be 'none' or 'light'");
  if (c.data.verify != "sha256" && c.data.verify != "none") fail("data.verify", "must be 'sha256' or 'none'");
  if (c.loader.workers < 1 || c.loader.workers > 256) fail("loader.workers", "must be 1 to 256");
  if (c.loader.prefetch < 1 || c.loader.prefetch > 4096) fail("loader.prefetch", "must be 1 to 4096");
  if (c.loader.tail != "drop" && c.loader.tail != "pad") fail("loader.tail", "must be 'drop' or 'pad'");
  if (c.train.global_batch < 1 || c.train.global_batch > (1 << 20)) fail("train.global_batch", "must be 1 to 1048576");
  if (c.train.epochs < 1 || c.train.epochs > 1000000) fail("train.epochs", "must be 1 to 1000000");
  if (c.train.max_steps < 0) fail("train.max_steps", "must be >= 0");
  if (!(c.train.lr > 0)) fail("train.lr", "must be > 0");
  if (c.train.weight_decay < 0) fail("train.weight_decay", "must be >= 0");
  auto one_of = [&](const std::string& key, const std::string& v, std::initializer_list<const char*> ok) {
    for (const char* o : ok)
      if (v == o) return;
    std::vector<std::string> names(ok.begin(), ok.end());
    fail(key, "is '" + v + "'; must be one of: " + join(names, ", "));
  };
  one_of("train.schedule", c.train.schedule, {"constant", "cosine"});
  one_of("train.pos_weight", c.train.pos_weight, {"none", "balanced"});
  one_of("train.precision", c.train.precision, {"fp32", "bf16"});
  one_of("train.backend", c.train.backend, {"auto", "mpi", "nccl"});
  one_of("train.device", c.train.device, {"auto", "cpu", "cuda"});
  one_of("model.norm", c.model.norm, {"batch", "none"});
  if (c.model.bn_group < 0 || c.model.bn_group > c.train.global_batch ||
      (c.model.bn_group > 0 && c.train.global_batch % c.model.bn_group != 0)) {
    std::vector<std::string> divisors;
    for (int g = 1; g <= c.train.global_batch; ++g)
      if (c.train.global_batch % g == 0) divisors.push_back(std::to_string(g));
    fail("model.bn_group", "is " + std::to_string(c.model.bn_group) + "; must be 0 (statistics over each rank's batch) or "
         "divide train.global_batch " + std::to_string(c.train.global_batch) + ": " + join(divisors, ", "));
  }
  if (c.model.bn_group > 0 && c.model.norm != "batch")
    fail("model.bn_group", "is " + std::to_string(c.model.bn_group) + " but model.norm is '" + c.model.norm +
         "'; groups need BatchNorm: use model.bn_group=0 with model.norm=none");
  if (c.train.warmup_steps < 0) fail("train.warmup_steps", "must be >= 0");
  if (c.train.grad_clip < 0) fail("train.grad_clip", "must be >= 0 (0 = off)");
  if (!(c.train.bucket_mb > 0 && c.train.bucket_mb <= 16384)) fail("train.bucket_mb", "must be > 0 and <= 16384");
  if (!(c.train.collective_timeout_s >= 1 && c.train.collective_timeout_s <= 86400))
    fail("train.collective_timeout_s", "must be 1 to 86400 seconds");
  if (c.train.threads < 0 || c.train.threads > 1024) fail("train.threads", "must be 0 (automatic) to 1024");
  if (c.train.checkpoint_every < 0) fail("train.checkpoint_every", "must be >= 0");
  if (c.model.depth != 18 && c.model.depth != 34 && c.model.depth != 50) fail("model.depth", "must be 18, 34 or 50");
  if (!(c.model.width > 0 && c.model.width <= 16)) fail("model.width", "must be > 0 and <= 16");
  if (c.model.in_channels != 1 && c.model.in_channels != 3) fail("model.in_channels", "must be 1 or 3");
  if (c.eval.batch_size < 1 || c.eval.batch_size > 65536) fail("eval.batch_size", "must be 1 to 65536");
  if (!(c.eval.target_sensitivity >= 0 && c.eval.target_sensitivity <= 1))
    fail("eval.target_sensitivity", "must be 0 (Youden's J) or a sensitivity in (0, 1]");
  if (c.eval.bootstrap < 100 || c.eval.bootstrap > 100000) fail("eval.bootstrap", "must be 100 to 100000 resamples");
  if (c.eval.threads < 0 || c.eval.threads > 1024) fail("eval.threads", "must be 0 (one per core) to 1024");
  if (c.study.seeds < 1 || c.study.seeds > 4096) fail("study.seeds", "must be 1 to 4096");
  if (c.study.synth.n < 10) fail("study.synth.n", "must be >= 10 images");
  if (c.study.synth.size < 16 || c.study.synth.size > 4096) fail("study.synth.size", "must be 16 to 4096 pixels");
  if (!(c.study.synth.label_noise >= 0 && c.study.synth.label_noise <= 5)) fail("study.synth.label_noise", "must be 0 to 5");
  if (c.study.synth.findings != "nih" && c.study.synth.findings != "independent")
    fail("study.synth.findings", "must be nih or independent");
  if (c.study.gradcam_per_class < 1) fail("study.gradcam_per_class", "must be >= 1");
  if (c.study.gradcam_counterfactual_images < 0) fail("study.gradcam_counterfactual_images", "must be >= 0 (0 = the whole split)");
  if (c.study.gradcam_lesion_images < 0) fail("study.gradcam_lesion_images", "must be >= 0");
  if (c.study.gradcam_deletion_images < 0) fail("study.gradcam_deletion_images", "must be >= 0");
  if (c.study.robustness_attack_images < 0)
    fail("study.robustness_attack_images", "must be >= 0 (0 = the whole split)");
  if (c.log.interval < 1) fail("log.interval", "must be >= 1");
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  Config config;
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) throw UserError("cannot read config file '" + path + "'", "check the --config path");
    std::stringstream ss;
    ss << in.rdbuf();
    apply_yaml(config, ss.str(), path);
  }
  apply_overrides(config, overrides);
  validate(config);
  return config;
}

std::vector<std::pair<std::string, std::string>> config_values(const Config& config) {
  Config copy = config;
  std::vector<std::pair<std::string, std::string>> flat;
  for_each_field(copy, [&](const char* name, auto& member) {
    using T = std::decay_t<decltype(member)>;
    std::ostringstream v;
    if constexpr (std::is_same_v<T, bool>) v << (member ? "true" : "false");
    else if constexpr (std::is_floating_point_v<T>) { v.precision(17); v << member; }
    else v << member;
    flat.emplace_back(name, v.str());
  });
  return flat;
}

std::map<std::string, std::string> yaml_values(const std::string& yaml_text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw UserError(origin + ": not valid YAML (line " + std::to_string(e.mark.line + 1) + "): " + e.msg);
  }
  std::map<std::string, std::string> out;
  if (root.IsNull()) return out;
  if (!root.IsMap()) throw UserError(origin + ": the top level must be a mapping of keys to values");
  std::vector<std::pair<std::string, std::string>> flat;
  flatten(root, "", flat, origin);
  for (auto& [k, v] : flat) out[k] = v;
  return out;
}

std::string to_yaml(const Config& config) {
  // Group dotted keys back into nested maps (study.synth.n -> study: {synth: {n: ...}}), in declaration order.
  const std::vector<std::pair<std::string, std::string>> flat = config_values(config);
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::vector<std::string> open;  // the sections currently open, outermost first
  for (const auto& [key, value] : flat) {
    std::vector<std::string> parts = split(key, '.');
    const std::string leaf = parts.back();
    parts.pop_back();
    size_t common = 0;
    while (common < open.size() && common < parts.size() && open[common] == parts[common]) ++common;
    for (size_t i = open.size(); i > common; --i) out << YAML::EndMap;
    open.resize(common);
    for (size_t i = common; i < parts.size(); ++i) {
      out << YAML::Key << parts[i] << YAML::Value << YAML::BeginMap;
      open.push_back(parts[i]);
    }
    out << YAML::Key << leaf << YAML::Value << value;
  }
  for (size_t i = 0; i < open.size(); ++i) out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace cxr
