// The report's inputs (metrics.json, curves.json, environment.jsonl) read with every value checked: a
// missing key or a value of the wrong type is a UserError naming the file and the key's JSON pointer
// ("metrics.json: /classes/Edema/auroc is a string, expected a number or null"), never a crash or a
// silently wrong number in the report.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cxr::report {

class JsonInput {
 public:
  // Parses `path` (UserError naming it when unreadable or not JSON). `writer`: the command that writes the
  // file, named in the hints of every error about it.
  static JsonInput read(const std::string& path, const std::string& writer = "cxrtrain evaluate");
  JsonInput(std::string path, nlohmann::ordered_json value, std::string writer = "cxrtrain evaluate")
      : path_(std::move(path)), value_(std::move(value)), writer_(std::move(writer)) {}

  const std::string& path() const { return path_; }
  const nlohmann::ordered_json& value() const { return value_; }

  bool has(const std::string& pointer) const;
  const nlohmann::ordered_json& at(const std::string& pointer) const;  // must exist
  // A number, or nullopt for null. Missing or another type: UserError.
  std::optional<double> number_or_null(const std::string& pointer) const;
  double number(const std::string& pointer) const;                      // null not allowed
  int64_t integer(const std::string& pointer) const;                     // a whole number
  // A number in [lo, hi] (or nullopt for null); outside it: UserError naming the range.
  double number_in(const std::string& pointer, double lo, double hi) const;
  std::optional<double> number_in_or_null(const std::string& pointer, double lo, double hi) const;
  std::string string(const std::string& pointer) const;
  std::string string_or(const std::string& pointer, const std::string& fallback) const;  // absent or null
  // [lo, hi] with lo <= hi, or nullopt for null.
  std::optional<std::pair<double, double>> interval_or_null(const std::string& pointer) const;
  // Elements of an array / keys of an object (UserError if it is not one).
  size_t array_size(const std::string& pointer) const;
  std::vector<std::string> keys(const std::string& pointer) const;

  [[noreturn]] void fail(const std::string& pointer, const std::string& problem) const;

 private:
  std::string path_;
  nlohmann::ordered_json value_;
  std::string writer_;
};

// JSON pointer escaping of one key ("Nodule or mass" stays, "a/b" becomes "a~1b").
std::string pointer_key(const std::string& key);

}  // namespace cxr::report
