// The pack format, schema "cxrtrain.pack/1" (see ../shared/DESIGN.md, "Pack format"): what one row
// of a shard holds, and the names of shard files and datasets. Torch-free.
//
//   images uint8 [N,H,W] (one image per chunk)   labels uint8 [N,14]      image_index string [N]
//   patient_id int32 [N]  age int16 [N] (-1)      sex int8 [N]  view int8 [N]  follow_up int32 [N]
//   orig_size int32 [N,2] (width, height of the original radiograph, from the CSV)
//   pixel_spacing float32 [N,2] (x, y in mm per pixel of the *original* radiograph, from the CSV;
//                                 mm per pack pixel = pixel_spacing * orig_size / image side)
//   optional: bbox_row int32 [K], bbox_class int8 [K], bbox_xywh float32 [K,4] (pack pixels),
//             expert_labels int8 [N,4], lesion_mask uint16 [N,H,W], shortcut uint8 [N]
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "data/classes.h"

namespace cxr::data {

constexpr const char* kPackSchema = "cxrtrain.pack/1";
constexpr int kImageIndexLength = 16;  // "00000001_000.png"; longer names are an error when packing

struct SampleMeta {
  std::string image_index;
  std::array<uint8_t, kNumClasses> labels{};
  int32_t patient_id = 0;
  int16_t age = -1;
  int8_t sex = kUnknown;
  int8_t view = kUnknown;
  int32_t follow_up = 0;
  std::array<int32_t, 2> orig_size{0, 0};
  std::array<float, 2> pixel_spacing{0.f, 0.f};
  std::array<int8_t, kNumExpertLabels> expert_labels{-1, -1, -1, -1};
};

struct BoxRecord {
  int32_t row = 0;  // row within the shard
  int8_t cls = 0;   // class index
  std::array<float, 4> xywh{};  // pack pixels
};

// "train-00003-of-00012.h5"
std::string shard_file_name(const std::string& split, int index, int count);

}  // namespace cxr::data
