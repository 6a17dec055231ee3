// Parsers for the NIH ChestX-ray14 metadata files, as NIH and its mirrors ship them:
//  - Data_Entry_2017_v2020.csv, the 2017 Data_Entry_2017.csv (trailing comma in the header, ages
//    like "060Y"/"013M"/"001D") and the Kaggle sample's variant header; CRLF or LF; .csv or .csv.gz;
//    header names with unquoted commas ("OriginalImage[Width,Height]") are split like the rows.
//  - train_val_list.txt / test_list.txt, BBox_List_2017.csv ("Infiltrate" = Infiltration; boxes in
//    the 1024x1024 pixel space of the released PNGs), google2019_nih-chest-xray-labels.csv(.gz).
// Every malformed row is a UserError naming file and line.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/pack_format.h"

namespace cxr::data {

struct DataEntryStats {
  std::string format;               // "v2020", "2017" or "kaggle-sample"
  int64_t implausible_ages = 0;     // ages > 120 (e.g. 411 in the 2017 file), stored as -1
  int64_t month_or_day_ages = 0;    // "013M" / "001D" style ages, converted to whole years
};

// One SampleMeta per row (expert_labels left at -1). Duplicate image names are an error.
std::vector<SampleMeta> read_data_entry(const std::string& path, DataEntryStats* stats = nullptr);

// Parses an age field: "57", "060Y", "013M" (months), "001D" (days) -> whole years.
// Returns -1 for ages above 120; throws std::invalid_argument for anything else.
int16_t parse_age(const std::string& field, bool* was_months_or_days = nullptr);

// One image name per line; blank lines ignored; duplicates are an error.
std::vector<std::string> read_image_list(const std::string& path);

struct NihBox {
  std::string image_index;
  int cls = 0;
  std::array<float, 4> xywh{};  // 1024x1024 PNG pixel space
};
std::vector<NihBox> read_bbox_list(const std::string& path);

// Google 2019 expert labels: image name -> {Fracture, Pneumothorax, Airspace opacity, Nodule or mass},
// 1 = YES, 0 = NO. Images absent from the file are "not reviewed" (-1) in packs.
std::map<std::string, std::array<int8_t, kNumExpertLabels>> read_expert_labels(const std::string& path);

}  // namespace cxr::data
