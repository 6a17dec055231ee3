// Phantom "scanner" shifts (issue 14): differences between imaging sites that real data cannot isolate, made
// by re-rendering a phantom pack's films (data/phantom_replay.h) with one generator setting changed and every
// other random draw kept: the share of AP (portable) films, the film noise, the display window, the text-tag
// style. Also the planted shortcut's marker made label-independent or removed. Each is a pure function of
// (film plan, kind, severity): the same film gives the same bytes on every rank and thread. Torch-free.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "data/phantom_replay.h"

namespace cxr::data {

enum class ScannerShift {
  kApShare,          // a fraction of the PA films taken AP instead (magnified heart, poorer inspiration, noisier, tags)
  kNoiseProfile,     // film noise multiplied (another detector or dose)
  kExposureProfile,  // the top of the display window raised (a flatter, darker rendering)
  kTagStyle,         // another site's text tags and lead markers
};
constexpr int kNumScannerShifts = 4;

struct ScannerShiftInfo {
  ScannerShift kind;
  const char* name;                  // "ap-share", ...
  const char* unit;
  std::array<double, 4> parameter;   // per severity 0..3; [0] = as made
  const char* models;
};
const std::array<ScannerShiftInfo, kNumScannerShifts>& scanner_shift_table();
const ScannerShiftInfo& scanner_shift_info(ScannerShift kind);
// UserError naming the nearest name.
ScannerShift parse_scanner_shift(const std::string& name);
std::vector<std::string> scanner_shift_names();
// "tag style 2: every AP film tagged PORTABLE/AP/SUPINE, with ECG electrodes", for the report.
std::string scanner_shift_description(ScannerShift kind, int severity);

// How film `record` is re-rendered under `kind` at `severity` (0..3; 0 = as the pack holds it). UserError for
// another severity.
PhantomReplay::Variant scanner_variant(ScannerShift kind, int severity, const SynthRecord& record);

// The planted marker of shortcut spec `spec` (index into plan.shortcuts) made label-independent (drawn with
// its train marker rate, from a draw of the film's own seed, whatever the labels) or removed; the film's other
// markers stay as made. std::out_of_range for a bad spec index.
PhantomReplay::Variant shortcut_variant(const SynthPlan& plan, size_t spec, bool remove, const SynthRecord& record);

}  // namespace cxr::data
