// NIH metadata parsers (see nih_metadata.h).
#include "data/nih_metadata.h"

#include <cctype>
#include <stdexcept>
#include <unordered_map>

#include "core/error.h"
#include "core/strings.h"
#include "data/text_reader.h"

namespace cxr::data {
namespace {

// Drops trailing empty fields (the 2017 header's trailing comma, the BBox header's ",,,").
std::vector<std::string> fields_of(const std::string& line) {
  auto f = split(line, ',');
  for (auto& s : f) s = std::string(trim(s));
  while (!f.empty() && f.back().empty()) f.pop_back();
  return f;
}

[[noreturn]] void row_error(const LineReader& r, const std::string& what, const std::string& hint = "") {
  throw UserError(r.where() + ": " + what,
                  hint.empty() ? "fix or remove that row; the file should be the one NIH ships" : hint);
}

const std::vector<std::string> kCoreColumns = {"Image Index",   "Finding Labels", "Follow-up #",   "Patient ID",
                                               "Patient Age",   "Patient Gender", "View Position"};
const std::vector<std::string> kGeometryBracketed = {"OriginalImage[Width", "Height]", "OriginalImagePixelSpacing[x",
                                                     "y]"};
const std::vector<std::string> kGeometryKaggle = {"OriginalImageWidth", "OriginalImageHeight",
                                                  "OriginalImagePixelSpacing_x", "OriginalImagePixelSpacing_y"};
constexpr size_t kDataEntryFields = 11;

template <class F>
auto parse_field(const LineReader& r, const std::string& column, const std::string& value, F&& parse) {
  try {
    return parse(value);
  } catch (const std::exception&) {
    row_error(r, "column '" + column + "' has invalid value '" + value + "'");
  }
}

}  // namespace

int16_t parse_age(const std::string& field, bool* was_months_or_days) {
  std::string t(trim(field));
  if (t.empty()) throw std::invalid_argument("empty age");
  char unit = 'Y';
  if (std::isalpha(static_cast<unsigned char>(t.back()))) {
    unit = static_cast<char>(std::toupper(static_cast<unsigned char>(t.back())));
    t.pop_back();
  }
  long long v = parse_int(t);
  if (v < 0) throw std::invalid_argument("negative age");
  if (was_months_or_days) *was_months_or_days = unit == 'M' || unit == 'D';
  long long years;
  switch (unit) {
    case 'Y': years = v; break;
    case 'M': years = v / 12; break;
    case 'D': years = v / 365; break;
    default: throw std::invalid_argument("unknown age unit");
  }
  return years > 120 ? int16_t{-1} : static_cast<int16_t>(years);
}

std::vector<SampleMeta> read_data_entry(const std::string& path, DataEntryStats* stats) {
  LineReader r(path);
  std::string line;
  if (!r.next(line)) throw UserError(path + " is empty", "pass the Data_Entry_2017(_v2020).csv file NIH ships");
  if (line.size() >= 3 && static_cast<unsigned char>(line[0]) == 0xEF) line.erase(0, 3);  // UTF-8 BOM
  auto header = fields_of(line);
  DataEntryStats local;
  DataEntryStats& st = stats ? *stats : local;
  bool header_ok = header.size() == kDataEntryFields;
  for (size_t i = 0; header_ok && i < kCoreColumns.size(); ++i) header_ok = to_lower(header[i]) == to_lower(kCoreColumns[i]);
  if (header_ok) {
    std::vector<std::string> geom(header.begin() + 7, header.end());
    if (geom == kGeometryBracketed) st.format = "v2020-or-2017";
    else if (geom == kGeometryKaggle) st.format = "kaggle-sample";
    else header_ok = false;
  }
  if (!header_ok) {
    throw UserError(r.where() + ": not a Data_Entry header: '" + line + "'",
                    "expected 'Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,"
                    "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]'");
  }
  bool string_ages = false;
  std::vector<SampleMeta> rows;
  rows.reserve(120000);
  std::unordered_map<std::string, int64_t> seen;
  while (r.next(line)) {
    if (trim(line).empty()) continue;
    auto f = fields_of(line);
    if (f.size() != kDataEntryFields) {
      row_error(r, "expected " + std::to_string(kDataEntryFields) + " comma-separated fields, found " +
                       std::to_string(f.size()));
    }
    SampleMeta m;
    m.image_index = f[0];
    if (m.image_index.empty()) row_error(r, "empty 'Image Index'");
    if (m.image_index.size() > static_cast<size_t>(kImageIndexLength))
      row_error(r, "image name '" + m.image_index + "' is longer than " + std::to_string(kImageIndexLength) +
                       " characters", "NIH names look like 00000001_000.png");
    auto [it, inserted] = seen.emplace(m.image_index, r.line_number());
    if (!inserted) row_error(r, "duplicate image '" + m.image_index + "' (first at line " + std::to_string(it->second) + ")");

    if (f[1] != "No Finding") {
      for (const auto& raw : split(f[1], '|')) {
        std::string label(trim(raw));
        auto c = class_index(label);
        if (!c) {
          row_error(r, "unknown label '" + label + "' in 'Finding Labels' (did you mean '" +
                           nearest(label, class_names()) + "'?)",
                    "labels are the 14 NIH classes or 'No Finding', separated by '|'");
        }
        m.labels[*c] = 1;
      }
    }
    m.follow_up = static_cast<int32_t>(parse_field(r, "Follow-up #", f[2], [](const std::string& v) { return parse_int(v); }));
    m.patient_id = static_cast<int32_t>(parse_field(r, "Patient ID", f[3], [](const std::string& v) { return parse_int(v); }));
    bool unit_age = false;
    m.age = parse_field(r, "Patient Age", f[4], [&](const std::string& v) { return parse_age(v, &unit_age); });
    if (std::isalpha(static_cast<unsigned char>(f[4].back()))) string_ages = true;
    if (unit_age) ++st.month_or_day_ages;
    if (m.age < 0) ++st.implausible_ages;
    const std::string& sex = f[5];
    m.sex = sex == "M" ? kSexMale : sex == "F" ? kSexFemale : kUnknown;
    const std::string& view = f[6];
    m.view = view == "PA" ? kViewPA : view == "AP" ? kViewAP : kUnknown;
    m.orig_size[0] = static_cast<int32_t>(parse_field(r, "OriginalImage Width", f[7], [](const std::string& v) { return parse_int(v); }));
    m.orig_size[1] = static_cast<int32_t>(parse_field(r, "OriginalImage Height", f[8], [](const std::string& v) { return parse_int(v); }));
    m.pixel_spacing[0] = static_cast<float>(parse_field(r, "PixelSpacing x", f[9], [](const std::string& v) { return parse_double(v); }));
    m.pixel_spacing[1] = static_cast<float>(parse_field(r, "PixelSpacing y", f[10], [](const std::string& v) { return parse_double(v); }));
    rows.push_back(std::move(m));
  }
  if (st.format == "v2020-or-2017") st.format = string_ages ? "2017" : "v2020";
  if (rows.empty()) throw UserError(path + " has a header but no rows", "pass the complete Data_Entry file");
  return rows;
}

std::vector<std::string> read_image_list(const std::string& path) {
  LineReader r(path);
  std::string line;
  std::vector<std::string> names;
  std::unordered_map<std::string, int64_t> seen;
  while (r.next(line)) {
    std::string name(trim(line));
    if (name.empty()) continue;
    auto [it, inserted] = seen.emplace(name, r.line_number());
    if (!inserted) row_error(r, "duplicate image '" + name + "' (first at line " + std::to_string(it->second) + ")");
    names.push_back(std::move(name));
  }
  return names;
}

std::vector<NihBox> read_bbox_list(const std::string& path) {
  LineReader r(path);
  std::string line;
  if (!r.next(line) || !starts_with(trim(line), "Image Index,Finding Label")) {
    throw UserError(r.where() + ": not a BBox_List header: '" + line + "'",
                    "expected 'Image Index,Finding Label,Bbox [x,y,w,h],,,'");
  }
  std::vector<NihBox> boxes;
  while (r.next(line)) {
    if (trim(line).empty()) continue;
    auto f = fields_of(line);
    if (f.size() != 6) row_error(r, "expected 6 fields (name, label, x, y, w, h), found " + std::to_string(f.size()));
    NihBox b;
    b.image_index = f[0];
    std::string label = f[1] == "Infiltrate" ? "Infiltration" : f[1];
    auto c = class_index(label);
    if (!c) row_error(r, "unknown box label '" + f[1] + "' (did you mean '" + nearest(label, class_names()) + "'?)");
    b.cls = *c;
    for (int k = 0; k < 4; ++k) {
      b.xywh[k] = static_cast<float>(parse_field(r, "Bbox", f[2 + k], [](const std::string& v) { return parse_double(v); }));
    }
    if (b.xywh[2] <= 0 || b.xywh[3] <= 0) row_error(r, "box has non-positive width or height");
    boxes.push_back(std::move(b));
  }
  return boxes;
}

std::map<std::string, std::array<int8_t, kNumExpertLabels>> read_expert_labels(const std::string& path) {
  LineReader r(path);
  std::string line;
  if (!r.next(line)) throw UserError(path + " is empty", "pass google2019_nih-chest-xray-labels.csv");
  auto header = fields_of(line);
  std::array<size_t, kNumExpertLabels> col{};
  for (int k = 0; k < kNumExpertLabels; ++k) {
    size_t found = header.size();
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == kExpertLabelNames[k]) found = i;
    if (found == header.size() || header.empty() || header[0] != "Image Index") {
      throw UserError(r.where() + ": expert-label header lacks column '" + std::string(kExpertLabelNames[k]) + "'",
                      "expected the Google 2019 file with Fracture, Pneumothorax, Airspace opacity, Nodule or mass");
    }
    col[k] = found;
  }
  std::map<std::string, std::array<int8_t, kNumExpertLabels>> out;
  while (r.next(line)) {
    if (trim(line).empty()) continue;
    auto f = split(line, ',');
    for (auto& s : f) s = std::string(trim(s));
    std::array<int8_t, kNumExpertLabels> v{};
    for (int k = 0; k < kNumExpertLabels; ++k) {
      if (col[k] >= f.size()) row_error(r, "row has " + std::to_string(f.size()) + " fields, too few for the header");
      const std::string& s = f[col[k]];
      if (s == "YES") v[k] = 1;
      else if (s == "NO") v[k] = 0;
      else row_error(r, "column '" + std::string(kExpertLabelNames[k]) + "' is '" + s + "', expected YES or NO");
    }
    if (!out.emplace(f[0], v).second) row_error(r, "duplicate image '" + f[0] + "'");
  }
  return out;
}

}  // namespace cxr::data
