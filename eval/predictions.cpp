// predictions.csv reading and writing (see predictions.h).
#include "eval/predictions.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <unordered_set>

#include "core/error.h"
#include "core/strings.h"
#include "data/classes.h"
#include "data/text_reader.h"

namespace cxr::eval {

PredictionRows read_predictions(const std::string& path) {
  data::LineReader in(path);
  std::string line;
  if (!in.next(line)) throw UserError(path + " is empty", "write a header: image_index then the 14 class names");
  const std::vector<std::string> header = split(line, ',');
  int index_col = -1;
  std::vector<int> class_col(data::kNumClasses, -1);
  std::map<std::string, int> seen;
  for (size_t c = 0; c < header.size(); ++c) {
    const std::string name(trim(header[c]));
    if (!seen.emplace(name, static_cast<int>(c)).second)
      throw UserError(in.where() + ": column '" + name + "' appears twice", "one column per name");
    if (name == "image_index") {
      index_col = static_cast<int>(c);
    } else if (auto k = data::class_index(name)) {
      class_col[static_cast<size_t>(*k)] = static_cast<int>(c);
    } else if (name == "patient_id" || (starts_with(name, "label_") && data::class_index(name.substr(6)))) {
      // cxrtrain's own extra columns: labels and patients come from the pack
    } else {
      std::vector<std::string> valid = {"image_index", "patient_id"};
      for (const auto& n : data::class_names()) valid.push_back(n);
      throw UserError(in.where() + ": unknown column '" + name + "'; did you mean '" + nearest(name, valid) + "'?",
                      "columns: image_index, then one probability column per class, named as NIH does (" +
                          join(data::class_names(), ", ") + ")");
    }
  }
  if (index_col < 0) throw UserError(in.where() + ": no image_index column", "the first column names the image");
  for (int k = 0; k < data::kNumClasses; ++k) {
    if (class_col[static_cast<size_t>(k)] < 0)
      throw UserError(in.where() + ": no column for class '" + std::string(data::kClassNames[k]) + "'",
                      "one probability column per class, all 14");
  }
  PredictionRows rows;
  std::unordered_set<std::string> ids;
  while (in.next(line)) {
    if (trim(line).empty()) continue;
    const std::vector<std::string> f = split(line, ',');
    if (f.size() != header.size())
      throw UserError(in.where() + ": " + std::to_string(f.size()) + " fields, the header has " +
                      std::to_string(header.size()));
    const std::string id(trim(f[static_cast<size_t>(index_col)]));
    if (id.empty()) throw UserError(in.where() + ": empty image_index");
    if (!ids.insert(id).second) throw UserError(in.where() + ": image '" + id + "' appears twice", "one row per image");
    rows.image_index.push_back(id);
    rows.line.push_back(in.line_number());
    for (int k = 0; k < data::kNumClasses; ++k) {
      const std::string& text = f[static_cast<size_t>(class_col[static_cast<size_t>(k)])];
      double p = 0;
      try {
        p = parse_double(text);
      } catch (const std::invalid_argument&) {
        throw UserError(in.where() + ": column '" + data::kClassNames[k] + "' holds '" + std::string(trim(text)) +
                        "', not a number");
      }
      if (!std::isfinite(p) || p < 0 || p > 1)
        throw UserError(in.where() + ": column '" + data::kClassNames[k] + "' holds " + std::string(trim(text)) +
                            ", not a probability in [0, 1]",
                        "write probabilities (sigmoid of the logits), not logits or NaN");
      rows.probability.push_back(p);
    }
  }
  if (rows.image_index.empty()) throw UserError(path + " holds a header but no rows");
  return rows;
}

std::string predictions_csv(const PredictionRows& rows, const std::vector<int32_t>& patient,
                            const std::vector<uint8_t>& labels) {
  const size_t n = rows.image_index.size(), k = data::kNumClasses;
  std::string out = "image_index,patient_id";
  for (const auto& c : data::class_names()) out += "," + c;
  for (const auto& c : data::class_names()) out += ",label_" + c;
  out += "\n";
  char buf[32];
  for (size_t i = 0; i < n; ++i) {
    out += rows.image_index[i] + "," + std::to_string(patient[i]);
    for (size_t c = 0; c < k; ++c) {
      std::snprintf(buf, sizeof buf, ",%.10g", rows.probability[i * k + c]);
      out += buf;
    }
    for (size_t c = 0; c < k; ++c) out += labels[i * k + c] ? ",1" : ",0";
    out += "\n";
  }
  return out;
}

}  // namespace cxr::eval
