// The pack pipeline (see packer.h).
#include "data/packer.h"

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "core/error.h"
#include "core/fs.h"
#include "core/progress.h"
#include "core/sha256.h"
#include "core/strings.h"
#include "core/version.h"
#include "data/image_io.h"
#include "data/manifest.h"
#include "data/nih_metadata.h"
#include "data/ordered_pipeline.h"
#include "data/pack_writer.h"
#include "data/splits.h"

namespace cxr::data {
namespace {

namespace fs = std::filesystem;

std::string first_existing(const std::string& root, const std::vector<std::string>& names) {
  for (const auto& n : names) {
    fs::path p = fs::path(root) / n;
    if (fs::exists(p)) return p.string();
  }
  return "";
}

// image name -> path, scanning folders recursively in sorted order (first occurrence wins).
std::unordered_map<std::string, std::string> find_images(const std::vector<std::string>& dirs, int64_t* duplicates) {
  std::vector<std::string> paths;
  for (const auto& d : dirs) {
    if (!fs::is_directory(d)) throw UserError("image folder '" + d + "' does not exist", "check --images");
    for (const auto& e : fs::recursive_directory_iterator(d, fs::directory_options::follow_directory_symlink)) {
      if (e.is_regular_file() && to_lower(e.path().extension().string()) == ".png") paths.push_back(e.path().string());
    }
  }
  std::sort(paths.begin(), paths.end());
  std::unordered_map<std::string, std::string> out;
  *duplicates = 0;
  for (const auto& p : paths) {
    if (!out.emplace(fs::path(p).filename().string(), p).second) {
      ++*duplicates;
      spdlog::warn("image {} found twice; using {}", fs::path(p).filename().string(),
                   out[fs::path(p).filename().string()]);
    }
  }
  return out;
}

std::string summary_table(const std::vector<SampleMeta>& rows, const std::vector<Split>& split_of) {
  auto sum = summarize(rows, split_of);
  std::ostringstream out;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-20s %10s %10s %10s %10s %10s\n", "", "train", "val", "train+val", "test", "all");
  out << buf;
  std::snprintf(buf, sizeof buf, "%-20s %10lld %10lld %10lld %10lld %10lld\n", "images", (long long)sum[0].images,
                (long long)sum[1].images, (long long)(sum[0].images + sum[1].images), (long long)sum[2].images,
                (long long)(sum[0].images + sum[1].images + sum[2].images));
  out << buf;
  std::snprintf(buf, sizeof buf, "%-20s %10lld %10lld %10lld %10lld %10lld\n", "patients", (long long)sum[0].patients,
                (long long)sum[1].patients, (long long)(sum[0].patients + sum[1].patients), (long long)sum[2].patients,
                (long long)(sum[0].patients + sum[1].patients + sum[2].patients));
  out << buf;
  for (int c = 0; c < kNumClasses; ++c) {
    int64_t all = sum[0].positives[c] + sum[1].positives[c] + sum[2].positives[c];
    auto pct = [&](const SplitSummary& s) { return s.images ? 100.0 * double(s.positives[c]) / double(s.images) : 0.0; };
    SplitSummary tv;
    tv.images = sum[0].images + sum[1].images;
    tv.positives[c] = sum[0].positives[c] + sum[1].positives[c];
    std::snprintf(buf, sizeof buf, "%-20s %9.2f%% %9.2f%% %9.2f%% %9.2f%% %10lld\n", kClassNames[c], pct(sum[0]),
                  pct(sum[1]), pct(tv), pct(sum[2]), (long long)all);
    out << buf;
  }
  return out.str();
}

struct Task {
  size_t record;
  int split;
  int shard;
  int64_t row;
};

}  // namespace

PackOptions resolve_pack_inputs(PackOptions o) {
  const std::string& root = o.nih_root;
  auto need = [&](std::string& field, const std::vector<std::string>& names, const char* flag) {
    if (!field.empty()) {
      if (!fs::exists(field)) throw UserError(std::string(flag) + " '" + field + "' does not exist", "check the path");
      return;
    }
    if (!root.empty()) field = first_existing(root, names);
    if (field.empty()) {
      throw UserError("cannot find " + join(names, " or ") + (root.empty() ? "" : " in '" + root + "'"),
                      std::string("pass --nih-root DIR (the folder as NIH ships it) or ") + flag + " FILE");
    }
  };
  auto optional = [&](std::string& field, const std::vector<std::string>& names, const char* flag) {
    if (!field.empty()) {
      if (field == "none") field.clear();
      else if (!fs::exists(field)) throw UserError(std::string(flag) + " '" + field + "' does not exist", "check the path, or pass 'none'");
      return;
    }
    if (!root.empty()) field = first_existing(root, names);
  };
  need(o.data_entry,
       {"Data_Entry_2017_v2020.csv", "Data_Entry_2017_v2020.csv.gz", "Data_Entry_2017.csv", "Data_Entry_2017.csv.gz"},
       "--data-entry");
  need(o.train_val_list, {"train_val_list.txt"}, "--train-val-list");
  need(o.test_list, {"test_list.txt"}, "--test-list");
  optional(o.bbox_list, {"BBox_List_2017.csv", "BBox_List_2017.csv.gz"}, "--bbox-list");
  optional(o.expert_labels, {"google2019_nih-chest-xray-labels.csv", "google2019_nih-chest-xray-labels.csv.gz"},
           "--expert-labels");
  if (o.image_dirs.empty() && !root.empty() && !o.dry_run) {
    std::vector<std::string> found;
    for (const auto& e : fs::directory_iterator(root))
      if (e.is_directory() && starts_with(e.path().filename().string(), "images")) found.push_back(e.path().string());
    std::sort(found.begin(), found.end());
    o.image_dirs = found.empty() ? std::vector<std::string>{root} : found;
  }
  if (o.size < 8 || o.size > 4096) throw UserError("--size must be between 8 and 4096, got " + std::to_string(o.size));
  if (o.shard_size < 1) throw UserError("--shard-size must be >= 1");
  if (o.compression < 0 || o.compression > 9) throw UserError("--compression must be 0 (none) to 9");
  if (!o.dry_run && o.out.empty()) throw UserError("--out is required (unless --dry-run)");
  if (o.jobs <= 0) o.jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return o;
}

PackResult run_pack(const PackOptions& opts_in) {
  const PackOptions o = resolve_pack_inputs(opts_in);
  PackResult result;

  DataEntryStats stats;
  std::vector<SampleMeta> rows = read_data_entry(o.data_entry, &stats);
  spdlog::info("{}: {} rows ({} format)", o.data_entry, rows.size(), stats.format);
  if (stats.implausible_ages) spdlog::warn("{} ages above 120 stored as unknown (-1)", stats.implausible_ages);
  auto tv = read_image_list(o.train_val_list);
  auto test = read_image_list(o.test_list);
  SplitAssignment sa = assign_splits(rows, tv, test, o.val_fraction, o.seed);
  if (sa.listed_but_not_in_csv)
    spdlog::warn("{} names in the list files have no Data_Entry row (partial CSV?)", sa.listed_but_not_in_csv);

  std::map<std::string, std::vector<NihBox>> boxes;
  if (!o.bbox_list.empty())
    for (auto& b : read_bbox_list(o.bbox_list)) boxes[b.image_index].push_back(b);
  std::map<std::string, std::array<int8_t, kNumExpertLabels>> expert;
  if (!o.expert_labels.empty()) expert = read_expert_labels(o.expert_labels);
  for (auto& m : rows) {
    auto it = expert.find(m.image_index);
    if (it != expert.end()) m.expert_labels = it->second;
  }

  if (o.dry_run) {
    result.summary = summary_table(rows, sa.split_of);
    std::ostringstream s;
    s << result.summary << "shared patients between splits: " << sa.shared_patients << "\n";
    result.summary = s.str();
    return result;
  }

  // Locate images; drop (and list) missing ones only when allowed.
  int64_t duplicate_files = 0;
  auto image_paths = find_images(o.image_dirs, &duplicate_files);
  std::vector<std::string> missing;
  std::vector<size_t> present;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (image_paths.count(rows[i].image_index)) present.push_back(i);
    else missing.push_back(rows[i].image_index);
  }
  result.missing = static_cast<int64_t>(missing.size());
  if (!missing.empty() && !o.allow_missing) {
    std::vector<std::string> first(missing.begin(), missing.begin() + std::min<size_t>(5, missing.size()));
    throw UserError(std::to_string(missing.size()) + " of " + std::to_string(rows.size()) +
                        " images listed in the CSV were not found under " + join(o.image_dirs, ", ") +
                        " (first: " + join(first, ", ") + ")",
                    "pass --images DIR for where the PNGs are, or --allow-missing to pack what is there "
                    "(the missing names are then listed in missing_images.txt)");
  }
  if (present.empty()) throw UserError("none of the CSV's images were found under " + join(o.image_dirs, ", "));
  if (!missing.empty()) spdlog::warn("{} of {} images missing; packing the {} present", missing.size(), rows.size(), present.size());

  // Rows of each split in image-name order; near-equal shards of at most shard_size.
  std::vector<Task> tasks;
  Manifest manifest;
  manifest.schema = kPackSchema;
  manifest.source = "nih-cxr14";
  manifest.classes = class_names();
  manifest.image_size = o.size;
  std::vector<SampleMeta> kept_rows;
  std::vector<Split> kept_split;
  for (size_t i : present) {
    kept_rows.push_back(rows[i]);
    kept_split.push_back(sa.split_of[i]);
  }
  auto kept_summary = summarize(kept_rows, kept_split);
  for (int s = 0; s < 3; ++s) {
    std::vector<size_t> members;
    for (size_t i : present)
      if (static_cast<int>(sa.split_of[i]) == s) members.push_back(i);
    std::sort(members.begin(), members.end(),
              [&](size_t a, size_t b) { return rows[a].image_index < rows[b].image_index; });
    SplitManifest sm;
    sm.name = kSplitNames[s];
    sm.count = static_cast<int64_t>(members.size());
    sm.patients = kept_summary[s].patients;
    sm.positives = kept_summary[s].positives;
    const int64_t n = sm.count;
    const int64_t k = n == 0 ? 0 : (n + o.shard_size - 1) / o.shard_size;
    for (int64_t sh = 0; sh < k; ++sh) {
      int64_t begin = sh * n / k, end = (sh + 1) * n / k;
      sm.shards.push_back(shard_file_name(sm.name, static_cast<int>(sh), static_cast<int>(k)));
      sm.shard_rows.push_back(end - begin);
      for (int64_t r = begin; r < end; ++r)
        tasks.push_back({members[static_cast<size_t>(r)], s, static_cast<int>(sh), r - begin});
    }
    manifest.splits.push_back(std::move(sm));
  }

  fs::path staging = make_staging_dir(o.out);
  try {
    cv::setNumThreads(0);  // our own threads decode; OpenCV's pool would oversubscribe
    auto start = std::chrono::steady_clock::now();
    ProgressBar bar(static_cast<int64_t>(tasks.size()), "pack", "img", o.progress);
    std::unique_ptr<ShardWriter> writer;
    int open_split = 0, open_shard = 0;  // of `writer`
    std::vector<SampleMeta> shard_meta;
    std::vector<BoxRecord> shard_boxes;
    auto close_shard = [&] {
      if (writer) {
        writer->finish(shard_meta, shard_boxes);
        SplitManifest& written = manifest.splits[static_cast<size_t>(open_split)];
        written.shard_sha256.resize(written.shards.size());
        written.shard_sha256[static_cast<size_t>(open_shard)] = writer->sha256();
      }
      writer.reset();
      shard_meta.clear();
      shard_boxes.clear();
    };
    std::vector<cv::Mat> slots(static_cast<size_t>(8 * o.jobs));
    run_ordered(
        tasks.size(), o.jobs, slots,
        [&](size_t t, cv::Mat& img) {
          img = resize_square(decode_grey(image_paths.at(rows[tasks[t].record].image_index)), o.size);
        },
        [&](size_t t, cv::Mat& img) {
          const Task& task = tasks[t];
          if (task.row == 0) {
            close_shard();
            const SplitManifest& sm = manifest.splits[static_cast<size_t>(task.split)];
            open_split = task.split;
            open_shard = task.shard;
            ShardOptions so = shard_options(sm, static_cast<size_t>(task.shard), o.size, o.compression);
            so.expert_labels = !o.expert_labels.empty();
            so.bboxes = !o.bbox_list.empty();
            writer = std::make_unique<ShardWriter>((staging / sm.shards[static_cast<size_t>(task.shard)]).string(), so);
          }
          writer->write_image(task.row, img.ptr<uint8_t>());
          img.release();
          const SampleMeta& m = rows[task.record];
          shard_meta.push_back(m);
          auto bit = boxes.find(m.image_index);
          if (bit != boxes.end()) {
            const float scale = static_cast<float>(o.size / o.bbox_space);
            for (const auto& b : bit->second) {
              BoxRecord r;
              r.row = static_cast<int32_t>(task.row);
              r.cls = static_cast<int8_t>(b.cls);
              for (int q = 0; q < 4; ++q) r.xywh[q] = b.xywh[q] * scale;
              shard_boxes.push_back(r);
            }
          }
          bar.advance();
        });
    close_shard();
    bar.finish();
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.images_written = static_cast<int64_t>(tasks.size());
    result.images_per_second = result.seconds > 0 ? double(result.images_written) / result.seconds : 0;

    nlohmann::json prov;
    prov["tool"] = {{"name", "cxrtrain"}, {"version", CXR_VERSION}};
    prov["command_line"] = o.command_line;
    prov["options"] = {{"size", o.size},           {"val_fraction", o.val_fraction}, {"seed", o.seed},
                       {"shard_size", o.shard_size}, {"compression", o.compression},   {"bbox_space", o.bbox_space},
                       {"allow_missing", o.allow_missing}};
    nlohmann::json sources = nlohmann::json::array();
    auto add_source = [&](const char* role, const std::string& path) {
      if (path.empty()) return;
      sources.push_back({{"role", role},
                         {"path", fs::absolute(path).string()},
                         {"bytes", fs::file_size(path)},
                         {"sha256", sha256_file(path)}});
    };
    add_source("data_entry", o.data_entry);
    add_source("train_val_list", o.train_val_list);
    add_source("test_list", o.test_list);
    add_source("bbox_list", o.bbox_list);
    add_source("expert_labels", o.expert_labels);
    prov["sources"] = sources;
    prov["data_entry_format"] = stats.format;
    prov["images_in_csv"] = rows.size();
    prov["images_missing"] = missing.size();
    prov["duplicate_image_files"] = duplicate_files;
    prov["implausible_ages"] = stats.implausible_ages;
    prov["pixel_spacing"] = "mm per pixel of the original radiograph (see orig_size)";
    prov["bbox_units"] = "pack pixels";
    if (!missing.empty()) atomic_write_file(staging / "missing_images.txt", join(missing, "\n") + "\n");
    atomic_write_file(staging / "manifest.json", manifest_json(manifest, prov.dump()));
    commit_dir(staging, o.out, o.overwrite);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(staging, ec);
    throw;
  }
  result.summary = summary_table(kept_rows, kept_split);
  return result;
}

}  // namespace cxr::data
