// Phantom scanner shifts (see scanner_shift.h).
#include "data/scanner_shift.h"

#include <cstdio>
#include <stdexcept>

#include "core/error.h"
#include "core/random.h"
#include "core/strings.h"

namespace cxr::data {

namespace {

// Stream tags of the draws made here, apart from the generator's own.
constexpr uint64_t kApDraw = 0xa9'5ba7eULL;
constexpr uint64_t kShortcutDraw = 0x5c'0de9ULL;

double uniform_of(uint64_t seed, uint64_t tag) { return SplitMix64(mix_seed(seed, tag)).uniform(); }

void check_severity(ScannerShift kind, int severity) {
  if (severity < 0 || severity > 3)
    throw UserError(std::string("scanner shift '") + scanner_shift_info(kind).name + "': severity " +
                        std::to_string(severity) + " is outside 0..3",
                    "severities are 0 (as made) to 3");
}

}  // namespace

const std::array<ScannerShiftInfo, kNumScannerShifts>& scanner_shift_table() {
  static const std::array<ScannerShiftInfo, kNumScannerShifts> table{{
      {ScannerShift::kApShare, "ap-share", "fraction of the PA films taken AP", {0, 0.25, 0.5, 1.0},
       "a site that films more patients portable (AP): magnified heart, poorer inspiration, more noise, tags"},
      {ScannerShift::kNoiseProfile, "noise-profile", "factor on the film noise SD", {1, 1.5, 2, 3},
       "another detector or a lower dose"},
      {ScannerShift::kExposureProfile, "exposure-profile", "factor on the top of the display window",
       {1, 1.05, 1.1, 1.2}, "another display window / processing: flatter, darker films"},
      {ScannerShift::kTagStyle, "tag-style", "tag style (1 none on AP, 2 all AP tagged, 3 no markers at all)",
       {0, 1, 2, 3}, "another site's burned-in text tags, ECG electrodes and lead markers"},
  }};
  return table;
}

const ScannerShiftInfo& scanner_shift_info(ScannerShift kind) { return scanner_shift_table().at(static_cast<size_t>(kind)); }

std::vector<std::string> scanner_shift_names() {
  std::vector<std::string> names;
  for (const auto& s : scanner_shift_table()) names.emplace_back(s.name);
  return names;
}

ScannerShift parse_scanner_shift(const std::string& name) {
  for (const auto& s : scanner_shift_table())
    if (name == s.name) return s.kind;
  throw UserError("unknown scanner shift '" + name + "' (did you mean '" + nearest(name, scanner_shift_names()) + "'?)",
                  "scanner shifts: " + join(scanner_shift_names(), ", "));
}

std::string scanner_shift_description(ScannerShift kind, int severity) {
  check_severity(kind, severity);
  const double v = scanner_shift_info(kind).parameter[static_cast<size_t>(severity)];
  char buf[160];
  switch (kind) {
    case ScannerShift::kApShare:
      std::snprintf(buf, sizeof buf, "%.0f %% of the PA films re-rendered as AP films", 100 * v);
      break;
    case ScannerShift::kNoiseProfile:
      std::snprintf(buf, sizeof buf, "film noise x%.2g", v);
      break;
    case ScannerShift::kExposureProfile:
      std::snprintf(buf, sizeof buf, "display window top x%.3g", v);
      break;
    case ScannerShift::kTagStyle:
      std::snprintf(buf, sizeof buf, "%s",
                    severity == 0   ? "tags as made"
                    : severity == 1 ? "no text tags or ECG electrodes on AP films"
                    : severity == 2 ? "every AP film tagged, with ECG electrodes"
                                    : "no tags, electrodes or lead laterality markers at all");
      break;
  }
  return buf;
}

PhantomReplay::Variant scanner_variant(ScannerShift kind, int severity, const SynthRecord& r) {
  check_severity(kind, severity);
  PhantomReplay::Variant v;
  const double p = scanner_shift_info(kind).parameter[static_cast<size_t>(severity)];
  switch (kind) {
    case ScannerShift::kApShare:
      // Nested: a film taken AP at severity s is AP at every higher severity.
      if (r.phantom.view == kViewPA && uniform_of(r.render_seed, kApDraw) < p) v.view = kViewAP;
      break;
    case ScannerShift::kNoiseProfile:
      v.noise_scale = static_cast<float>(p);
      break;
    case ScannerShift::kExposureProfile:
      v.window_scale = static_cast<float>(p);
      break;
    case ScannerShift::kTagStyle:
      if (severity == 1 || severity == 3) v.portable_tag_probability = v.ecg_leads_probability = 0;
      if (severity == 2) v.portable_tag_probability = v.ecg_leads_probability = 1;
      if (severity == 3) v.laterality_probability = 0;
      break;
  }
  return v;
}

PhantomReplay::Variant shortcut_variant(const SynthPlan& plan, size_t spec, bool remove, const SynthRecord& r) {
  if (spec >= plan.shortcuts.size()) throw std::out_of_range("shortcut_variant: no shortcut spec " + std::to_string(spec));
  PhantomReplay::Variant v;
  const auto bit = static_cast<uint8_t>(1u << spec);
  uint8_t markers = static_cast<uint8_t>(r.shortcut & ~bit);
  if (!remove && uniform_of(r.render_seed, kShortcutDraw + spec) < plan.train_marker_rate[spec]) markers |= bit;
  v.markers = markers;
  return v;
}

}  // namespace cxr::data
