// `cxrtrain pack`: NIH ChestX-ray14 folder, or a generic labelled CSV read through a label map
// (data/labelled_csv.h), -> sharded HDF5 pack (schema cxrtrain.pack/1).
// Parses the metadata, assigns patient-wise splits, finds the images, decodes and resizes them on
// `jobs` threads while one thread writes shards in order, then renames the finished folder into place.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cxr::data {

struct PackOptions {
  std::string nih_root;                 // folder as NIH ships it; the paths below default into it
  std::string data_entry;               // Data_Entry_2017_v2020.csv(.gz) or Data_Entry_2017.csv(.gz)
  std::string train_val_list, test_list;
  std::string bbox_list;                // optional; default BBox_List_2017.csv(.gz) if present
  std::string expert_labels;            // optional; default google2019_nih-chest-xray-labels.csv(.gz) if present
  std::vector<std::string> image_dirs;  // default: <root>/images*/ (recursively), else <root> itself
  // Generic labelled CSV instead of the NIH folder (exclusive with nih_root and the NIH file flags):
  // CSV paths are relative to image_dirs (the first folder holding the file wins).
  std::string csv, label_map;
  std::string split_all;                // "", or train | val | test: every row in that split
  std::string uncertain;                // "", or zeros | ones | exclude: overrides the label map's
  std::string out;
  int size = 256;
  double val_fraction = 0.1;
  uint64_t seed = 0;
  int shard_size = 4096;                // images per shard (at most)
  int jobs = 0;                         // decoding threads; 0 = all cores
  int compression = 0;                  // gzip level for images; 0 = none (fastest reads)
  double bbox_space = 1024;             // side of the pixel space BBox_List coordinates are given in
  bool dry_run = false, allow_missing = false, overwrite = false, progress = true;
  std::string command_line;             // recorded in manifest.json
};

struct PackResult {
  int64_t images_written = 0;
  int64_t missing = 0;
  double seconds = 0;                   // decode + write time
  double images_per_second = 0;
  std::string summary;                  // the per-split table printed to the user
};

// Resolves default paths from nih_root (or checks the --csv inputs); throws UserError naming anything
// required that is missing or any flags that do not go together.
PackOptions resolve_pack_inputs(PackOptions options);

PackResult run_pack(const PackOptions& options);

}  // namespace cxr::data
