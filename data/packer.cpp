// The pack pipeline (see packer.h).
#include "data/packer.h"

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
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
#include "data/labelled_csv.h"
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

// What a source (the NIH folder, a labelled CSV) hands to the shared half: the rows, their splits and
// files, and what the manifest says about where they came from.
struct PackPlan {
  std::vector<SampleMeta> rows;
  std::vector<Split> split_of;
  std::vector<std::string> files;                       // per row; "" = not found on disk
  std::string searched;                                 // where images were looked for (messages)
  std::map<std::string, std::vector<NihBox>> boxes;     // by image_index
  bool expert_labels = false, bboxes = false;
  std::string source;                                   // manifest.json "source"
  std::vector<std::string> not_evaluable;               // manifest.json "classes_not_evaluable"
  nlohmann::json provenance = nlohmann::json::object(); // source-specific keys
  nlohmann::json sources = nlohmann::json::array();     // {role, path, bytes, sha256}
  // A file written into the pack beside manifest.json, from the rows packed (indices into `rows`).
  std::function<std::string(const std::vector<size_t>& kept)> side_file;
  std::string side_file_name;
  std::string dry_run_note;                             // appended to the --dry-run summary
};

void add_source(nlohmann::json& sources, const char* role, const std::string& path) {
  if (path.empty()) return;
  sources.push_back({{"role", role},
                     {"path", fs::absolute(path).string()},
                     {"bytes", fs::file_size(path)},
                     {"sha256", sha256_file(path)}});
}

std::string not_evaluable_line(const std::vector<std::string>& classes) {
  if (classes.empty()) return "";
  return "not evaluable (no source label maps onto them; label 0 in the pack): " + join(classes, ", ") + "\n";
}

}  // namespace

PackOptions resolve_pack_inputs(PackOptions o) {
  if (!o.csv.empty()) {
    std::vector<std::string> nih;
    if (!o.nih_root.empty()) nih.push_back("--nih-root");
    if (!o.data_entry.empty()) nih.push_back("--data-entry");
    if (!o.train_val_list.empty()) nih.push_back("--train-val-list");
    if (!o.test_list.empty()) nih.push_back("--test-list");
    if (!o.bbox_list.empty()) nih.push_back("--bbox-list");
    if (!o.expert_labels.empty()) nih.push_back("--expert-labels");
    if (!nih.empty())
      throw UserError("--csv and " + join(nih, ", ") + " cannot be used together: a pack comes from the NIH folder or from a labelled CSV",
                      "pass --nih-root DIR for NIH ChestX-ray14, or --csv FILE --label-map FILE --images DIR for any other data set");
    if (!fs::exists(o.csv)) throw UserError("--csv '" + o.csv + "' does not exist", "check the path");
    if (o.label_map.empty())
      throw UserError("--csv needs --label-map FILE (which columns hold what, and how labels map onto the 14 NIH classes)",
                      "configs/label_maps/ has chexpert.yaml and padchest.yaml; docs/datasets.md describes the format");
    if (o.image_dirs.empty() && !o.dry_run)
      throw UserError("--csv needs --images DIR: the folder the CSV's image paths are relative to",
                      "for CheXpert, the folder that holds CheXpert-v1.0-small/; for PadChest, the folder that holds the numbered image folders");
    if (!o.uncertain.empty() && o.uncertain != "zeros" && o.uncertain != "ones" && o.uncertain != "exclude")
      throw UserError("--uncertain is '" + o.uncertain + "'; expected zeros, ones or exclude");
  } else {
    if (!o.label_map.empty() || !o.split_all.empty() || !o.uncertain.empty())
      throw UserError("--label-map, --split-all and --uncertain go with --csv", "pass --csv FILE, or drop them for the NIH folder");
    const std::string& root = o.nih_root;
    auto need = [&](std::string& field, const std::vector<std::string>& names, const char* flag) {
      if (!field.empty()) {
        if (!fs::exists(field)) throw UserError(std::string(flag) + " '" + field + "' does not exist", "check the path");
        return;
      }
      if (!root.empty()) field = first_existing(root, names);
      if (field.empty()) {
        throw UserError("cannot find " + join(names, " or ") + (root.empty() ? "" : " in '" + root + "'"),
                        std::string("pass --nih-root DIR (the folder as NIH ships it) or ") + flag +
                            " FILE (or --csv FILE --label-map FILE for another data set)");
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
  }
  if (o.size < 8 || o.size > 4096) throw UserError("--size must be between 8 and 4096, got " + std::to_string(o.size));
  if (o.shard_size < 1) throw UserError("--shard-size must be >= 1");
  if (o.compression < 0 || o.compression > 9) throw UserError("--compression must be 0 (none) to 9");
  if (!o.dry_run && o.out.empty()) throw UserError("--out is required (unless --dry-run)");
  if (o.jobs <= 0) o.jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return o;
}

namespace {

// The NIH folder: Data_Entry CSV, official lists, boxes, expert labels; images found by file name.
PackPlan plan_nih(const PackOptions& o) {
  PackPlan plan;
  DataEntryStats stats;
  plan.rows = read_data_entry(o.data_entry, &stats);
  const std::vector<SampleMeta>& rows = plan.rows;
  spdlog::info("{}: {} rows ({} format)", o.data_entry, rows.size(), stats.format);
  if (stats.implausible_ages) spdlog::warn("{} ages above 120 stored as unknown (-1)", stats.implausible_ages);
  auto tv = read_image_list(o.train_val_list);
  auto test = read_image_list(o.test_list);
  SplitAssignment sa = assign_splits(rows, tv, test, o.val_fraction, o.seed);
  if (sa.listed_but_not_in_csv)
    spdlog::warn("{} names in the list files have no Data_Entry row (partial CSV?)", sa.listed_but_not_in_csv);
  plan.split_of = sa.split_of;
  plan.dry_run_note = "shared patients between splits: " + std::to_string(sa.shared_patients) + "\n";

  if (!o.bbox_list.empty())
    for (auto& b : read_bbox_list(o.bbox_list)) plan.boxes[b.image_index].push_back(b);
  std::map<std::string, std::array<int8_t, kNumExpertLabels>> expert;
  if (!o.expert_labels.empty()) expert = read_expert_labels(o.expert_labels);
  for (auto& m : plan.rows) {
    auto it = expert.find(m.image_index);
    if (it != expert.end()) m.expert_labels = it->second;
  }
  plan.expert_labels = !o.expert_labels.empty();
  plan.bboxes = !o.bbox_list.empty();
  plan.source = "nih-cxr14";
  if (o.dry_run) return plan;

  int64_t duplicate_files = 0;
  auto image_paths = find_images(o.image_dirs, &duplicate_files);
  plan.searched = join(o.image_dirs, ", ");
  for (const auto& m : rows) {
    auto it = image_paths.find(m.image_index);
    plan.files.push_back(it == image_paths.end() ? std::string() : it->second);
  }
  add_source(plan.sources, "data_entry", o.data_entry);
  add_source(plan.sources, "train_val_list", o.train_val_list);
  add_source(plan.sources, "test_list", o.test_list);
  add_source(plan.sources, "bbox_list", o.bbox_list);
  add_source(plan.sources, "expert_labels", o.expert_labels);
  plan.provenance["data_entry_format"] = stats.format;
  plan.provenance["duplicate_image_files"] = duplicate_files;
  plan.provenance["implausible_ages"] = stats.implausible_ages;
  plan.provenance["bbox_units"] = "pack pixels";
  return plan;
}

// A labelled CSV through a label map; image paths relative to the --images folders.
PackPlan plan_labelled_csv(const PackOptions& o) {
  PackPlan plan;
  LabelMap map = read_label_map(o.label_map);
  if (!o.uncertain.empty())
    map.uncertain = o.uncertain == "ones" ? Uncertain::kOnes : o.uncertain == "exclude" ? Uncertain::kExclude : Uncertain::kZeros;
  LabelledCsv csv = read_labelled_csv(o.csv, map);
  spdlog::info("{}: {} records, {} kept (label map '{}', {})", o.csv, csv.records, csv.rows.size(), map.name, csv.format_note);
  if (csv.skipped_keep) spdlog::info("{} rows skipped by the label map's keep filter", csv.skipped_keep);
  if (csv.skipped_uncertain) spdlog::warn("{} rows skipped: uncertain label with uncertain = exclude", csv.skipped_uncertain);
  if (csv.skipped_blank) spdlog::warn("{} rows skipped: blank label list", csv.skipped_blank);
  if (csv.skipped_excluded) spdlog::info("{} rows skipped: labelled with one of {}", csv.skipped_excluded, join(map.exclude_rows_with, ", "));
  if (!csv.unknown_labels.empty()) {
    int64_t total = 0;
    for (const auto& kv : csv.unknown_labels) total += kv.second;
    spdlog::warn("{} mentions of {} label names the map does not know were ignored (ignore_unknown)", total, csv.unknown_labels.size());
  }
  if (csv.rows.empty()) throw UserError(o.csv + ": no rows left to pack", "check the label map's keep filter and label settings");
  SplitAssignment sa = assign_labelled_splits(csv, o.split_all, o.val_fraction, o.seed);
  plan.split_of = sa.split_of;
  for (int c : map.not_evaluable()) plan.not_evaluable.push_back(kClassNames[c]);
  plan.dry_run_note = not_evaluable_line(plan.not_evaluable);
  plan.source = "labelled-csv";
  for (const auto& row : csv.rows) plan.rows.push_back(row.meta);

  const char* uncertain = map.uncertain == Uncertain::kOnes ? "ones" : map.uncertain == Uncertain::kExclude ? "exclude" : "zeros";
  nlohmann::json lm = {{"name", map.name},
                       {"file", fs::path(map.path).filename().string()},
                       {"sha256", map.sha256},
                       {"labels", map.list_labels ? "list" : "columns"}};
  if (!map.list_labels) lm["uncertain"] = uncertain;
  nlohmann::json mapping = nlohmann::json::object();
  for (int c = 0; c < kNumClasses; ++c) mapping[kClassNames[c]] = map.sources[static_cast<size_t>(c)];
  lm["classes"] = mapping;
  plan.provenance["label_map"] = lm;
  plan.provenance["split"] = !o.split_all.empty() ? "all rows to '" + o.split_all + "' (--split-all)"
                             : !map.split.column.empty() ? "from column '" + map.split.column + "'"
                                                         : "by patient into train/val (--val-fraction, --seed)";
  plan.provenance["rows_skipped"] = {{"keep_filter", csv.skipped_keep},
                                     {"uncertain_excluded", csv.skipped_uncertain},
                                     {"blank_labels", csv.skipped_blank},
                                     {"excluding_label", csv.skipped_excluded}};
  plan.provenance["unknown_labels_ignored"] = csv.unknown_labels;
  plan.provenance["unknown_ages"] = csv.unknown_ages;
  plan.provenance["patient_ids"] = csv.patient_ids_from_source ? "the source's own (integers)"
                                                               : "0.. in sorted order of the source's patient identifiers (see image_index.csv)";
  plan.provenance["follow_up"] = map.follow_up.column.empty() ? "not in the source: 0 for every image" : "from column '" + map.follow_up.column + "'";
  plan.provenance["image_index"] = "'row' + the CSV line of the image's record; image_index.csv maps it to the CSV path and patient";
  if (o.dry_run) return plan;

  plan.searched = join(o.image_dirs, ", ");
  for (const auto& d : o.image_dirs)
    if (!fs::is_directory(d)) throw UserError("image folder '" + d + "' does not exist", "check --images");
  for (const auto& row : csv.rows) {
    std::string found;
    for (const auto& d : o.image_dirs) {
      fs::path p = fs::path(d) / row.path;
      if (fs::is_regular_file(p)) {
        found = p.string();
        break;
      }
    }
    plan.files.push_back(found);
  }
  add_source(plan.sources, "labelled_csv", o.csv);
  add_source(plan.sources, "label_map", o.label_map);
  auto rows = std::make_shared<std::vector<LabelledRow>>(std::move(csv.rows));
  plan.side_file_name = "image_index.csv";
  plan.side_file = [rows](const std::vector<size_t>& kept) {
    auto quote = [](const std::string& v) {
      if (v.find_first_of(",\"\n") == std::string::npos) return v;
      std::string q = "\"";
      for (char ch : v) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
      return q + "\"";
    };
    std::string out = "image_index,path,patient,patient_id,csv_line\n";
    for (size_t i : kept) {
      const LabelledRow& r = (*rows)[i];
      out += r.meta.image_index + "," + quote(r.path) + "," + quote(r.patient) + "," + std::to_string(r.meta.patient_id) + "," +
             std::to_string(r.line) + "\n";
    }
    return out;
  };
  return plan;
}

}  // namespace

PackResult run_pack(const PackOptions& opts_in) {
  const PackOptions o = resolve_pack_inputs(opts_in);
  PackResult result;
  PackPlan plan = o.csv.empty() ? plan_nih(o) : plan_labelled_csv(o);
  const std::vector<SampleMeta>& rows = plan.rows;

  if (o.dry_run) {
    result.summary = summary_table(rows, plan.split_of) + plan.dry_run_note;
    return result;
  }

  // Drop (and list) missing images only when allowed.
  std::vector<std::string> missing;
  std::vector<size_t> present;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!plan.files[i].empty()) present.push_back(i);
    else missing.push_back(rows[i].image_index);
  }
  result.missing = static_cast<int64_t>(missing.size());
  if (!missing.empty() && !o.allow_missing) {
    std::vector<std::string> first(missing.begin(), missing.begin() + std::min<size_t>(5, missing.size()));
    throw UserError(std::to_string(missing.size()) + " of " + std::to_string(rows.size()) +
                        " images listed in the CSV were not found under " + plan.searched +
                        " (first: " + join(first, ", ") + ")",
                    "pass --images DIR for where the images are, or --allow-missing to pack what is there "
                    "(the missing names are then listed in missing_images.txt)");
  }
  if (present.empty()) throw UserError("none of the CSV's images were found under " + plan.searched);
  if (!missing.empty()) spdlog::warn("{} of {} images missing; packing the {} present", missing.size(), rows.size(), present.size());

  // Rows of each split in image-name order; near-equal shards of at most shard_size.
  std::vector<Task> tasks;
  Manifest manifest;
  manifest.schema = kPackSchema;
  manifest.source = plan.source;
  manifest.classes = class_names();
  manifest.image_size = o.size;
  manifest.classes_not_evaluable = plan.not_evaluable;
  std::vector<SampleMeta> kept_rows;
  std::vector<Split> kept_split;
  for (size_t i : present) {
    kept_rows.push_back(rows[i]);
    kept_split.push_back(plan.split_of[i]);
  }
  auto kept_summary = summarize(kept_rows, kept_split);
  for (int s = 0; s < 3; ++s) {
    std::vector<size_t> members;
    for (size_t i : present)
      if (static_cast<int>(plan.split_of[i]) == s) members.push_back(i);
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
        [&](size_t t, cv::Mat& img) { img = resize_square(decode_grey(plan.files[tasks[t].record]), o.size); },
        [&](size_t t, cv::Mat& img) {
          const Task& task = tasks[t];
          if (task.row == 0) {
            close_shard();
            const SplitManifest& sm = manifest.splits[static_cast<size_t>(task.split)];
            open_split = task.split;
            open_shard = task.shard;
            ShardOptions so = shard_options(sm, static_cast<size_t>(task.shard), o.size, o.compression);
            so.expert_labels = plan.expert_labels;
            so.bboxes = plan.bboxes;
            so.source = plan.source;
            writer = std::make_unique<ShardWriter>((staging / sm.shards[static_cast<size_t>(task.shard)]).string(), so);
          }
          writer->write_image(task.row, img.ptr<uint8_t>());
          img.release();
          const SampleMeta& m = rows[task.record];
          shard_meta.push_back(m);
          auto bit = plan.boxes.find(m.image_index);
          if (bit != plan.boxes.end()) {
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

    nlohmann::json prov = plan.provenance;
    prov["tool"] = {{"name", "cxrtrain"}, {"version", CXR_VERSION}};
    prov["command_line"] = o.command_line;
    prov["options"] = {{"size", o.size},           {"val_fraction", o.val_fraction}, {"seed", o.seed},
                       {"shard_size", o.shard_size}, {"compression", o.compression},   {"bbox_space", o.bbox_space},
                       {"allow_missing", o.allow_missing}};
    if (!o.csv.empty()) {
      prov["options"].erase("bbox_space");
      prov["options"]["split_all"] = o.split_all;
      prov["options"]["uncertain"] = o.uncertain;
    }
    prov["sources"] = plan.sources;
    prov["images_in_csv"] = rows.size();
    prov["images_missing"] = missing.size();
    prov["pixel_spacing"] = "mm per pixel of the original radiograph (see orig_size)";
    if (!missing.empty()) atomic_write_file(staging / "missing_images.txt", join(missing, "\n") + "\n");
    if (plan.side_file) {
      std::vector<size_t> kept = present;
      std::sort(kept.begin(), kept.end(), [&](size_t a, size_t b) { return rows[a].image_index < rows[b].image_index; });
      atomic_write_file(staging / plan.side_file_name, plan.side_file(kept));
    }
    atomic_write_file(staging / "manifest.json", manifest_json(manifest, prov.dump()));
    commit_dir(staging, o.out, o.overwrite);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(staging, ec);
    throw;
  }
  result.summary = summary_table(kept_rows, kept_split) + not_evaluable_line(plan.not_evaluable);
  return result;
}

}  // namespace cxr::data
