// Controlled distribution shifts for robustness probes (issue 14): contrast, gamma, exposure, Gaussian
// and Poisson noise, blur, resampling, rotation, translation, border crop, a burned-in text tag and a lead
// marker, each at severities 0 (identity) to 3, on one pack image (uint8 [S,S], row-major, as packs store
// it). A shift is a pure function of (image, kind, severity or parameter, seed). Torch-free. See docs/shifts.md.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "data/phantom.h"  // PixelBox

namespace cxr::data {

enum class ShiftKind {
  kContrast,       // deviations from the image mean scaled by a factor
  kGamma,          // 255 * (v / 255)^g
  kExposure,       // a grey-level offset (window level), clipped
  kGaussianNoise,  // additive, signal-independent, SD in grey levels
  kPoissonNoise,   // quantum noise of a detector behind a logarithmic display
  kBlur,           // Gaussian point-spread function
  kResample,       // area downsampling, then bilinear upsampling back to the side
  kRotation,       // about the image centre, counter-clockwise as displayed
  kTranslation,    // content moves right and down by whole pixels
  kBorderCrop,     // crop every edge, enlarge back to the side (a tighter field of view)
  kTextTag,        // bright burned-in text, top-left corner
  kLeadMarker,     // bright lead letter "L", top-right corner
};
constexpr int kNumShiftKinds = 12;
constexpr int kMaxShiftSeverity = 3;
// Smallest and largest image side accepted (geometric shifts need a few pixels; S*S must fit an int).
constexpr int kMinShiftImageSize = 8;
constexpr int kMaxShiftImageSize = 32768;

// Reference side for parameters given in pixels (blur): a parameter p means p * S / 256 pixels on an
// S-pixel image, so a shift hides the same anatomy whatever the pack's size.
constexpr double kShiftReferenceSide = 256.0;
// Poisson model: grey v is displayed from a detected photon count by v = (255 / mu) * ln(N128 e^{mu*128/255} / k),
// i.e. the expected count is lambda(v) = N128 * exp(-mu * (v - 128) / 255). mu = 3: grey 255 receives
// e^-3 (5 %) of the photons of grey 0. The parameter N128 is the expected count at mid-grey 128.
constexpr double kPoissonMu = 3.0;
constexpr double kPoissonRefGrey = 128.0;
// Overlays sit this fraction of the side (at least 1 px) inside the image edges.
constexpr double kOverlayMarginFraction = 0.03;
constexpr const char* kTextTagText = "SITE 7";
constexpr uint8_t kTextTagGrey = 255;       // burned-in annotations are written white
constexpr const char* kLeadMarkerText = "L";
constexpr uint8_t kLeadMarkerGrey = 250;    // lead is radiopaque: near white

struct ShiftSpec {
  ShiftKind kind = ShiftKind::kContrast;
  int severity = 0;      // 0 (identity) .. kMaxShiftSeverity
  uint64_t seed = 0;     // used only by the noise kinds; other kinds ignore it
  // The physical parameter (unit of shift_info(kind).unit); NaN = the severity's tabulated value. When set,
  // it replaces the severity's value (severity must still be valid). E.g. contrast 1.05 = +5 %.
  double parameter = std::numeric_limits<double>::quiet_NaN();
};

// One row of the table of shifts (for docs, the report and --help).
struct ShiftInfo {
  ShiftKind kind;
  const char* name;         // command-line name, e.g. "gaussian-noise"
  const char* unit;         // what the parameter measures
  std::array<double, kMaxShiftSeverity + 1> parameter;  // per severity; [0] is the identity value
  double min_parameter, max_parameter;  // accepted range of an explicit parameter (Poisson also takes +inf)
  bool random;              // depends on the seed (the noise kinds)
  bool geometric;           // the parameter is a length that scales with the side (or moves/resamples pixels)
  const char* models;       // the real-world difference it stands for
};

// Every kind in enum order.
const std::array<ShiftInfo, kNumShiftKinds>& shift_table();
const ShiftInfo& shift_info(ShiftKind kind);
const char* shift_name(ShiftKind kind);
// All names, in enum order.
std::vector<std::string> shift_names();
// The kind named `name` (exactly, case-insensitive). Throws UserError naming the nearest valid name.
ShiftKind parse_shift_name(const std::string& name);

// The tabulated parameter of `kind` at `severity` (0..3). Throws UserError for another severity.
double shift_parameter(ShiftKind kind, int severity);
// The parameter apply_shift uses: spec.parameter if set, else the severity's. Validates both: UserError
// for a severity outside 0..3 or a parameter outside its kind's range (see docs/shifts.md).
double effective_shift_parameter(const ShiftSpec& spec);
// "KIND=PARAMETER" (e.g. "contrast=1.05"): a shift at an explicit parameter, severity 1, parameter validated
// by effective_shift_parameter. Throws UserError naming `origin` (the option or config key it came from).
ShiftSpec parse_shift_assignment(const std::string& text, const std::string& origin);

// Applies the shift: `in` and `out` hold size*size bytes, row-major; they may be the same buffer (in
// place) but must not otherwise overlap. Parameter equal to the kind's identity value (every kind at
// severity 0) copies the image exactly. Throws std::invalid_argument for a null pointer, partial overlap
// or a size outside [kMinShiftImageSize, kMaxShiftImageSize] (caller bugs), UserError for a bad
// severity or parameter (user input). Same inputs give the same bytes (on one platform and OpenCV build).
void apply_shift(const ShiftSpec& spec, const uint8_t* in, uint8_t* out, int size);
// Convenience: returns the shifted copy of `image` (size*size bytes).
std::vector<uint8_t> apply_shift(const ShiftSpec& spec, const std::vector<uint8_t>& image, int size);

// The box the overlay of kTextTag / kLeadMarker may change, for `parameter` on an S = size image: no
// pixel outside it changes. Empty (w = h = 0) for other kinds and for parameter 0.
PixelBox shift_overlay_box(ShiftKind kind, double parameter, int size);

// The table as aligned text: name, parameter unit, severities 1..3, what it models (for --help).
std::string shift_table_text();

}  // namespace cxr::data
