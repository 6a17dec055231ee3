// Checked reading of the report's JSON inputs (see json_input.h).
#include "report/json_input.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "report/format.h"

namespace cxr::report {

using json = nlohmann::ordered_json;

namespace {

std::string type_name(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

}  // namespace

std::string pointer_key(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

JsonInput JsonInput::read(const std::string& path, const std::string& writer) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError("cannot read '" + path + "'", "run `" + writer + "` first; it writes this file");
  std::stringstream text;
  text << in.rdbuf();
  try {
    return JsonInput(path, json::parse(text.str()), writer);
  } catch (const json::parse_error& e) {
    throw UserError("'" + path + "' is not valid JSON: " + e.what(),
                    "the file is damaged or was written by another tool; rerun `" + writer + "`");
  }
}

void JsonInput::fail(const std::string& pointer, const std::string& problem) const {
  throw UserError(path_ + ": " + pointer + " " + problem,
                  "this file was not written by this version of `" + writer_ + "`, or was edited; rerun it");
}

bool JsonInput::has(const std::string& pointer) const {
  try {
    return value_.contains(json::json_pointer(pointer));
  } catch (const json::exception&) {
    return false;  // a parent is not an object or array
  }
}

const json& JsonInput::at(const std::string& pointer) const {
  if (!has(pointer)) fail(pointer, "is missing");
  return value_.at(json::json_pointer(pointer));
}

std::optional<double> JsonInput::number_or_null(const std::string& pointer) const {
  const json& v = at(pointer);
  if (v.is_null()) return std::nullopt;
  if (!v.is_number()) fail(pointer, "is " + type_name(v) + ", expected a number or null");
  const double d = v.get<double>();
  if (!std::isfinite(d)) fail(pointer, "is not finite");
  return d;
}

double JsonInput::number(const std::string& pointer) const {
  const auto v = number_or_null(pointer);
  if (!v) fail(pointer, "is null, expected a number");
  return *v;
}

int64_t JsonInput::integer(const std::string& pointer) const {
  const json& v = at(pointer);
  if (!v.is_number_integer()) fail(pointer, "is " + type_name(v) + ", expected a whole number");
  return v.get<int64_t>();
}

std::string JsonInput::string(const std::string& pointer) const {
  const json& v = at(pointer);
  if (!v.is_string()) fail(pointer, "is " + type_name(v) + ", expected a string");
  return v.get<std::string>();
}

std::string JsonInput::string_or(const std::string& pointer, const std::string& fallback) const {
  if (!has(pointer) || at(pointer).is_null()) return fallback;
  return string(pointer);
}

std::optional<std::pair<double, double>> JsonInput::interval_or_null(const std::string& pointer) const {
  const json& v = at(pointer);
  if (v.is_null()) return std::nullopt;
  if (!v.is_array() || v.size() != 2) fail(pointer, "is " + type_name(v) + ", expected [lo, hi] or null");
  const double lo = number(pointer + "/0"), hi = number(pointer + "/1");
  if (lo > hi) fail(pointer, "has lo > hi");
  return std::make_pair(lo, hi);
}

size_t JsonInput::array_size(const std::string& pointer) const {
  const json& v = at(pointer);
  if (!v.is_array()) fail(pointer, "is " + type_name(v) + ", expected an array");
  return v.size();
}

std::vector<std::string> JsonInput::keys(const std::string& pointer) const {
  const json& v = at(pointer);
  if (!v.is_object()) fail(pointer, "is " + type_name(v) + ", expected an object");
  std::vector<std::string> out;
  for (auto it = v.begin(); it != v.end(); ++it) out.push_back(it.key());
  return out;
}

double JsonInput::number_in(const std::string& p, double lo, double hi) const {
  const double v = number(p);
  if (v < lo || v > hi) fail(p, "is " + general(v) + ", outside [" + general(lo) + ", " + general(hi) + "]");
  return v;
}

std::optional<double> JsonInput::number_in_or_null(const std::string& p, double lo, double hi) const {
  if (at(p).is_null()) return std::nullopt;
  return number_in(p, lo, hi);
}

}  // namespace cxr::report
