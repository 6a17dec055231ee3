// predictions.csv, the interface other tools read and write:
//   image_index,patient_id,<14 probability columns named by class>,<14 columns label_<Class>>
// cxrtrain writes all of it; a file from any other model needs only image_index and the 14 class columns
// (patient_id and label_* are accepted and ignored: labels and patients come from the pack). Every
// value is checked before use; an error names the file, the line and the column.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cxr::eval {

struct PredictionRows {
  std::vector<std::string> image_index;
  std::vector<double> probability;  // [n, 14] in cxrtrain's class order, whatever the file's column order
  std::vector<int64_t> line;        // the file line of each row (for messages); empty when not read from a file
};

// Reads and checks a predictions file: the header names image_index and the 14 classes (no unknown or
// repeated column), every row has every column, probabilities are finite and in [0, 1], no image_index
// repeats. UserError naming file:line otherwise.
PredictionRows read_predictions(const std::string& path);

// The CSV text of `rows` (probabilities with 10 significant digits) with patient ids and 0/1 labels
// [n, 14]: what `cxrtrain evaluate` writes.
std::string predictions_csv(const PredictionRows& rows, const std::vector<int32_t>& patient,
                            const std::vector<uint8_t>& labels);

}  // namespace cxr::eval
