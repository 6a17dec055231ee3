// Generic labelled CSV + label mapping -> SampleMeta records (see labelled_csv.h, docs/datasets.md).
// GCC 12 reports a false -Wmaybe-uninitialized inside <regex>'s compiler (GCC bug 105562) once it is
// instantiated, as here; silence it for that header only (included before labelled_csv.h includes it).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop

#include "data/labelled_csv.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <unordered_map>

#include "core/error.h"
#include "core/sha256.h"
#include "core/strings.h"
#include "data/nih_metadata.h"
#include "data/text_reader.h"

namespace cxr::data {
namespace {

namespace fs = std::filesystem;

constexpr const char* kNotEvaluable = "not evaluable";

// ---- the mapping file -------------------------------------------------------------------------------

[[noreturn]] void map_error(const std::string& path, const std::string& what, const std::string& hint = "") {
  throw UserError(
      path + ": " + what,
      hint.empty() ? "see docs/datasets.md for the label map format, or start from configs/label_maps/" : hint);
}

void check_keys(const std::string& path, const YAML::Node& node, const std::string& where,
                const std::vector<std::string>& valid) {
  if (!node.IsMap()) map_error(path, "'" + where + "' must be a mapping");
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    if (std::find(valid.begin(), valid.end(), key) == valid.end())
      map_error(path, "unknown key '" + (where.empty() ? key : where + "." + key) + "'; did you mean '" +
                          nearest(key, valid) + "'?");
  }
}

std::string scalar(const std::string& path, const YAML::Node& node, const std::string& where) {
  if (!node.IsScalar()) map_error(path, "'" + where + "' must be a single value");
  return node.as<std::string>();
}

bool boolean(const std::string& path, const YAML::Node& node, const std::string& where) {
  const std::string v = to_lower(scalar(path, node, where));
  if (v == "true" || v == "yes") return true;
  if (v == "false" || v == "no") return false;
  map_error(path, "'" + where + "' is '" + v + "'; expected true or false");
}

std::vector<std::string> string_list(const std::string& path, const YAML::Node& node, const std::string& where) {
  if (!node.IsSequence()) map_error(path, "'" + where + "' must be a list");
  std::vector<std::string> out;
  for (const auto& v : node) out.push_back(scalar(path, v, where + " entry"));
  return out;
}

// A field given as a column name, or as {column, regex, values, offset}. `targets` lists what `values`
// may map onto (empty: no value map allowed).
FieldSpec field_spec(const std::string& path, const YAML::Node& node, const std::string& where,
                     const std::vector<std::string>& targets, bool allow_offset = false) {
  FieldSpec f;
  if (!node) return f;
  if (node.IsScalar()) {
    f.column = node.as<std::string>();
  } else {
    std::vector<std::string> keys = {"column", "regex"};
    if (!targets.empty()) keys.push_back("values");
    if (allow_offset) keys.push_back("offset");
    check_keys(path, node, where, keys);
    if (!node["column"]) map_error(path, "'" + where + ".column' is missing");
    f.column = scalar(path, node["column"], where + ".column");
    if (node["regex"]) {
      f.regex_text = scalar(path, node["regex"], where + ".regex");
      try {
        f.regex = std::make_shared<const std::regex>(f.regex_text, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        map_error(path, "'" + where + ".regex' (" + f.regex_text + ") is not a valid regular expression: " + e.what());
      }
    }
    if (node["offset"]) {
      try {
        f.offset = parse_int(scalar(path, node["offset"], where + ".offset"));
      } catch (const std::invalid_argument&) {
        map_error(path, "'" + where + ".offset' must be an integer");
      }
    }
    if (node["values"]) {
      if (!node["values"].IsMap()) map_error(path, "'" + where + ".values' must be a mapping (source value: target)");
      for (const auto& kv : node["values"]) {
        const std::string from = kv.first.IsNull() ? "" : kv.first.as<std::string>();
        const std::string to = kv.second.IsNull() ? "" : scalar(path, kv.second, where + ".values." + from);
        if (std::find(targets.begin(), targets.end(), to) == targets.end())
          map_error(path,
                    "'" + where + ".values." + from + "' is '" + to + "'; the targets are " + join(targets, ", "));
        f.values[std::string(trim(from))] = to;
      }
    }
  }
  if (f.column.empty()) map_error(path, "'" + where + "' names an empty column");
  if (!targets.empty() && f.values.empty())
    map_error(path, "'" + where + "' needs 'values' mapping the column's values onto " + join(targets, ", "));
  return f;
}

// "{ImageDir}/{ImageID}" -> the column names in braces.
std::vector<std::string> template_columns(const std::string& path, const std::string& tpl) {
  std::vector<std::string> cols;
  size_t pos = 0;
  while ((pos = tpl.find('{', pos)) != std::string::npos) {
    size_t end = tpl.find('}', pos);
    if (end == std::string::npos) map_error(path, "'path' template '" + tpl + "' has an unclosed '{'");
    cols.push_back(tpl.substr(pos + 1, end - pos - 1));
    pos = end + 1;
  }
  if (cols.empty()) map_error(path, "'path' template '" + tpl + "' names no column", "write e.g. path: \"{Path}\"");
  return cols;
}

// ---- CSV records ------------------------------------------------------------------------------------

// Reads one record; quoted fields may hold line breaks (the record then spans lines).
bool next_record(LineReader& r, std::string& record, int64_t& first_line) {
  if (!r.next(record)) return false;
  first_line = r.line_number();
  auto open_quote = [](const std::string& s) {
    size_t quotes = static_cast<size_t>(std::count(s.begin(), s.end(), '"'));
    return quotes % 2 == 1;
  };
  std::string more;
  while (open_quote(record)) {
    if (!r.next(more))
      throw UserError(r.path() + ":" + std::to_string(first_line) + ": a quoted field is never closed",
                      "check the quoting of that row (a field with a comma or quote is written \"like \"\"this\"\"\")");
    record += "\n" + more;
  }
  return true;
}

// "1944.0" / "1944" -> 1944.
bool parse_whole_number(const std::string& text, long long* out) {
  try {
    *out = parse_int(text);
    return true;
  } catch (const std::invalid_argument&) {
  }
  try {
    double d = parse_double(text);
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) {
      *out = static_cast<long long>(d);
      return true;
    }
  } catch (const std::invalid_argument&) {
  }
  return false;
}

std::string quoted_list(const std::map<std::string, std::string>& values) {
  std::vector<std::string> keys;
  for (const auto& kv : values) keys.push_back("'" + kv.first + "'");
  return join(keys, ", ");
}

}  // namespace

std::vector<int> LabelMap::not_evaluable() const {
  std::vector<int> out;
  for (int c = 0; c < kNumClasses; ++c)
    if (sources[static_cast<size_t>(c)].empty()) out.push_back(c);
  return out;
}

LabelMap read_label_map(const std::string& path) {
  if (!fs::exists(path))
    throw UserError("label map '" + path + "' does not exist",
                    "pass --label-map FILE; configs/label_maps/ has chexpert.yaml and padchest.yaml");
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    map_error(path, std::string("not valid YAML: ") + e.what());
  }
  LabelMap m;
  m.path = path;
  m.sha256 = sha256_file(path);
  check_keys(
      path, root, "",
      {"format", "name", "path", "patient", "sex", "age", "view", "follow_up", "split", "keep", "labels", "classes"});
  if (!root["format"] || scalar(path, root["format"], "format") != kLabelMapFormat)
    map_error(path, std::string("'format' must be '") + kLabelMapFormat + "'",
              std::string("start the file with: format: ") + kLabelMapFormat);
  m.name = root["name"] ? scalar(path, root["name"], "name") : fs::path(path).stem().string();
  if (!root["path"]) map_error(path, "'path' is missing", "name the image path column, e.g. path: \"{Path}\"");
  m.path_template = scalar(path, root["path"], "path");
  if (m.path_template.find('{') == std::string::npos) m.path_template = "{" + m.path_template + "}";
  m.path_columns = template_columns(path, m.path_template);
  if (!root["patient"])
    map_error(path, "'patient' is missing", "name the patient column (patient-wise splits need it)");
  m.patient = field_spec(path, root["patient"], "patient", {});
  m.sex = field_spec(path, root["sex"], "sex", {"M", "F", "unknown"});
  m.view = field_spec(path, root["view"], "view", {"PA", "AP", "other"});
  m.split = field_spec(path, root["split"], "split", {"train", "val", "test"});
  m.follow_up = field_spec(path, root["follow_up"], "follow_up", {}, /*allow_offset=*/true);
  if (const YAML::Node a = root["age"]) {
    if (a.IsScalar()) {
      m.age.column = a.as<std::string>();
    } else {
      check_keys(path, a, "age", {"column", "birth_year_column", "study_date_column"});
      if (a["column"]) m.age.column = scalar(path, a["column"], "age.column");
      if (a["birth_year_column"]) m.birth_year_column = scalar(path, a["birth_year_column"], "age.birth_year_column");
      if (a["study_date_column"]) m.study_date_column = scalar(path, a["study_date_column"], "age.study_date_column");
      const bool derived = !m.birth_year_column.empty() || !m.study_date_column.empty();
      if (derived && (m.birth_year_column.empty() || m.study_date_column.empty() || !m.age.column.empty()))
        map_error(path, "'age' is either {column: AGE} or {birth_year_column: B, study_date_column: D}");
      if (!derived && m.age.column.empty()) map_error(path, "'age' names no column");
    }
  }
  if (const YAML::Node k = root["keep"]) {
    check_keys(path, k, "keep", {"column", "values"});
    if (!k["column"] || !k["values"])
      map_error(path, "'keep' needs 'column' and 'values' (the values of rows to pack)");
    m.keep.column = scalar(path, k["column"], "keep.column");
    m.keep_values = string_list(path, k["values"], "keep.values");
  }

  const YAML::Node labels = root["labels"];
  if (!labels) map_error(path, "'labels' is missing", "say how labels are read: kind: columns or kind: list");
  if (!labels.IsMap() || !labels["kind"]) map_error(path, "'labels.kind' is missing (columns or list)");
  const std::string kind = scalar(path, labels["kind"], "labels.kind");
  if (kind == "columns") {
    check_keys(path, labels, "labels", {"kind", "values", "uncertain"});
    if (!labels["values"] || !labels["values"].IsMap())
      map_error(path, "'labels.values' is missing", "map each cell value onto positive, negative or uncertain");
    for (const auto& kv : labels["values"]) {
      const std::string from = kv.first.IsNull() ? "" : std::string(trim(kv.first.as<std::string>()));
      const std::string to = scalar(path, kv.second, "labels.values." + from);
      if (to == "positive")
        m.cell_values[from] = 1;
      else if (to == "negative")
        m.cell_values[from] = 0;
      else if (to == "uncertain")
        m.cell_values[from] = -1;
      else
        map_error(path, "'labels.values." + from + "' is '" + to + "'; the targets are positive, negative, uncertain");
    }
    const std::string u = labels["uncertain"] ? scalar(path, labels["uncertain"], "labels.uncertain") : "zeros";
    if (u == "zeros")
      m.uncertain = Uncertain::kZeros;
    else if (u == "ones")
      m.uncertain = Uncertain::kOnes;
    else if (u == "exclude")
      m.uncertain = Uncertain::kExclude;
    else
      map_error(path, "'labels.uncertain' is '" + u + "'; expected zeros, ones or exclude");
  } else if (kind == "list") {
    m.list_labels = true;
    check_keys(path, labels, "labels",
               {"kind", "column", "separator", "ignore_unknown", "blank", "exclude_rows_with", "unmapped"});
    if (!labels["column"]) map_error(path, "'labels.column' is missing (the column holding the list of label names)");
    m.list_column = scalar(path, labels["column"], "labels.column");
    if (labels["separator"]) m.separator = scalar(path, labels["separator"], "labels.separator");
    if (m.separator.empty()) map_error(path, "'labels.separator' is empty");
    if (labels["ignore_unknown"]) m.ignore_unknown = boolean(path, labels["ignore_unknown"], "labels.ignore_unknown");
    if (labels["blank"]) m.blank = scalar(path, labels["blank"], "labels.blank");
    if (m.blank != "error" && m.blank != "skip" && m.blank != "negative")
      map_error(path, "'labels.blank' is '" + m.blank + "'; expected error, skip or negative");
    if (labels["exclude_rows_with"])
      m.exclude_rows_with = string_list(path, labels["exclude_rows_with"], "labels.exclude_rows_with");
    if (labels["unmapped"]) m.known_unmapped = string_list(path, labels["unmapped"], "labels.unmapped");
  } else {
    map_error(path,
              "'labels.kind' is '" + kind + "'; expected columns (one column per label) or list (one column of names)");
  }

  const YAML::Node classes = root["classes"];
  if (!classes || !classes.IsMap())
    map_error(path, "'classes' is missing",
              "list each of the 14 NIH classes with its source labels or 'not evaluable'");
  std::vector<bool> seen(kNumClasses, false);
  for (const auto& kv : classes) {
    const std::string cls = kv.first.as<std::string>();
    auto c = class_index(cls);
    if (!c)
      map_error(path, "'classes." + cls + "' is not an NIH class; did you mean '" + nearest(cls, class_names()) + "'?");
    seen[static_cast<size_t>(*c)] = true;
    auto& src = m.sources[static_cast<size_t>(*c)];
    if (kv.second.IsScalar()) {
      if (kv.second.as<std::string>() != kNotEvaluable)
        map_error(path, "'classes." + cls + "' is '" + kv.second.as<std::string>() +
                            "'; give a list of source labels or 'not evaluable'");
    } else {
      src = string_list(path, kv.second, "classes." + cls);
      if (src.empty())
        map_error(path, "'classes." + cls + "' is an empty list; write 'not evaluable' if nothing maps onto it");
    }
  }
  std::vector<std::string> missing;
  for (int c = 0; c < kNumClasses; ++c)
    if (!seen[static_cast<size_t>(c)]) missing.push_back(kClassNames[c]);
  if (!missing.empty())
    map_error(path, "'classes' does not list " + join(missing, ", "),
              "every NIH class must be listed, with its source labels or as 'not evaluable', so an unmapped class is a "
              "decision");
  return m;
}

std::vector<std::string> split_csv_record(const std::string& record) {
  std::vector<std::string> out;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < record.size(); ++i) {
    const char ch = record[i];
    if (quoted) {
      if (ch == '"') {
        if (i + 1 < record.size() && record[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field += ch;
      }
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      out.push_back(field);
      field.clear();
    } else {
      field += ch;
    }
  }
  out.push_back(field);
  return out;
}

std::vector<std::string> parse_label_list(const std::string& cell, const std::string& separator) {
  std::string t(trim(cell));
  std::vector<std::string> out;
  if (!t.empty() && t.front() == '[') {
    if (t.back() != ']') throw std::invalid_argument("a list that starts with '[' must end with ']'");
    // Python list literal: names in single or double quotes, separated by commas.
    size_t i = 1;
    const size_t end = t.size() - 1;
    while (i < end) {
      while (i < end && (t[i] == ' ' || t[i] == ',')) ++i;
      if (i >= end) break;
      const char q = t[i];
      if (q != '\'' && q != '"') throw std::invalid_argument("list entries must be quoted, as in ['a', 'b']");
      size_t close = t.find(q, i + 1);
      if (close == std::string::npos || close > end) throw std::invalid_argument("an entry's quote is never closed");
      out.emplace_back(trim(std::string_view(t).substr(i + 1, close - i - 1)));
      i = close + 1;
      while (i < end && t[i] == ' ') ++i;
      if (i < end && t[i] != ',') throw std::invalid_argument("list entries must be separated by commas");
    }
  } else {
    size_t pos = 0;
    while (pos <= t.size()) {
      size_t next = t.find(separator, pos);
      if (next == std::string::npos) next = t.size();
      out.emplace_back(trim(std::string_view(t).substr(pos, next - pos)));
      pos = next + separator.size();
    }
  }
  out.erase(std::remove(out.begin(), out.end(), std::string()), out.end());
  return out;
}

LabelledCsv read_labelled_csv(const std::string& csv_path, const LabelMap& map) {
  LineReader r(csv_path);
  std::string record;
  int64_t line = 0;
  if (!next_record(r, record, line))
    throw UserError(csv_path + " is empty", "the first line is the header (column names)");
  if (record.size() >= 3 && static_cast<unsigned char>(record[0]) == 0xEF) record.erase(0, 3);  // UTF-8 BOM
  std::vector<std::string> header = split_csv_record(record);
  for (auto& h : header) h = std::string(trim(h));
  std::unordered_map<std::string, size_t> col;
  for (size_t i = 0; i < header.size(); ++i)
    if (!header[i].empty() && !col.emplace(header[i], i).second)
      throw UserError(csv_path + ":1: column '" + header[i] + "' appears twice in the header", "rename one of them");

  // Every column the mapping names must be in the header.
  auto column = [&](const std::string& name, const std::string& key) -> size_t {
    auto it = col.find(name);
    if (it == col.end())
      throw UserError(map.path + ": '" + key + "' names column '" + name + "', which " + csv_path +
                          " does not have; nearest: '" + nearest(name, header) + "'",
                      "fix the label map or pass the CSV it was written for (header: " + join(header, ", ") + ")");
    return it->second;
  };
  std::vector<size_t> path_cols;
  for (const auto& c : map.path_columns) path_cols.push_back(column(c, "path"));
  const size_t patient_col = column(map.patient.column, "patient.column");
  auto optional_column = [&](const FieldSpec& f, const std::string& key) {
    return f.column.empty() ? SIZE_MAX : column(f.column, key);
  };
  const size_t sex_col = optional_column(map.sex, "sex.column");
  const size_t view_col = optional_column(map.view, "view.column");
  const size_t split_col = optional_column(map.split, "split.column");
  const size_t follow_col = optional_column(map.follow_up, "follow_up.column");
  const size_t keep_col = optional_column(map.keep, "keep.column");
  const size_t age_col = map.age.column.empty() ? SIZE_MAX : column(map.age.column, "age.column");
  const size_t birth_col =
      map.birth_year_column.empty() ? SIZE_MAX : column(map.birth_year_column, "age.birth_year_column");
  const size_t study_col =
      map.study_date_column.empty() ? SIZE_MAX : column(map.study_date_column, "age.study_date_column");
  size_t list_col = SIZE_MAX;
  std::array<std::vector<size_t>, kNumClasses> class_cols;
  std::unordered_map<std::string, int> known;  // lower-case list name -> class (or -1 known/unmapped, -2 exclude row)
  std::vector<std::string> known_names;
  if (map.list_labels) {
    list_col = column(map.list_column, "labels.column");
    auto add = [&](const std::string& name, int cls) {
      auto [it, inserted] = known.emplace(to_lower(name), cls);
      if (!inserted && it->second != cls)
        throw UserError(map.path + ": label '" + name +
                            "' is listed twice (under two classes, or as mapped and as unmapped/excluding)",
                        "list each source label once");
      if (inserted) known_names.push_back(name);
    };
    for (int c = 0; c < kNumClasses; ++c)
      for (const auto& s : map.sources[static_cast<size_t>(c)]) add(s, c);
    for (const auto& s : map.known_unmapped) add(s, -1);
    for (const auto& s : map.exclude_rows_with) add(s, -2);
  } else {
    for (int c = 0; c < kNumClasses; ++c)
      for (const auto& s : map.sources[static_cast<size_t>(c)])
        class_cols[static_cast<size_t>(c)].push_back(column(s, std::string("classes.") + kClassNames[c]));
  }

  LabelledCsv out;
  out.format_note = map.list_labels ? "list column '" + map.list_column + "'" : "one column per label";
  std::unordered_map<std::string, int64_t> path_line;
  while (next_record(r, record, line)) {
    if (trim(record).empty()) continue;
    ++out.records;
    const std::string where = csv_path + ":" + std::to_string(line);
    std::vector<std::string> f = split_csv_record(record);
    if (f.size() != header.size())
      throw UserError(
          where + ": the row has " + std::to_string(f.size()) + " fields, the header " + std::to_string(header.size()),
          "check the quoting of that row (fields holding commas must be in double quotes)");
    for (auto& s : f) s = std::string(trim(s));
    auto bad = [&](size_t c, const std::string& what, const std::string& hint) {
      throw UserError(where + ": column '" + header[c] + "' " + what, hint);
    };
    // A value through a field spec: regex (group 1, else the whole match), then the value map.
    auto value_of = [&](const FieldSpec& spec, size_t c) {
      std::string v = f[c];
      if (spec.regex) {
        std::smatch match;
        if (!std::regex_search(v, match, *spec.regex))
          bad(c, "value '" + v + "' does not match the label map's regex '" + spec.regex_text + "'",
              "fix the row or the regex in " + map.path);
        v = match.size() > 1 ? match[1].str() : match[0].str();
      }
      if (!spec.values.empty()) {
        auto it = spec.values.find(v);
        if (it == spec.values.end())
          bad(c, "has value '" + v + "', which the label map does not list (it lists " + quoted_list(spec.values) + ")",
              "add the value to that field's 'values' in " + map.path + ", or fix the row");
        v = it->second;
      }
      return v;
    };

    if (keep_col != SIZE_MAX &&
        std::find(map.keep_values.begin(), map.keep_values.end(), f[keep_col]) == map.keep_values.end()) {
      ++out.skipped_keep;
      continue;
    }
    LabelledRow row;
    row.line = line;
    {
      std::string p = map.path_template;
      for (size_t k = 0; k < map.path_columns.size(); ++k) {
        const std::string& v = f[path_cols[k]];
        if (v.empty()) bad(path_cols[k], "is empty; every row needs an image path", "fix or remove that row");
        const std::string token = "{" + map.path_columns[k] + "}";
        p.replace(p.find(token), token.size(), v);
      }
      row.path = p;
    }
    auto [pit, fresh] = path_line.emplace(row.path, line);
    if (!fresh)
      throw UserError(where + ": image '" + row.path + "' is already on line " + std::to_string(pit->second),
                      "each image appears once; remove the duplicate row");
    row.patient = value_of(map.patient, patient_col);
    if (row.patient.empty()) bad(patient_col, "is empty; every row needs a patient", "fix or remove that row");
    SampleMeta& m = row.meta;
    char name[32];
    std::snprintf(name, sizeof name, "row%09lld", static_cast<long long>(line));
    m.image_index = name;
    if (sex_col != SIZE_MAX) {
      const std::string s = value_of(map.sex, sex_col);
      m.sex = s == "M" ? kSexMale : s == "F" ? kSexFemale : kUnknown;
    }
    if (view_col != SIZE_MAX) {
      const std::string v = value_of(map.view, view_col);
      m.view = v == "PA" ? kViewPA : v == "AP" ? kViewAP : kUnknown;
    }
    if (split_col != SIZE_MAX) {
      const std::string s = value_of(map.split, split_col);
      row.split = s == "train" ? Split::kTrain : s == "val" ? Split::kVal : Split::kTest;
    }
    if (follow_col != SIZE_MAX) {
      long long v = 0;
      const std::string text = value_of(map.follow_up, follow_col);
      if (!parse_whole_number(text, &v) || v + map.follow_up.offset < 0 || v + map.follow_up.offset > INT32_MAX)
        bad(follow_col,
            "gives follow-up '" + text + "'" +
                (map.follow_up.offset ? " (offset " + std::to_string(map.follow_up.offset) + ")" : "") +
                ", not a whole number >= 0",
            "fix the row, or the follow_up field of " + map.path);
      m.follow_up = static_cast<int32_t>(v + map.follow_up.offset);
    }
    if (age_col != SIZE_MAX) {
      const std::string& a = f[age_col];
      if (a.empty()) {
        ++out.unknown_ages;
      } else {
        long long years = 0;
        try {
          m.age = parse_age(a);
        } catch (const std::invalid_argument&) {
          if (!parse_whole_number(a, &years) || years < 0)
            bad(age_col, "has age '" + a + "'; expected whole years (blank = unknown)", "fix the row");
          m.age = years > 120 ? int16_t{-1} : static_cast<int16_t>(years);
        }
        if (m.age < 0) ++out.unknown_ages;
      }
    } else if (birth_col != SIZE_MAX) {
      const std::string& b = f[birth_col];
      const std::string& d = f[study_col];
      long long birth = 0, year = 0;
      if (b.empty() || d.empty()) {
        ++out.unknown_ages;
      } else {
        if (!parse_whole_number(b, &birth))
          bad(birth_col, "has birth year '" + b + "'; expected a year such as 1944 (blank = unknown)", "fix the row");
        if (d.size() < 4 || !parse_whole_number(d.substr(0, 4), &year))
          bad(study_col, "has study date '" + d + "'; expected YYYYMMDD (blank = unknown)", "fix the row");
        const long long age = year - birth;
        if (age < 0 || age > 120)
          ++out.unknown_ages;
        else
          m.age = static_cast<int16_t>(age);
      }
    }

    // Labels.
    bool drop = false;
    if (map.list_labels) {
      const std::string& cell = f[list_col];
      std::vector<std::string> names;
      if (cell.empty()) {
        if (map.blank == "skip") {
          ++out.skipped_blank;
          continue;
        }
        if (map.blank == "error")
          bad(list_col, "is empty", "fix the row, or set labels.blank to skip or negative in " + map.path);
      } else {
        try {
          names = parse_label_list(cell, map.separator);
        } catch (const std::invalid_argument& e) {
          bad(list_col, "holds '" + cell + "', not a list of label names: " + e.what(),
              "write ['a', 'b'] or a" + map.separator + "b");
        }
      }
      for (const auto& n : names) {
        auto it = known.find(to_lower(n));
        if (it == known.end()) {
          if (!map.ignore_unknown)
            bad(list_col,
                "names label '" + n + "', which the label map does not know; nearest: '" +
                    nearest(to_lower(n),
                            [&] {
                              std::vector<std::string> lower;
                              for (const auto& k : known_names) lower.push_back(to_lower(k));
                              return lower;
                            }()) +
                    "'",
                "fix the row, list the name under a class or under labels.unmapped in " + map.path +
                    ", or set labels.ignore_unknown: true");
          ++out.unknown_labels[n];
        } else if (it->second == -2) {
          drop = true;
        } else if (it->second >= 0) {
          m.labels[static_cast<size_t>(it->second)] = 1;
        }
      }
      if (drop) {
        ++out.skipped_excluded;
        continue;
      }
    } else {
      for (int c = 0; c < kNumClasses; ++c) {
        int v = 0;  // 1 if any source is positive; else -1 if any is uncertain; else 0
        for (size_t k : class_cols[static_cast<size_t>(c)]) {
          auto it = map.cell_values.find(f[k]);
          if (it == map.cell_values.end()) {
            std::vector<std::string> listed;
            for (const auto& kv : map.cell_values) listed.push_back("'" + kv.first + "'");
            bad(k, "has value '" + f[k] + "', which labels.values does not list (it lists " + join(listed, ", ") + ")",
                "fix the row, or add the value to labels.values in " + map.path);
          }
          if (it->second == 1)
            v = 1;
          else if (it->second == -1 && v == 0)
            v = -1;
        }
        if (v == -1) {
          if (map.uncertain == Uncertain::kExclude) drop = true;
          v = map.uncertain == Uncertain::kOnes ? 1 : 0;
        }
        m.labels[static_cast<size_t>(c)] = static_cast<uint8_t>(v);
      }
      if (drop) {
        ++out.skipped_uncertain;
        continue;
      }
    }
    out.rows.push_back(std::move(row));
  }

  // Patient ids: the source's own when they are distinct integers in int32 range, else 0.. in sorted order.
  std::map<std::string, int32_t> ids;
  for (const auto& row : out.rows) ids.emplace(row.patient, 0);
  bool numeric = true;
  std::set<long long> used;
  for (auto& [text, id] : ids) {
    long long v = -1;
    try {
      v = parse_int(text);
    } catch (const std::invalid_argument&) {
      v = -1;
    }
    if (v < 0 || v > INT32_MAX || !used.insert(v).second) {
      numeric = false;
      break;
    }
    id = static_cast<int32_t>(v);
  }
  if (!numeric) {
    int32_t next = 0;
    for (auto& [text, id] : ids) id = next++;
  }
  out.patient_ids_from_source = numeric;
  for (auto& row : out.rows) row.meta.patient_id = ids.at(row.patient);
  return out;
}

SplitAssignment assign_labelled_splits(const LabelledCsv& csv, const std::string& split_all, double val_fraction,
                                       uint64_t seed) {
  SplitAssignment out;
  const size_t n = csv.rows.size();
  if (!split_all.empty()) {
    auto it = std::find(kSplitNames.begin(), kSplitNames.end(), split_all);
    if (it == kSplitNames.end())
      throw UserError("--split-all is '" + split_all + "'; expected train, val or test",
                      "use --split-all test to evaluate a model on the whole data set");
    out.split_of.assign(n, static_cast<Split>(it - kSplitNames.begin()));
    return out;
  }
  const bool from_column = n > 0 && csv.rows.front().split.has_value();
  if (from_column) {
    out.split_of.resize(n);
    std::unordered_map<int32_t, size_t> home;  // patient -> first row
    for (size_t i = 0; i < n; ++i) {
      out.split_of[i] = *csv.rows[i].split;
      auto [it, inserted] = home.emplace(csv.rows[i].meta.patient_id, i);
      if (!inserted && out.split_of[it->second] != out.split_of[i]) {
        const LabelledRow& a = csv.rows[it->second];
        const LabelledRow& b = csv.rows[i];
        throw UserError("patient '" + b.patient + "' is in split '" +
                            kSplitNames[static_cast<size_t>(out.split_of[it->second])] + "' (line " +
                            std::to_string(a.line) + ") and in '" + kSplitNames[static_cast<size_t>(out.split_of[i])] +
                            "' (line " + std::to_string(b.line) + ") of the split column",
                        "splits must be by patient (a patient in two splits leaks into the evaluation); fix the split "
                        "column, or drop `split` from the label map to split by patient");
      }
    }
    return out;
  }
  std::vector<SampleMeta> meta;
  std::vector<std::string> names;
  meta.reserve(n);
  for (const auto& row : csv.rows) {
    meta.push_back(row.meta);
    names.push_back(row.meta.image_index);
  }
  return assign_splits(meta, names, {}, val_fraction, seed);
}

}  // namespace cxr::data
