// Small string helpers: splitting, trimming, case-folding, edit distance (for "did you mean").
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cxr {

std::vector<std::string> split(std::string_view s, char sep);
// The items of a list such as "a, b,,c": split at `sep`, each trimmed, blank items dropped.
std::vector<std::string> split_list(std::string_view s, char sep = ',');
std::string_view trim(std::string_view s);
std::string to_lower(std::string_view s);
bool starts_with(std::string_view s, std::string_view prefix);
bool ends_with(std::string_view s, std::string_view suffix);
std::string join(const std::vector<std::string>& parts, std::string_view sep);

// Levenshtein distance; used to name the nearest valid key or label in error messages.
size_t edit_distance(std::string_view a, std::string_view b);
// The candidate closest to `word` (ties: first in order); empty when candidates is empty.
std::string nearest(std::string_view word, const std::vector<std::string>& candidates);

// Parses the whole of `s` as a number; throws std::invalid_argument otherwise.
long long parse_int(std::string_view s);
double parse_double(std::string_view s);

// The current time in UTC as ISO 8601, e.g. "2026-12-01T00:08:19Z" (records in run directories).
std::string utc_now();

}  // namespace cxr
