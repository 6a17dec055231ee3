// Procedural chest radiograph ("phantom") with ground truth: renders one frontal film from a case
// (labels, sex, age, view, patient anatomy) and writes, per pixel, which class's lesion changed it.
// Coordinates are normalised to the image side, so any --size gives the same picture; everything is
// analytic or drawn from tiny low-resolution grids because the generator must run >= 500 img/s/core.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "data/classes.h"

namespace cxr::data {

// Anatomy map bits (render_phantom's optional `anatomy` output), from the rendered (possibly
// diseased) anatomy. "Right"/"left" are the patient's: the right lung is on the image's left.
constexpr uint8_t kAnatBody = 1;         // inside the body outline (soft tissue > 0)
constexpr uint8_t kAnatRightLung = 2;    // right lung field (pleural space), image left
constexpr uint8_t kAnatLeftLung = 4;     // left lung field, image right
constexpr uint8_t kAnatHeart = 8;        // cardiac silhouette
constexpr uint8_t kAnatMediastinum = 16; // mediastinal band (trachea, great vessels, spine overlap)
constexpr uint8_t kAnatAbdomen = 32;     // below a diaphragm dome, inside the body
constexpr uint8_t kAnatMarker = 64;      // lead letters, text tags, ECG electrodes, planted shortcut markers
constexpr uint8_t kAnatLungs = kAnatRightLung | kAnatLeftLung;

// Patient-level anatomy, shared by all images of one patient so that follow-ups look alike.
// Lengths are fractions of the image side; the image is framed like an NIH film (thorax fills it).
struct PhantomAnatomy {
  float body_half_width = 0.44f;   // half the torso width at the lower ribs
  float thorax_half_width = 0.36f; // midline to the lateral edge of a lung field
  float lung_top = 0.14f;          // apex height
  float diaphragm = 0.64f;         // top of the right dome (the left dome sits ~0.02 lower)
  float heart_half_width = 0.135f; // normal cardiac silhouette (cardiothoracic ratio ~0.37-0.42)
  float heart_height = 0.14f;      // semi-axis along the long axis
  float mediastinum_half_width = 0.06f;
  float rib_spacing = 1.0f;        // scales the posterior rib spacing
  float breast = 0.f;              // 0 none .. 1 prominent (adult women)
  float bone_density = 1.f;        // multiplies bone attenuation (lower in the elderly)
  float aortic_knob = 1.f;         // prominence of the aortic knob (larger with age)
  float arms = 0.f;                // 0 arms out of the field, else visible arm/axilla strength
  uint64_t seed = 0;               // patient-specific structures (vessel tree, rib jitter)
};

// Samples a patient's anatomy with mild sex and age variation (smaller, narrower women with breast
// shadows; children with higher diaphragms and relatively larger hearts; the elderly with lower
// bone density and a larger aortic knob).
PhantomAnatomy sample_anatomy(int8_t sex, int age, uint64_t seed);

struct PhantomCase {
  std::array<uint8_t, kNumClasses> labels{};  // 1 = class present (kClassNames order)
  int8_t sex = kSexMale;
  int16_t age = 50;
  int8_t view = kViewPA;                      // AP: magnified heart, more noise, portable tag
  PhantomAnatomy anatomy;
};

// Knobs of one class's lesion generator. `size` and `strength` mean different things per class
// (documented in default_phantom_params() and docs/phantom.md); ranges are sampled uniformly.
struct LesionKnobs {
  float size_min = 0, size_max = 0;
  float strength_min = 0, strength_max = 0;
  int count_min = 1, count_max = 1;
};

// Every generator knob; serialised into manifest.json so a pack records how it was made.
struct PhantomParams {
  // Attenuation model (arbitrary units; the display window maps them to grey levels).
  float soft_tissue = 1.0f;      // full torso thickness
  float lung_air = 0.50f;        // attenuation removed by a full-depth lung
  float heart = 0.13f;           // added by the cardiac silhouette
  float mediastinum = 0.15f;
  float abdomen = 0.24f;         // liver/spleen below the domes
  float bone = 1.0f;             // multiplies every bone term (ribs, spine, clavicles, humeri)
  float vessels = 0.11f;         // peak vascular marking at the hila
  float parenchyma = 0.05f;      // low-frequency lung texture amplitude
  // Display and film.
  float window_low = -0.04f, window_high = 1.5f;  // attenuation mapped to grey 0 and 255
  float exposure_jitter = 0.06f; // +- relative jitter of the window per image
  float gamma = 0.8f;            // display gamma (jittered +- 0.1)
  float noise_pa = 2.6f, noise_ap = 4.6f;          // film noise sd in grey levels
  float background_max = 40.f;   // grey level of the area outside the body: uniform in [0, max]
  // Positioning and view.
  float rotation_deg = 3.0f;     // +- uniform patient rotation
  float shift = 0.02f;           // +- uniform centring error (fraction of the side)
  float ap_heart_magnification = 1.14f;  // AP: heart further from the detector
  float ap_inspiration = 0.035f; // AP: diaphragm higher by this much (poorer inspiration)
  // Markers (radiopaque text and leads; not shortcut markers).
  float laterality_probability = 0.92f;    // an "L" (or "R") lead marker near a top corner
  float portable_tag_probability = 0.85f;  // AP only: "PORTABLE" / "AP" text
  float ecg_leads_probability = 0.45f;     // AP only: ECG electrodes over the chest
  // Lesion generators in kClassNames order; see default_phantom_params().
  std::array<LesionKnobs, kNumClasses> lesion{};
  // Change threshold for lesion_mask in grey levels: a class's bit is set where its lesion moves
  // the noise-free image by more than this.
  float mask_threshold_grey = 0.5f;

  std::string to_json() const;   // every field above, with the per-class meaning of size/strength
};

PhantomParams default_phantom_params();

// Renders one film. image: size*size grey bytes; mask: size*size uint16 (bit j = class j lesion),
// may be null; anatomy: size*size kAnat* bits, may be null. Deterministic in (case, params, seed,
// size) and thread-safe (per-thread scratch buffers).
void render_phantom(const PhantomCase& c, const PhantomParams& p, uint64_t seed, int size, uint8_t* image,
                    uint16_t* mask, uint8_t* anatomy = nullptr);

// Planted shortcut markers: a bright tag-like glyph at a corner or edge of the film.
enum class ShortcutPlace { kTopLeft, kTopRight, kBottomLeft, kBottomRight, kTop, kBottom, kLeft, kRight };
constexpr int kNumShortcutPlaces = 8;
std::optional<ShortcutPlace> parse_shortcut_place(const std::string& name);
const char* shortcut_place_name(ShortcutPlace place);
std::string shortcut_place_names();  // "top-left, top-right, ..." for messages

struct PixelBox {
  int x = 0, y = 0, w = 0, h = 0;
};
// Where the marker goes (its bounding box, inside the image).
PixelBox shortcut_marker_box(int size, ShortcutPlace place);
// Overwrites the marker box with glyph `style` (0..3, one design per --shortcut spec). The marker
// hides what lies under it, so with `mask` its pixels leave lesion_mask; with `anatomy` they join kAnatMarker.
void draw_shortcut_marker(uint8_t* image, int size, ShortcutPlace place, int style, uint16_t* mask = nullptr,
                          uint8_t* anatomy = nullptr);

}  // namespace cxr::data
