// A generic labelled CSV (one row per image: path, patient, sex, age, view, labels) read through a
// label-mapping file (YAML, format `cxrtrain.label_map/1`, docs/datasets.md) into the same SampleMeta
// records the NIH parser makes, so `pack` reuses its decode/resize/shard/manifest pipeline unchanged.
// Mappings for CheXpert and PadChest ship in configs/label_maps/. Every row is validated before anything
// is sized: a bad row is a UserError naming file:line and column. NIH classes no source label maps
// onto are "not evaluable" (label 0 in the pack, listed in manifest.json `classes_not_evaluable`).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "data/pack_format.h"
#include "data/splits.h"

namespace cxr::data {

constexpr const char* kLabelMapFormat = "cxrtrain.label_map/1";

// Where one metadata value comes from: a CSV column, optionally narrowed by a regex (group 1 is the
// value; the whole match without a group), then translated through `values` (raw text -> target).
struct FieldSpec {
  std::string column;  // empty = not given
  std::string regex_text;
  std::shared_ptr<const std::regex> regex;  // null = none; shared so copies of a map share it
  std::map<std::string, std::string> values;  // for sex / view / split; empty for free values
  int64_t offset = 0;                         // added to an integer value (follow_up: study1 -> 0)
};

enum class Uncertain { kZeros, kOnes, kExclude };

struct LabelMap {
  std::string path, name, sha256;
  std::string path_template;              // "{Path}" or "{ImageDir}/{ImageID}"
  std::vector<std::string> path_columns;  // the columns the template names
  FieldSpec patient, sex, view, split, follow_up, keep;
  std::vector<std::string> keep_values;              // rows whose keep.column holds another value are skipped
  FieldSpec age;                                     // age.column: years ("57", "060Y"); or the two below
  std::string birth_year_column, study_date_column;  // age = year(study date YYYYMMDD...) - birth year

  bool list_labels = false;  // false: one column per source label; true: one list column
  // kind: columns
  std::map<std::string, int> cell_values;  // raw cell -> 1 positive, 0 negative, -1 uncertain
  Uncertain uncertain = Uncertain::kZeros;
  // kind: list
  std::string list_column;
  std::string separator = "|";  // for cells that are not a bracketed list
  bool ignore_unknown = false;
  std::string blank = "error";                 // blank list cell: error | skip | negative
  std::vector<std::string> exclude_rows_with;  // e.g. PadChest's 'exclude'
  std::vector<std::string> known_unmapped;     // names known to the mapping but mapped to no class

  // Per NIH class (label-column order): the source labels (column names or list names) that make it
  // positive; empty = not evaluable.
  std::array<std::vector<std::string>, kNumClasses> sources;
  std::vector<int> not_evaluable() const;
};

// Reads and checks a mapping file: unknown keys name the nearest valid key, every one of the 14 NIH
// classes must be listed (source labels or "not evaluable"), value maps target only known values.
LabelMap read_label_map(const std::string& path);

struct LabelledRow {
  SampleMeta meta;             // image_index = "row" + the CSV line, zero-padded (fits string[16])
  std::string path;            // as the CSV gives it (template applied), relative to --images
  std::string patient;         // the source's patient identifier
  int64_t line = 0;            // first line of the record in the CSV
  std::optional<Split> split;  // from the split column, when the mapping names one
};

struct LabelledCsv {
  std::vector<LabelledRow> rows;  // in CSV order
  std::string format_note;        // e.g. "2 label columns" / "list column 'Labels'"
  int64_t records = 0;            // data records read
  int64_t skipped_keep = 0;       // filtered out by `keep`
  int64_t skipped_uncertain = 0;  // uncertain: exclude
  int64_t skipped_blank = 0;      // blank list cell with blank: skip
  int64_t skipped_excluded = 0;   // exclude_rows_with
  int64_t unknown_ages = 0;
  std::map<std::string, int64_t> unknown_labels;  // ignore_unknown: name -> count
  bool patient_ids_from_source = false;           // true: the source ids were integers, kept as they are
};

// Reads `csv_path` (plain or .gz; RFC 4180 quoting, quoted fields may span lines) through `map`.
// Patient identifiers become int32 ids: the source's own when all are distinct integers in int32
// range, else 0.. in sorted order of the source strings. Duplicate paths are an error.
LabelledCsv read_labelled_csv(const std::string& csv_path, const LabelMap& map);

// Splits: the split column's values when the mapping names one (a patient in two splits is an error);
// `split_all` ("train" | "val" | "test") puts every row in that split; otherwise the NIH path's seeded
// patient-wise split of all rows into train and val (assign_splits with an empty test list).
SplitAssignment assign_labelled_splits(const LabelledCsv& csv, const std::string& split_all, double val_fraction,
                                       uint64_t seed);

// One CSV record split into fields (RFC 4180: "" inside quotes is a quote). Exposed for tests.
std::vector<std::string> split_csv_record(const std::string& record);
// "['pleural effusion', 'cardiomegaly']" or "a|b" -> the trimmed names; "[]" -> none.
std::vector<std::string> parse_label_list(const std::string& cell, const std::string& separator);

}  // namespace cxr::data
