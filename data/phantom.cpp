// The phantom renderer (see phantom.h). Per-thread float buffers, three passes: (1) on a half-
// resolution grid, smooth anatomy and bones -> attenuation without the lungs' air, air depth, lung
// field and lung markings, then upsampled; (2) lesions at full resolution, each adding attenuation
// and its class bit wherever it changes the picture; (3) composition, display, noise, markers.
#include "data/phantom.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <vector>

#include "core/random.h"

namespace cxr::data {
namespace {

constexpr float kPi = 3.14159265358979f;

// ---------------------------------------------------------------------------------------------
// Randomness: every draw goes through splitmix64 (core/random.h) so images are identical on every
// platform and independent of thread scheduling.

struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed) {}
  uint64_t next() { return splitmix64(state); }
  float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }  // [0,1)
  float uniform(float a, float b) { return a + (b - a) * uniform(); }
  int integer(int a, int b) {  // uniform in [a, b], without modulo bias
    const uint64_t bound = static_cast<uint64_t>(b - a + 1), threshold = (0 - bound) % bound;
    for (;;) {
      const uint64_t r = next();
      if (r >= threshold) return a + static_cast<int>(r % bound);
    }
  }
  bool chance(float p) { return uniform() < p; }
  float normal() {  // Box-Muller; only for parameters, never per pixel
    float u1 = std::max(uniform(), 1e-7f), u2 = uniform();
    return std::sqrt(-2.f * std::log(u1)) * std::cos(2.f * kPi * u2);
  }
};

inline float clamp01(float v) { return v < 0.f ? 0.f : (v > 1.f ? 1.f : v); }
inline float smooth01(float v) {
  v = clamp01(v);
  return v * v * (3.f - 2.f * v);
}
inline float sq(float v) { return v * v; }

// ---------------------------------------------------------------------------------------------
// A 5x7 bitmap font for the radiopaque letters on films (lead markers are bright on a radiograph).

struct Glyph {
  char c;
  uint8_t rows[7];  // bit 4 = leftmost column
};
constexpr Glyph kFont[] = {
    {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}}, {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}}, {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}}, {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}}, {'N', {0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x11}},
};

const Glyph* find_glyph(char c) {
  for (const auto& g : kFont)
    if (g.c == c) return &g;
  return nullptr;
}

// Draws text with its top-left corner at (x, y); `scale` pixels per font pixel. Lead letters hide
// what lies under them, so their pixels leave lesion_mask (when given) and join kAnatMarker. Returns the width.
int draw_text(uint8_t* img, uint16_t* mask, uint8_t* anatomy, int size, int x, int y, const char* text, int scale,
              uint8_t value) {
  int cx = x;
  for (const char* p = text; *p; ++p) {
    const Glyph* g = find_glyph(*p);
    if (g) {
      for (int r = 0; r < 7; ++r)
        for (int col = 0; col < 5; ++col) {
          if (!(g->rows[r] >> (4 - col) & 1)) continue;
          for (int dy = 0; dy < scale; ++dy)
            for (int dx = 0; dx < scale; ++dx) {
              int px = cx + col * scale + dx, py = y + r * scale + dy;
              if (px >= 0 && px < size && py >= 0 && py < size) {
                img[py * size + px] = value;
                if (mask) mask[py * size + px] = 0;
                if (anatomy) anatomy[py * size + px] |= kAnatMarker;
              }
            }
        }
    }
    cx += 6 * scale;
  }
  return cx - x - scale;
}

// ---------------------------------------------------------------------------------------------
// Per-image geometry. Anatomy coordinates: X = offset from the patient's midline (image right is
// positive, i.e. the patient's left), Y = height from the top; both in fractions of the image side.

constexpr int kYLut = 2048;
constexpr float kYLo = -0.25f, kYHi = 1.25f;
constexpr float kMedSoft = 0.014f;  // mediastinal borders are soft (vessels, fat)
constexpr int kRibLut = 4096;
constexpr float kRibLo = -0.5f, kRibHi = 1.3f;

struct Lung {
  float sign;              // -1 right lung (image left), +1 left lung
  float xc, a_lat, a_med;  // centre X and lateral/medial semi-axes (medial side is flattened)
  float yc, b;             // Y of the widest row and the vertical semi-axis above it
  float dome_y, dome_h, dome_xc, dome_w;  // diaphragm: Y(X) = dome_y + dome_h * ((X-dome_xc)/dome_w)^2
  float dome_y0, dome_h0;  // the dome without disease (for change masks)
  float lucency = 1.f;     // multiplies air depth (Emphysema > 1)
  float flat_y = 0.3f;     // below this the medial border flattens
  // Reciprocals for the per-pixel code; finish() must follow any change of the shape above.
  float inv_a_lat = 1.f, inv_a_med = 1.f, inv_b = 1.f, inv_dome_w = 1.f;
  void finish() {
    inv_a_lat = 1.f / a_lat;
    inv_a_med = 1.f / a_med;
    inv_b = 1.f / b;
    inv_dome_w = 1.f / dome_w;
  }
};

struct Heart {
  float x, y, a, b, cos_t, sin_t;  // rotated ellipse
  float inv_a = 1.f, inv_b = 1.f;
  void finish() {
    inv_a = 1.f / a;
    inv_b = 1.f / b;
  }
};

struct Geom {
  int size = 256;
  float px = 1.f / 256;           // one pixel in normalised units
  float xm = 0.5f, ym = 0.5f;     // image position of the anatomy origin (X=0, Y=0.5)
  float cos_r = 1.f, sin_r = 0.f; // patient rotation
  Lung lung[2];
  Heart heart, heart0;            // actual and disease-free
  bool cardiomegaly = false;
  float thorax_hw = 0.36f;
  float rib_top = 0.1f, rib_bottom = 0.8f;
  float rib_a = 0.05f, rib_b = 0.12f, rib_c = 0.13f;  // posterior/anterior rib curvature
  float clav_y0[2], clav_y1[2], clav_bow = 0.02f, clav_th = 0.011f, clav_x1 = 0.3f;
  float clav_lo = 0.f, clav_hi = 0.f;  // Y band that can hold a clavicle
  float scapula = 0.f;            // overlap of the scapulae on the lungs (AP)
  float arms = 0.f, arm_gap = 0.03f, arm_w = 0.09f;
  float breast = 0.f, breast_y = 0.66f, breast_r = 0.13f;
  float bone = 1.f;
  float gastric_x = 0.16f, gastric_y = 0.7f, gastric_a = 0.05f, gastric_b = 0.03f, gastric = 0.f;
  float humerus_r = 0.06f, humerus_y = 0.12f;
  float neck_y = 0.05f, arm_top = 0.15f;
  // Diaphragm change of Atelectasis (elevation) per side, for its mask.
  bool atel_elevated[2] = {false, false};
  // LUTs over Y.
  std::vector<float> body_hw, body_inv_hw, body_thick, lung_gain, med_l, med_r, spine_body, spine_ped;
  std::vector<float> rib_post, rib_ant;  // over t

  // image (normalised) -> anatomy
  void to_anatomy(float x, float y, float& X, float& Y) const {
    float dx = x - xm, dy = y - ym;
    X = cos_r * dx + sin_r * dy;
    Y = -sin_r * dx + cos_r * dy + 0.5f;
  }
  void to_image(float X, float Y, float& x, float& y) const {
    float dy = Y - 0.5f;
    x = cos_r * X - sin_r * dy + xm;
    y = sin_r * X + cos_r * dy + ym;
  }
};

inline int ylut_index(float Y) {
  int i = static_cast<int>((Y - kYLo) * (kYLut / (kYHi - kYLo)));
  return i < 0 ? 0 : (i >= kYLut ? kYLut - 1 : i);
}
inline float ylut_y(int i) { return kYLo + (static_cast<float>(i) + 0.5f) * ((kYHi - kYLo) / kYLut); }
inline int riblut_index(float t) {
  int i = static_cast<int>((t - kRibLo) * (kRibLut / (kRibHi - kRibLo)));
  return i < 0 ? 0 : (i >= kRibLut ? kRibLut - 1 : i);
}

// Lung shape value: > 0 inside the outline (ignoring the diaphragm), roughly the distance to the
// edge in normalised units.
inline float lung_shape(const Lung& L, float X, float Y) {
  float dx = (X - L.xc) * L.sign;  // > 0 lateral
  float ex = dx > 0 ? dx * L.inv_a_lat : -dx * L.inv_a_med;
  float ex2 = ex * ex;
  // The medial border is flatter (mediastinum) below the apex; the apex itself is round.
  float fx = dx > 0 ? ex2 : ex2 + (ex2 * ex2 - ex2) * clamp01((Y - L.flat_y) * 10.f);
  float ey = Y < L.yc ? (Y - L.yc) * L.inv_b : 0.f;
  float f = fx + ey * ey;
  return (1.f - f) * 0.5f * (dx > 0 ? L.a_lat : L.a_med);
}
// Dome height at X: a parabola, steep laterally (costophrenic angle) and flat medially, where the
// central tendon runs under the heart.
inline float dome_curve(const Lung& L, float X, float y, float h) {
  float t = (X - L.dome_xc) * L.inv_dome_w;
  return y + (t * L.sign < 0.f ? 0.3f : 1.f) * h * t * t;
}
inline float dome_y(const Lung& L, float X) { return dome_curve(L, X, L.dome_y, L.dome_h); }
inline float dome0_y(const Lung& L, float X) { return dome_curve(L, X, L.dome_y0, L.dome_h0); }

// Lung field coverage in [0,1] (soft edge of ~1.5 px), zero outside the pleural space.
inline float lung_field(const Geom& g, const Lung& L, float X, float Y) {
  float s = lung_shape(L, X, Y);
  if (s <= 0.f) return 0.f;
  float d = dome_y(L, X) - Y;
  if (d <= 0.f) return 0.f;
  return clamp01(s / (1.5f * g.px)) * clamp01(d / g.px);
}

inline float heart_cov(const Heart& h, float X, float Y, float soft) {
  float dx = X - h.x, dy = Y - h.y;
  float u = h.cos_t * dx + h.sin_t * dy, v = -h.sin_t * dx + h.cos_t * dy;
  float f = sq(u * h.inv_a) + sq(v * h.inv_b);
  if (f >= 1.f) return 0.f;
  return clamp01((1.f - f) * (0.5f * h.b) / soft);
}

// Tube cross-section of a bone (z in [-1,1]): the cortex makes the edges brighter than the middle.
inline float bone_profile(float z) {
  float o = 1.f - z * z;
  if (o <= 0.f) return 0.f;
  float inner = 0.64f - z * z;
  return std::sqrt(o) - (inner > 0.f ? 0.55f * std::sqrt(inner) : 0.f);
}

// ---------------------------------------------------------------------------------------------
// Per-thread scratch, reused across images so rendering allocates nothing in steady state.

struct Scratch {
  int size = 0, low = 0, factor = 1;
  std::vector<float> base, depth, field, vessel, lesion, mark;  // S x S
  std::vector<float> base_lo, depth_lo, field_lo, vessel_lo;    // low x low (smooth anatomy)
  std::vector<float> tex_row, up_row, up_w;
  std::map<int, std::vector<float>> gamma_luts;  // by round(gamma * 50); grey = lut[v * 4096]
  std::vector<int> up_ix;
  void ensure(int s) {
    if (size == s) return;
    size = s;
    factor = s >= 128 ? 2 : 1;
    low = (s + factor - 1) / factor;
    size_t n = static_cast<size_t>(s) * static_cast<size_t>(s), nl = static_cast<size_t>(low) * low;
    for (auto* v : {&base, &depth, &field, &vessel, &lesion, &mark}) v->assign(n, 0.f);
    for (auto* v : {&base_lo, &depth_lo, &field_lo, &vessel_lo}) v->assign(nl, 0.f);
    tex_row.assign(static_cast<size_t>(s), 0.f);
    up_row.assign(static_cast<size_t>(low), 0.f);
    // Bilinear upsampling taps: full-res pixel px samples low-res coordinate (px+0.5)/f - 0.5.
    up_ix.resize(static_cast<size_t>(s));
    up_w.resize(static_cast<size_t>(s));
    for (int px = 0; px < s; ++px) {
      float u = (static_cast<float>(px) + 0.5f) / static_cast<float>(factor) - 0.5f;
      int i = std::min(std::max(static_cast<int>(std::floor(u)), 0), std::max(low - 2, 0));
      up_ix[static_cast<size_t>(px)] = i;
      up_w[static_cast<size_t>(px)] = low > 1 ? clamp01(u - static_cast<float>(i)) : 0.f;
    }
  }
  // Display curve 255 * v^gamma, cached per gamma (a few distinct values: gamma is quantised).
  const std::vector<float>& gamma_table(int gamma50) {
    std::vector<float>& lut = gamma_luts[gamma50];
    if (lut.empty()) {
      lut.resize(4097);
      const float gamma = static_cast<float>(gamma50) / 50.f;
      for (int i = 0; i <= 4096; ++i) lut[static_cast<size_t>(i)] = 255.f * std::pow(static_cast<float>(i) / 4096.f, gamma);
    }
    return lut;
  }
  // lo (low x low) -> hi (size x size), bilinear.
  void upsample(const std::vector<float>& lo, std::vector<float>& hi) {
    if (factor == 1) {
      hi = lo;
      return;
    }
    for (int py = 0; py < size; ++py) {
      const int iy = up_ix[static_cast<size_t>(py)];
      const float wy = up_w[static_cast<size_t>(py)];
      const float* r0 = &lo[static_cast<size_t>(iy) * low];
      const float* r1 = r0 + low;
      float* t = up_row.data();
      for (int k = 0; k < low; ++k) t[k] = r0[k] + (r1[k] - r0[k]) * wy;
      // Factor 2: the taps alternate 3/4-1/4 and 1/4-3/4 (the same values as up_ix/up_w give).
      float* out = &hi[static_cast<size_t>(py) * size];
      out[0] = t[0];
      for (int k = 0; k + 1 < low; ++k) {
        out[2 * k + 1] = 0.75f * t[k] + 0.25f * t[k + 1];
        out[2 * k + 2] = 0.25f * t[k] + 0.75f * t[k + 1];
      }
      if (size == 2 * low) out[size - 1] = t[low - 1];
    }
  }
};
thread_local Scratch t_scratch;

// A small grid of uniform noise in [-1,1] covering an anatomy-space box, bilinearly interpolated.
struct NoiseGrid {
  int n = 8;
  float x0 = 0, y0 = 0, sx = 1, sy = 1;
  std::vector<float> v;
  void init(Rng& rng, int cells, float X0, float Y0, float X1, float Y1) {
    n = cells;
    x0 = X0;
    y0 = Y0;
    sx = static_cast<float>(n - 1) / std::max(X1 - X0, 1e-6f);
    sy = static_cast<float>(n - 1) / std::max(Y1 - Y0, 1e-6f);
    v.resize(static_cast<size_t>(n * n));
    for (auto& e : v) e = rng.uniform() * 2.f - 1.f;
  }
  float at(float X, float Y) const {
    float fx = std::min(std::max((X - x0) * sx, 0.f), static_cast<float>(n - 1) - 1e-4f);
    float fy = std::min(std::max((Y - y0) * sy, 0.f), static_cast<float>(n - 1) - 1e-4f);
    int ix = static_cast<int>(fx), iy = static_cast<int>(fy);
    float wx = fx - static_cast<float>(ix), wy = fy - static_cast<float>(iy);
    const float* r0 = &v[static_cast<size_t>(iy * n + ix)];
    const float* r1 = r0 + n;
    float a = r0[0] + (r0[1] - r0[0]) * wx, b = r1[0] + (r1[1] - r1[0]) * wx;
    return a + (b - a) * wy;
  }
  // One image row of a grid spanning the unit square: out[px] (+)= weight * value.
  void row(int size, float y, float weight, float* out, bool add) const {
    float fy = y * static_cast<float>(n - 1);
    int iy = std::min(static_cast<int>(fy), n - 2);
    float wy = fy - static_cast<float>(iy);
    float col[128];
    for (int k = 0; k < n; ++k) {
      float a = v[static_cast<size_t>(iy * n + k)], b = v[static_cast<size_t>((iy + 1) * n + k)];
      col[k] = weight * (a + (b - a) * wy);
    }
    const float step = static_cast<float>(n - 1) / static_cast<float>(size);
    for (int px = 0; px < size; ++px) {
      float fx = (static_cast<float>(px) + 0.5f) * step;
      int ix = static_cast<int>(fx);
      float val = col[ix] + (col[ix + 1] - col[ix]) * (fx - static_cast<float>(ix));
      out[px] = add ? out[px] + val : val;
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Lesion canvas: adds a class's attenuation change and sets its mask bit where the change matters.

struct Canvas {
  const Geom* g;
  Scratch* s;
  uint16_t* mask;
  float eps;       // attenuation change that moves the image by mask_threshold_grey
  float air;       // params.lung_air (lesion strengths are fractions of it)
};

// Runs fn(X, Y, i) -> delta over the image pixels of an anatomy-space box; fn may also edit the
// markings multiplier s->mark[i] (it must then return a delta above eps there, so the bit is set).
template <class Fn>
void rasterise(Canvas& c, int cls, float X0, float Y0, float X1, float Y1, Fn&& fn) {
  const Geom& g = *c.g;
  float xs[4], ys[4];
  g.to_image(X0, Y0, xs[0], ys[0]);
  g.to_image(X1, Y0, xs[1], ys[1]);
  g.to_image(X0, Y1, xs[2], ys[2]);
  g.to_image(X1, Y1, xs[3], ys[3]);
  const int S = g.size;
  auto lo = [&](const float* v) { return static_cast<int>(std::floor(*std::min_element(v, v + 4) * S)) - 1; };
  auto hi = [&](const float* v) { return static_cast<int>(std::ceil(*std::max_element(v, v + 4) * S)) + 1; };
  int px0 = std::max(0, lo(xs)), px1 = std::min(S - 1, hi(xs));
  int py0 = std::max(0, lo(ys)), py1 = std::min(S - 1, hi(ys));
  const uint16_t bit = static_cast<uint16_t>(1u << cls);
  const float inv = 1.f / static_cast<float>(S);
  for (int py = py0; py <= py1; ++py) {
    float X, Y;
    g.to_anatomy((static_cast<float>(px0) + 0.5f) * inv, (static_cast<float>(py) + 0.5f) * inv, X, Y);
    const float dX = g.cos_r * inv, dY = -g.sin_r * inv;
    for (int px = px0; px <= px1; ++px, X += dX, Y += dY) {
      if (X < X0 || X > X1 || Y < Y0 || Y > Y1) continue;
      const size_t i = static_cast<size_t>(py) * S + px;
      float d = fn(X, Y, i);
      if (std::fabs(d) > c.eps) {
        c.s->lesion[i] += d;
        if (c.mask) c.mask[i] |= bit;
      }
    }
  }
}

// A random point well inside a lung field (the whole disc of radius r inside), or false.
// A random point well inside a lung field (the whole disc of radius r inside) and clear of the
// heart and mediastinum, where a lesion would be hidden (no air to replace): every positive film
// then shows its lesion. Falls back to the middle of the lung.
bool sample_in_lung(const Geom& g, Rng& rng, int side, float r, float y_lo, float y_hi, float& X, float& Y) {
  const Lung& L = g.lung[side];
  for (int tries = 0; tries < 80; ++tries) {
    float x = L.xc + L.sign * (-L.a_med + rng.uniform() * (L.a_med + L.a_lat));
    float y = L.yc - L.b + (y_lo + (y_hi - y_lo) * rng.uniform()) * (dome_y(L, L.xc) - (L.yc - L.b));
    const std::vector<float>& med = side == 0 ? g.med_l : g.med_r;
    bool ok = lung_field(g, L, x, y) >= 1.f && heart_cov(g.heart, x, y, g.px) <= 0.f &&
              std::fabs(x) > med[static_cast<size_t>(ylut_index(y))] + kMedSoft + r;
    for (int k = 0; ok && k < 8; ++k) {
      float a = static_cast<float>(k) * kPi / 4.f;
      ok = lung_field(g, L, x + r * std::cos(a), y + r * std::sin(a)) >= 1.f;
    }
    if (ok) {
      X = x;
      Y = y;
      return true;
    }
  }
  X = L.xc + L.sign * 0.2f * L.a_lat;
  Y = L.yc - 0.35f * L.b;
  return false;
}

int pick_side(Rng& rng) { return rng.chance(0.5f) ? 0 : 1; }

// ---------------------------------------------------------------------------------------------
// Vascular markings: a branching tree from each hilum, drawn as tapered lines (max blend, so
// crossings do not double up) on the smooth-anatomy grid: at 256 px the film blurs them anyway.
// Patient-specific (seeded by the anatomy seed), so one patient's films share their vessels.

struct VesselCanvas {
  const Geom* g;
  float* buf;   // grid x grid
  int grid;
  float scale;  // grid pixels per normalised unit
};

void stamp_line(const VesselCanvas& vc, float X0, float Y0, float X1, float Y1, float r0, float r1, float v0, float v1) {
  const int S = vc.grid;
  float x0, y0, x1, y1;
  vc.g->to_image(X0, Y0, x0, y0);
  vc.g->to_image(X1, Y1, x1, y1);
  x0 *= vc.scale; y0 *= vc.scale; x1 *= vc.scale; y1 *= vc.scale;
  r0 *= vc.scale; r1 *= vc.scale;
  float len = std::hypot(x1 - x0, y1 - y0);
  // Discs every ~0.6 radius (at least 0.7 px): overlapping enough to look continuous, no more.
  float step = std::max(0.7f, 0.6f * std::max(r0, r1));
  int steps = std::max(1, static_cast<int>(len / step));
  for (int k = 0; k <= steps; ++k) {
    float t = static_cast<float>(k) / static_cast<float>(steps);
    float cx = x0 + (x1 - x0) * t, cy = y0 + (y1 - y0) * t;
    float r = std::max(0.45f, r0 + (r1 - r0) * t), v = v0 + (v1 - v0) * t;
    // Thin vessels keep their integral (fainter rather than thicker when below a pixel).
    if (r < 0.8f) v *= r / 0.8f + 0.2f;
    int ix0 = std::max(0, static_cast<int>(cx - r)), ix1 = std::min(S - 1, static_cast<int>(cx + r));
    int iy0 = std::max(0, static_cast<int>(cy - r)), iy1 = std::min(S - 1, static_cast<int>(cy + r));
    float inv_r2 = 1.f / ((r + 0.5f) * (r + 0.5f));
    for (int iy = iy0; iy <= iy1; ++iy) {
      float dy2 = sq(static_cast<float>(iy) + 0.5f - cy);
      float* row = &vc.buf[static_cast<size_t>(iy) * S];
      for (int ix = ix0; ix <= ix1; ++ix) {
        float q = 1.f - (sq(static_cast<float>(ix) + 0.5f - cx) + dy2) * inv_r2;
        if (q <= 0.f) continue;
        float val = v * q * (2.f - q);
        if (val > row[ix]) row[ix] = val;
      }
    }
  }
}

// One vessel: a slightly wandering polyline that forks until it is too thin to see.
void vessel_branch(const VesselCanvas& vc, Rng& rng, float X, float Y, float angle, float len, float r, float v,
                   int depth) {
  float X1 = X, Y1 = Y;
  const int pieces = 2;
  for (int k = 0; k < pieces; ++k) {
    angle += rng.uniform(-0.18f, 0.18f);
    float x2 = X1 + std::cos(angle) * len / pieces, y2 = Y1 + std::sin(angle) * len / pieces;
    float f0 = 1.f - 0.15f * static_cast<float>(k) / pieces, f1 = 1.f - 0.15f * static_cast<float>(k + 1) / pieces;
    stamp_line(vc, X1, Y1, x2, y2, r * f0, r * f1, v * f0, v * f1);
    X1 = x2;
    Y1 = y2;
  }
  if (depth == 0) return;
  int kids = rng.chance(0.12f) ? 3 : 2;
  for (int k = 0; k < kids; ++k) {
    float spread = rng.uniform(0.2f, 0.55f);
    float a = angle + (k == 0 ? -spread : (k == 1 ? spread : 0.f));
    float shrink = rng.uniform(0.6f, 0.85f);
    vessel_branch(vc, rng, X1, Y1, a, len * shrink, r * (0.55f + 0.2f * shrink), v * (0.62f + 0.25f * shrink),
                  depth - 1);
  }
}

void draw_vessels(const VesselCanvas& vc, uint64_t anatomy_seed, float strength, float upper_boost) {
  const Geom& g = *vc.g;
  Rng rng(mix_seed(anatomy_seed, 0x7e55e1));
  for (int side = 0; side < 2; ++side) {
    const Lung& L = g.lung[side];
    int roots = 7;
    for (int k = 0; k < roots; ++k) {
      // Fan from up-and-out to down-and-out (angles measured from the lateral direction); the
      // roots leave the hilum along its height.
      float a = -1.35f + 2.5f * (static_cast<float>(k) + rng.uniform(0.15f, 0.85f)) / static_cast<float>(roots);
      float angle = side == 0 ? kPi - a : a;  // mirror for the right lung (pointing to image left)
      float hx = L.sign * (rng.uniform(0.06f, 0.085f) + (side == 1 ? 0.012f : 0.f));
      float hy = (side == 0 ? 0.43f : 0.41f) + 0.05f * a;
      float boost = a < -0.3f ? upper_boost : 1.f;
      float len = rng.uniform(0.05f, 0.075f) * (a > 0.5f ? 1.2f : 1.f);
      vessel_branch(vc, rng, hx, hy, angle, len, 0.0065f, strength * boost * rng.uniform(0.8f, 1.1f), 4);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Lesion generators, one per class. Strengths are fractions of the lung's air attenuation, so
// 1.0 makes aerated lung as dense as soft tissue. Each returns nothing; effects go through Canvas.

void lesion_nodule_or_mass(Canvas& c, Rng& rng, int cls, const LesionKnobs& k, bool mass) {
  const Geom& g = *c.g;
  int n = rng.integer(k.count_min, k.count_max);
  for (int j = 0; j < n; ++j) {
    float r = rng.uniform(k.size_min, k.size_max);
    float strength = rng.uniform(k.strength_min, k.strength_max);
    bool calcified = !mass && rng.chance(0.12f);
    if (calcified) {
      r *= 0.7f;
      strength *= 2.2f;
    }
    r = std::max(r, 1.2f * g.px);  // at least a couple of pixels at small image sizes
    int side = pick_side(rng);
    float X, Y;
    if (!sample_in_lung(g, rng, side, r * 1.2f, 0.08f, 0.9f, X, Y))
      sample_in_lung(g, rng, 1 - side, r, 0.05f, 0.95f, X, Y);  // else the fallback point
    float lob1 = rng.uniform(0.f, 2.f * kPi), lob2 = rng.uniform(0.f, 2.f * kPi);
    float amp1 = mass ? rng.uniform(0.05f, 0.16f) : 0.f, amp2 = mass ? rng.uniform(0.03f, 0.08f) : 0.f;
    float rmax = r * (1.f + amp1 + amp2);
    float h = strength * c.air;
    const float edge = mass ? 0.35f : 0.6f;  // sharper margin for masses
    rasterise(c, cls, X - rmax, Y - rmax, X + rmax, Y + rmax, [&](float x, float y, size_t i) {
      float dx = x - X, dy = y - Y;
      float d2 = dx * dx + dy * dy;
      if (d2 >= rmax * rmax) return 0.f;
      float rr = r;
      if (mass) {
        float a = std::atan2(dy, dx);
        rr = r * (1.f + amp1 * std::sin(3.f * a + lob1) + amp2 * std::sin(5.f * a + lob2));
      }
      float q = 1.f - d2 / (rr * rr);
      if (q <= 0.f) return 0.f;
      float prof = clamp01(q / edge);
      prof = prof * prof * (3.f - 2.f * prof);
      return h * prof * c.s->depth[i];
    });
  }
}

// Patchy airspace opacity (Infiltration, Pneumonia, Consolidation differ in density, size,
// confluence, zone and air bronchograms, by design overlapping for the subtle pair).
void lesion_patchy(Canvas& c, Rng& rng, int cls, const LesionKnobs& k, float confluence, float y_lo, float y_hi,
                   bool bronchograms, bool fissure) {
  const Geom& g = *c.g;
  int n = rng.integer(k.count_min, k.count_max);
  int first_side = pick_side(rng);
  for (int j = 0; j < n; ++j) {
    float rx = rng.uniform(k.size_min, k.size_max), ry = rx * rng.uniform(0.7f, 1.2f);
    float strength = rng.uniform(k.strength_min, k.strength_max);
    int side = (j % 2 == 0) ? first_side : (rng.chance(0.6f) ? 1 - first_side : first_side);
    float X, Y;
    if (!sample_in_lung(g, rng, side, 0.5f * std::min(rx, ry), y_lo, y_hi, X, Y))
      sample_in_lung(g, rng, 1 - side, 0.3f * std::min(rx, ry), 0.1f, 0.9f, X, Y);  // else the fallback point
    NoiseGrid tex;
    tex.init(rng, 7, X - rx, Y - ry, X + rx, Y + ry);
    tex.v[3 * 7 + 3] = 1.f;  // the centre is always opaque, so a patch is never empty
    NoiseGrid fine;
    fine.init(rng, 13, X - rx, Y - ry, X + rx, Y + ry);
    const float h = strength * c.air;
    const float thr = 0.55f - 0.9f * confluence;  // texture threshold: lower = more confluent
    float fissure_y = fissure ? Y + ry * rng.uniform(-0.1f, 0.4f) : 1e9f;
    float br_angle = rng.uniform(0.f, kPi), br_freq = rng.uniform(9.f, 13.f) / rx;
    rasterise(c, cls, X - rx, Y - ry, X + rx, Y + ry, [&](float x, float y, size_t i) {
      float e = 1.f - sq((x - X) / rx) - sq((y - Y) / ry);
      if (e <= 0.f) return 0.f;
      float f = c.s->field[i];
      if (f <= 0.f) return 0.f;
      float env = smooth01(e * 2.5f);
      float t = 0.7f * tex.at(x, y) + 0.3f * fine.at(x, y);
      float patch = clamp01((t - thr) / 0.45f);
      if (y > fissure_y) patch *= clamp01(1.f - (y - fissure_y) / (1.5f * g.px));  // sharp fissure edge
      float d = h * env * patch;
      if (bronchograms && d > 0.f) {
        // Branch-like dark lines of air in the bronchi inside the dense lung.
        float u = (x - X) * std::cos(br_angle) + (y - Y) * std::sin(br_angle);
        float w = (y - Y) * std::cos(br_angle) - (x - X) * std::sin(br_angle);
        float line = std::fabs(std::sin(br_freq * (w + 0.15f * u * u / rx)));
        if (line < 0.1f && fine.at(x, y) > 0.f) d *= 0.6f;
      }
      return d * c.s->depth[i];
    });
  }
}

void lesion_edema(Canvas& c, Rng& rng, int cls, const LesionKnobs& k) {
  const Geom& g = *c.g;
  float strength = rng.uniform(k.strength_min, k.strength_max) * c.air;
  float reach = rng.uniform(k.size_min, k.size_max);
  for (int side = 0; side < 2; ++side) {
    const Lung& L = g.lung[side];
    float hx = L.sign * 0.09f, hy = 0.43f;
    float rx = reach * (L.a_lat + L.a_med), ry = reach * 0.85f * (dome_y(L, L.xc) - (L.yc - L.b));
    NoiseGrid tex;
    tex.init(rng, 9, hx - rx, hy - ry, hx + rx, hy + ry);
    // Bat-wing haze, densest at the hilum, fading outward.
    rasterise(c, cls, hx - rx, hy - ry, hx + rx, hy + ry, [&](float x, float y, size_t i) {
      float e = 1.f - sq((x - hx) / rx) - sq((y - hy) / ry);
      if (e <= 0.f) return 0.f;
      return strength * std::sqrt(e) * (0.7f + 0.3f * tex.at(x, y)) * c.s->depth[i];
    });
    // Kerley B lines: short horizontal lines at the lateral lung bases.
    int lines = rng.integer(3, 7);
    float base = dome_y(L, L.xc + L.sign * L.a_lat * 0.8f);
    for (int j = 0; j < lines; ++j) {
      float ly = base - 0.015f - 0.012f * static_cast<float>(j) - rng.uniform(0.f, 0.006f);
      float lx1 = L.xc + L.sign * L.a_lat * 0.98f;
      float len = rng.uniform(0.02f, 0.035f);
      float lx0 = lx1 - L.sign * len;
      float x0 = std::min(lx0, lx1), x1 = std::max(lx0, lx1);
      float th = std::max(0.6f * g.px, 0.0025f);
      rasterise(c, cls, x0, ly - 2 * th, x1, ly + 2 * th, [&](float x, float y, size_t i) {
        float q = 1.f - std::fabs(y - ly) / th;
        return q > 0.f ? 0.5f * c.air * q * c.s->depth[i] : 0.f;
      });
    }
  }
}

void lesion_effusion(Canvas& c, Rng& rng, int cls, const LesionKnobs& k, bool ap) {
  const Geom& g = *c.g;
  int first = pick_side(rng);
  bool bilateral = rng.chance(0.3f);
  for (int side = 0; side < 2; ++side) {
    if (side != first && !bilateral) continue;
    const Lung& L = g.lung[side];
    float height = rng.uniform(k.size_min, k.size_max);  // fluid height above the costophrenic angle
    float fill = rng.uniform(k.strength_min, k.strength_max);
    float x_lat = L.xc + L.sign * L.a_lat, x_med = L.xc - L.sign * L.a_med;
    float angle_y = dome_y(L, x_lat);
    float level = angle_y - height;
    float rise = rng.uniform(0.04f, 0.08f);  // meniscus climbs the lateral chest wall
    bool layering = ap && rng.chance(0.4f);   // supine: fluid spreads as a veil over the hemithorax
    float top = L.yc - L.b;
    float X0 = std::min(x_lat, x_med), X1 = std::max(x_lat, x_med);
    float soft = 2.5f * g.px;
    rasterise(c, cls, X0, layering ? top : level - rise - 0.01f, X1, angle_y + 0.01f, [&](float x, float y, size_t i) {
      float f = c.s->field[i];
      if (f <= 0.f) return 0.f;
      float t = clamp01((x - x_med) / (x_lat - x_med));
      float men = level - rise * t * t;
      float w = clamp01((y - men) / soft);
      if (layering) w = std::max(w * 0.6f, 0.55f * clamp01((y - top) / (angle_y - top)));
      if (w <= 0.f) return 0.f;
      c.s->mark[i] *= 1.f - 0.8f * w;
      return w * fill * c.air * c.s->depth[i];
    });
  }
}

void lesion_pneumothorax(Canvas& c, Rng& rng, int cls, const LesionKnobs& k) {
  const Geom& g = *c.g;
  int side = pick_side(rng);
  const Lung& L = g.lung[side];
  float collapse = rng.uniform(k.size_min, k.size_max);  // fraction of the lung's extent lost
  float lucency = rng.uniform(k.strength_min, k.strength_max) * c.air;
  // Collapsed lung: the outline shrunk towards the hilum/base, so air collects at apex and side.
  float ax = L.xc - L.sign * L.a_med * 0.6f, ay = dome_y(L, L.xc) - 0.02f;
  float s = 1.f - collapse;
  Lung in = L;
  in.xc = ax + (L.xc - ax) * s;
  in.yc = ay + (L.yc - ay) * s;
  in.a_lat = L.a_lat * s;
  in.a_med = L.a_med * s;
  in.b = L.b * s;
  in.finish();
  float line = std::max(0.8f * g.px, 0.0025f);
  float X0 = L.xc - L.a_lat - L.a_med, X1 = L.xc + L.a_lat + L.a_med;
  rasterise(c, cls, X0, L.yc - L.b, X1, dome_y(L, L.xc) + 0.1f, [&](float x, float y, size_t i) {
    float f = c.s->field[i];
    // Air collects at the apex and laterally; the lung stays attached at the hilum (medially).
    if (f <= 0.f || (x - ax) * L.sign < 0.f) return 0.f;
    float sh = lung_shape(in, x, y);  // > 0 inside the collapsed lung
    if (sh > line) return 0.f;
    if (sh > -line) return 0.35f * c.air * (1.f - std::fabs(sh) / line) * f;  // visceral pleural line
    c.s->mark[i] = 0.f;  // no lung markings beyond the pleural line
    return -lucency * c.s->depth[i];
  });
}

void lesion_emphysema_bullae(Canvas& c, Rng& rng, int cls) {
  const Geom& g = *c.g;
  int n = rng.integer(0, 2);
  for (int j = 0; j < n; ++j) {
    int side = pick_side(rng);
    float r = rng.uniform(0.025f, 0.045f), X, Y;
    if (!sample_in_lung(g, rng, side, r, 0.0f, 0.35f, X, Y)) continue;
    float wall = std::max(0.7f * g.px, 0.002f);
    rasterise(c, cls, X - r - wall, Y - r - wall, X + r + wall, Y + r + wall, [&](float x, float y, size_t i) {
      float d = std::sqrt(sq(x - X) + sq(y - Y));
      if (std::fabs(d - r) < wall) return 0.3f * c.air * (1.f - std::fabs(d - r) / wall) * c.s->depth[i];
      if (d < r) {
        c.s->mark[i] = 0.f;
        return -0.12f * c.air * c.s->depth[i];
      }
      return 0.f;
    });
  }
}

void lesion_hernia(Canvas& c, Rng& rng, int cls, const LesionKnobs& k) {
  const Geom& g = *c.g;
  const Heart& h = g.heart;
  // Retrocardiac, just above the left dome, well inside the cardiac silhouette.
  float r = rng.uniform(k.size_min, k.size_max) * std::min(h.a, h.b) / 0.12f;
  float X = h.x + rng.uniform(-0.3f, 0.1f) * h.a, Y = h.y + h.b * rng.uniform(0.05f, 0.25f);
  float ry = r * rng.uniform(0.75f, 0.95f);
  float strength = rng.uniform(k.strength_min, k.strength_max) * c.air;
  float level = Y - ry * rng.uniform(0.0f, 0.45f);  // air-fluid level
  rasterise(c, cls, X - r, Y - ry, X + r, Y + ry, [&](float x, float y, size_t i) {
    float e = 1.f - sq((x - X) / r) - sq((y - Y) / ry);
    if (e <= 0.f) return 0.f;
    float cov = heart_cov(h, x, y, 2.f * c.g->px);
    if (cov <= 0.f) return 0.f;
    float wall = clamp01(e * 6.f);
    // Gas above the level is dark; fluid/wall below is dense; the level is a sharp edge.
    float v = y < level ? -0.9f * strength * wall : 0.25f * strength * wall;
    return v * cov;
  });
}

void lesion_atelectasis(Canvas& c, Rng& rng, int cls, const LesionKnobs& k, int side) {
  const Geom& g = *c.g;
  const Lung& L = g.lung[side];
  int n = rng.integer(k.count_min, k.count_max);
  float strength = rng.uniform(k.strength_min, k.strength_max) * c.air;
  if (rng.chance(0.35f)) {
    // Lower-lobe collapse: a triangle from the hilum down to the medial dome.
    float tip_x = L.sign * 0.08f, tip_y = 0.45f;
    float base_y = dome_y(L, L.xc - L.sign * L.a_med * 0.5f);
    float bx0 = L.sign * 0.05f, bx1 = L.xc + L.sign * rng.uniform(0.0f, 0.4f) * L.a_lat;
    float X0 = std::min({tip_x, bx0, bx1}), X1 = std::max({tip_x, bx0, bx1});
    rasterise(c, cls, X0, tip_y, X1, base_y + 0.02f, [&](float x, float y, size_t i) {
      float t = (y - tip_y) / (base_y - tip_y);
      if (t <= 0.f) return 0.f;
      float xa = tip_x + (bx0 - tip_x) * std::min(t, 1.f), xb = tip_x + (bx1 - tip_x) * std::min(t, 1.f);
      float lo = std::min(xa, xb), hi = std::max(xa, xb);
      float w = std::min(x - lo, hi - x) / (1.5f * g.px);
      return w > 0.f ? strength * clamp01(w) * c.s->depth[i] : 0.f;
    });
  } else {
    // Plate-like (discoid) atelectasis: thin, slightly oblique bands at the base.
    for (int j = 0; j < n; ++j) {
      float len = rng.uniform(k.size_min, k.size_max), th = std::max(1.2f * g.px, rng.uniform(0.005f, 0.009f));
      float X, Y;
      if (!sample_in_lung(g, rng, side, 0.02f, 0.55f, 0.92f, X, Y)) continue;
      float ang = rng.uniform(-0.25f, 0.25f), ca = std::cos(ang), sa = std::sin(ang);
      float half = 0.5f * len;
      rasterise(c, cls, X - half - th, Y - half * 0.3f - th, X + half + th, Y + half * 0.3f + th,
                [&](float x, float y, size_t i) {
                  float u = (x - X) * ca + (y - Y) * sa, v = -(x - X) * sa + (y - Y) * ca;
                  float along = 1.f - sq(u / half);
                  if (along <= 0.f) return 0.f;
                  float q = 1.f - std::fabs(v) / (th * std::sqrt(along));
                  return q > 0.f ? strength * 1.3f * clamp01(q * 2.f) * c.s->depth[i] : 0.f;
                });
    }
  }
}

void lesion_fibrosis(Canvas& c, Rng& rng, int cls, const LesionKnobs& k) {
  const Geom& g = *c.g;
  float strength = rng.uniform(k.strength_min, k.strength_max) * c.air;
  bool upper = rng.chance(0.3f);  // upper-zone fibrosis (e.g. post-TB) vs basal/peripheral
  float cell = rng.uniform(k.size_min, k.size_max);
  for (int side = 0; side < 2; ++side) {
    const Lung& L = g.lung[side];
    float top = L.yc - L.b, bottom = dome_y(L, L.xc);
    float X0 = L.xc - L.a_med - L.a_lat, X1 = L.xc + L.a_med + L.a_lat;
    float Y0 = upper ? top : top + 0.45f * (bottom - top), Y1 = upper ? top + 0.5f * (bottom - top) : bottom + 0.03f;
    int cells = std::max(6, static_cast<int>((X1 - X0) / cell));
    NoiseGrid net;
    net.init(rng, cells, X0, Y0, X1, Y1);
    float side_amp = side == 0 ? 1.f : rng.uniform(0.6f, 1.f);
    rasterise(c, cls, X0, Y0, X1, Y1, [&](float x, float y, size_t i) {
      float f = c.s->field[i];
      if (f <= 0.f) return 0.f;
      float zone = upper ? clamp01((Y1 - y) / (0.5f * (Y1 - Y0))) : clamp01((y - Y0) / (0.5f * (Y1 - Y0)));
      float periph = clamp01(0.3f + (x - L.xc) * L.sign / L.a_lat);
      float env = zone * periph;
      if (env <= 0.f) return 0.f;
      float ridge = 1.f - std::fabs(net.at(x, y));  // 1 on the zero set of the noise: a network
      float line = clamp01((ridge - 0.8f) / 0.2f);
      return strength * side_amp * env * (0.25f + line) * c.s->depth[i];
    });
  }
}

void lesion_pleural_thickening(Canvas& c, Rng& rng, int cls, const LesionKnobs& k) {
  const Geom& g = *c.g;
  int first = pick_side(rng);
  bool bilateral = rng.chance(0.35f);
  for (int side = 0; side < 2; ++side) {
    if (side != first && !bilateral) continue;
    const Lung& L = g.lung[side];
    float th = rng.uniform(k.size_min, k.size_max);
    float strength = rng.uniform(k.strength_min, k.strength_max) * c.air;
    bool apical = rng.chance(0.35f);
    float top = L.yc - L.b, bottom = dome_y(L, L.xc + L.sign * L.a_lat);
    float y0 = apical ? top : top + rng.uniform(0.2f, 0.45f) * (bottom - top);
    float y1 = apical ? top + 0.3f * (bottom - top) : bottom;
    float ph = rng.uniform(0.f, 2.f * kPi), freq = rng.uniform(20.f, 40.f);
    float X0 = L.xc - L.a_med - L.a_lat, X1 = L.xc + L.a_med + L.a_lat;
    rasterise(c, cls, X0, y0, X1, y1, [&](float x, float y, size_t i) {
      float f = c.s->field[i];
      if (f <= 0.f) return 0.f;
      float d = lung_shape(L, x, y);  // distance to the pleura from inside (approximately)
      if (d <= 0.f) return 0.f;      // the other lung
      if (!apical && (x - L.xc) * L.sign < 0.f) return 0.f;  // costal pleura: the lateral wall only
      float span = std::min(clamp01((y - y0) / 0.03f), clamp01((y1 - y) / 0.03f));
      float t = th * span * (0.75f + 0.25f * std::sin(freq * y + ph));
      if (d >= t) return 0.f;
      return strength * clamp01((t - d) / (1.5f * g.px)) * f;
    });
  }
}

// ---------------------------------------------------------------------------------------------

LesionKnobs knobs(float s0, float s1, float a0, float a1, int n0 = 1, int n1 = 1) {
  LesionKnobs k;
  k.size_min = s0;
  k.size_max = s1;
  k.strength_min = a0;
  k.strength_max = a1;
  k.count_min = n0;
  k.count_max = n1;
  return k;
}

// Per class: what size and strength mean. Kept next to the defaults so the JSON documents itself.
const char* const kKnobMeaning[kNumClasses] = {
    "size: plate length; strength: density (fraction of lung air); count: plates (35% lower-lobe collapse instead)",
    "size: heart width scale; strength: unused",
    "size: patch radius; strength: density",
    "size: haze reach (fraction of lung); strength: haze density at the hilum",
    "size: fluid height above the costophrenic angle; strength: fraction of air replaced",
    "size: diaphragm descent; strength: extra lucency of the lungs",
    "size: reticular cell size; strength: density of the network",
    "size: radius (relative to a 0.12 heart); strength: density",
    "size: patch radius; strength: density; count: patches",
    "size: radius; strength: density",
    "size: radius; strength: density; count: nodules (12% calcified: smaller, denser)",
    "size: band thickness; strength: density",
    "size: patch radius; strength: density; count: patches",
    "size: collapse (fraction of lung extent); strength: lucency of the pleural air",
};

const char* const kDifficulty[kNumClasses] = {"medium", "obvious", "medium", "obvious", "obvious", "obvious", "medium",
                                              "obvious", "subtle", "medium", "subtle", "medium", "subtle", "obvious"};

const char* const kDescription[kNumClasses] = {
    "lung bases: plate-like bands or a lower-lobe collapse triangle, with the hemidiaphragm raised",
    "heart: the cardiac silhouette 1.3-1.55x wider (cardiothoracic ratio > 0.5)",
    "one lung zone: dense confluent opacity with air bronchograms, sometimes bounded by a fissure",
    "both lungs: perihilar bat-wing haze, Kerley B lines at the bases, upper-zone vessels prominent",
    "lung base: fluid meniscus blunting the costophrenic angle and hiding the dome (AP: a veil)",
    "both lungs: hyperlucent, fewer vessels, low flat diaphragm, sometimes apical bullae",
    "lung periphery (usually bases): reticular network",
    "behind the heart: round density with a gas cap and an air-fluid level",
    "any lung zone: faint, patchy, ill-defined opacities, often bilateral",
    "one lung: a lobulated round opacity, radius 2.8-6% of the image side",
    "one lung: a small faint round opacity, may hide behind ribs or the heart",
    "lateral chest wall or apex: a smooth band along the pleura",
    "mid/lower zones: patchy, partly confluent opacity (between Infiltration and Consolidation)",
    "apex and lateral pleural space: a thin visceral pleural line with no lung markings beyond it",
};

}  // namespace

// ---------------------------------------------------------------------------------------------

PhantomParams default_phantom_params() {
  PhantomParams p;
  auto& L = p.lesion;
  L[0] = knobs(0.05f, 0.11f, 0.45f, 0.75f, 1, 3);    // Atelectasis
  L[1] = knobs(1.30f, 1.55f, 0.f, 0.f);               // Cardiomegaly
  L[2] = knobs(0.07f, 0.13f, 0.40f, 0.65f, 1, 2);     // Consolidation
  L[3] = knobs(0.65f, 0.90f, 0.70f, 1.00f);           // Edema
  L[4] = knobs(0.03f, 0.16f, 0.80f, 1.00f);           // Effusion
  L[5] = knobs(0.04f, 0.07f, 0.18f, 0.30f);           // Emphysema
  L[6] = knobs(0.018f, 0.03f, 0.30f, 0.45f);          // Fibrosis
  L[7] = knobs(0.06f, 0.09f, 0.60f, 0.90f);           // Hernia
  L[8] = knobs(0.05f, 0.10f, 0.12f, 0.22f, 1, 3);     // Infiltration
  L[9] = knobs(0.028f, 0.06f, 0.35f, 0.60f);          // Mass
  L[10] = knobs(0.008f, 0.016f, 0.14f, 0.28f, 1, 2);  // Nodule
  L[11] = knobs(0.010f, 0.022f, 0.50f, 0.80f);        // Pleural_Thickening
  L[12] = knobs(0.06f, 0.11f, 0.18f, 0.34f, 1, 2);    // Pneumonia
  L[13] = knobs(0.15f, 0.32f, 0.12f, 0.22f);          // Pneumothorax
  return p;
}


std::string PhantomParams::to_json() const {
  nlohmann::ordered_json j;
  j["attenuation"] = {{"soft_tissue", soft_tissue}, {"lung_air", lung_air},       {"heart", heart},
                      {"mediastinum", mediastinum}, {"abdomen", abdomen},         {"bone", bone},
                      {"vessels", vessels},         {"parenchyma", parenchyma}};
  j["display"] = {{"window_low", window_low},   {"window_high", window_high},   {"exposure_jitter", exposure_jitter},
                  {"gamma", gamma},             {"noise_pa", noise_pa},         {"noise_ap", noise_ap},
                  {"background_max", background_max}};
  j["positioning"] = {{"rotation_deg", rotation_deg},
                      {"shift", shift},
                      {"ap_heart_magnification", ap_heart_magnification},
                      {"ap_inspiration", ap_inspiration}};
  j["markers"] = {{"laterality_probability", laterality_probability},
                  {"portable_tag_probability", portable_tag_probability},
                  {"ecg_leads_probability", ecg_leads_probability}};
  j["mask_threshold_grey"] = mask_threshold_grey;
  nlohmann::ordered_json les = nlohmann::ordered_json::object();
  for (int c = 0; c < kNumClasses; ++c) {
    const LesionKnobs& k = lesion[c];
    les[kClassNames[c]] = {{"difficulty", kDifficulty[c]},
                           {"where", kDescription[c]},
                           {"size", {k.size_min, k.size_max}},
                           {"strength", {k.strength_min, k.strength_max}},
                           {"count", {k.count_min, k.count_max}},
                           {"meaning", kKnobMeaning[c]}};
  }
  j["lesions"] = les;
  return j.dump();
}

PhantomAnatomy sample_anatomy(int8_t sex, int age, uint64_t seed) {
  Rng rng(mix_seed(seed, 0xa7a70));
  PhantomAnatomy a;
  const bool female = sex == kSexFemale;
  const float child = age < 16 ? (16.f - static_cast<float>(std::max(age, 0))) / 16.f : 0.f;  // 1 newborn .. 0 at 16
  const float old = clamp01((static_cast<float>(age) - 50.f) / 40.f);
  a.body_half_width = (female ? 0.415f : 0.44f) + 0.015f * rng.normal();
  a.body_half_width = std::min(std::max(a.body_half_width, 0.37f), 0.49f);
  a.thorax_half_width = a.body_half_width * (0.88f + 0.02f * rng.normal());
  a.lung_top = 0.11f + 0.012f * rng.normal();
  a.diaphragm = 0.67f + 0.02f * rng.normal() - 0.04f * child;
  a.heart_half_width = a.thorax_half_width * (0.43f + 0.025f * rng.normal() + 0.05f * child + 0.02f * old);
  a.heart_height = a.heart_half_width * (0.68f + 0.05f * rng.normal());
  a.mediastinum_half_width = 0.062f + 0.006f * rng.normal() + 0.01f * old;
  a.rib_spacing = 1.f + 0.05f * rng.normal();
  a.breast = (female && age >= 16) ? clamp01(0.6f + 0.25f * rng.normal()) : 0.f;
  a.bone_density = (1.f - 0.3f * old) * (1.f + 0.06f * rng.normal()) * (1.f - 0.25f * child);
  a.aortic_knob = 0.6f + 0.8f * old + 0.15f * rng.normal();
  a.arms = rng.chance(0.55f) ? rng.uniform(0.5f, 1.f) : 0.f;
  a.seed = rng.next();
  return a;
}

// ---------------------------------------------------------------------------------------------

void render_phantom(const PhantomCase& cs, const PhantomParams& p, uint64_t seed, int size, uint8_t* image,
                    uint16_t* mask, uint8_t* anatomy) {
  Scratch& s = t_scratch;
  s.ensure(size);
  const int S = size;
  const size_t N = static_cast<size_t>(S) * static_cast<size_t>(S);
  const PhantomAnatomy& an = cs.anatomy;
  const bool ap = cs.view == kViewAP;
  auto has = [&](int cls) { return cs.labels[static_cast<size_t>(cls)] != 0; };
  Rng rng(mix_seed(seed, 0x9e0));

  // ---- geometry of this film ---------------------------------------------------------------
  Geom g;
  g.size = S;
  g.px = 1.f / static_cast<float>(S);
  float rot = rng.uniform(-p.rotation_deg, p.rotation_deg) * kPi / 180.f;
  g.cos_r = std::cos(rot);
  g.sin_r = std::sin(rot);
  g.xm = 0.5f + rng.uniform(-p.shift, p.shift);
  g.ym = 0.5f + rng.uniform(-p.shift, p.shift) + (ap ? -0.015f : 0.f);
  const float inspiration = 0.012f * rng.normal() + (ap ? p.ap_inspiration : 0.f);
  g.thorax_hw = an.thorax_half_width * (ap ? 1.02f : 1.f);
  g.bone = an.bone_density * p.bone;
  g.arms = an.arms;
  const float dome = an.diaphragm + inspiration;
  // Every random draw is made whether or not its class is present, so that a film rendered without one
  // class's lesion (PhantomReplay's lesion-removal test) is otherwise the same film.
  const float emph_descent_draw = rng.uniform(p.lesion[5].size_min, p.lesion[5].size_max);
  const float emph_lucency_draw = rng.uniform(p.lesion[5].strength_min, p.lesion[5].strength_max);
  const float emph_descent = has(5) ? emph_descent_draw : 0.f, emph_lucency = has(5) ? emph_lucency_draw : 0.f;
  int atel_side = pick_side(rng);
  const float atel_elev_draw = rng.uniform(0.012f, 0.03f);
  const float atel_elev = has(0) ? atel_elev_draw : 0.f;
  for (int side = 0; side < 2; ++side) {
    Lung& L = g.lung[side];
    L.sign = side == 0 ? -1.f : 1.f;
    float med = side == 0 ? 0.045f : 0.05f;
    L.xc = L.sign * 0.5f * (g.thorax_hw + med);
    L.a_lat = L.a_med = 0.5f * (g.thorax_hw - med);
    L.dome_y0 = dome + (side == 1 ? 0.022f : 0.f);  // the left dome sits lower (heart, no liver)
    L.dome_h0 = 0.065f + 0.01f * rng.normal();
    L.dome_xc = L.xc - L.sign * 0.1f * L.a_med;
    L.dome_w = L.a_lat * 1.05f;
    L.yc = L.dome_y0 - 0.025f;
    L.b = L.yc - an.lung_top - (ap ? 0.01f : 0.f);
    L.flat_y = an.lung_top + 0.12f;
    L.dome_y = L.dome_y0;
    L.dome_h = L.dome_h0;
    if (has(5)) {  // hyperinflation: low, flat domes
      L.dome_y += emph_descent;
      L.dome_h *= 0.35f;
      L.yc += emph_descent * 0.6f;
      L.b += emph_descent * 0.6f;
      L.lucency = 1.f + emph_lucency;
    }
    if (has(0) && side == atel_side) {
      L.dome_y -= atel_elev;
      g.atel_elevated[side] = true;
    }
    L.finish();
  }
  // Heart: a tilted ellipse, a third right of the midline, two thirds left, resting on the left dome.
  {
    Heart h;
    float mag = ap ? p.ap_heart_magnification : 1.f;
    h.a = an.heart_half_width * mag;
    h.b = an.heart_height * mag;
    h.x = 0.42f * h.a + 0.005f * rng.normal();
    h.y = g.lung[1].dome_y0 - 0.45f * h.b;
    float tilt = 0.58f + 0.06f * rng.normal();
    h.cos_t = std::cos(tilt);
    h.sin_t = std::sin(tilt);
    h.finish();
    g.heart0 = h;
    const float k = rng.uniform(p.lesion[1].size_min, p.lesion[1].size_max);
    if (has(1)) {
      h.a *= k;
      h.b *= 1.f + 0.45f * (k - 1.f);
      h.finish();
      g.cardiomegaly = true;
    }
    g.heart = h;
  }
  // Ribs: curvature of the posterior and anterior rib families (their LUTs follow below).
  g.rib_a = 0.07f + 0.01f * rng.normal();
  g.rib_b = 0.24f + 0.02f * rng.normal();
  g.rib_c = 0.12f + 0.015f * rng.normal();
  g.rib_top = an.lung_top - 0.06f;
  g.rib_bottom = dome + 0.16f;
  for (int side = 0; side < 2; ++side) {
    g.clav_y0[side] = an.lung_top + 0.06f + (ap ? -0.03f : 0.f) + 0.006f * rng.normal();
    g.clav_y1[side] = g.clav_y0[side] - (ap ? 0.015f : 0.055f) + 0.008f * rng.normal();
  }
  g.clav_th = 0.015f;
  g.clav_lo = std::min(std::min(g.clav_y0[0], g.clav_y1[0]), std::min(g.clav_y0[1], g.clav_y1[1])) - 0.05f;
  g.clav_hi = std::max(std::max(g.clav_y0[0], g.clav_y1[0]), std::max(g.clav_y0[1], g.clav_y1[1])) + 0.05f;
  g.clav_x1 = an.body_half_width * 1.02f;
  g.scapula = ap ? rng.uniform(0.5f, 1.f) : rng.uniform(0.f, 0.35f);
  g.breast = an.breast;
  g.breast_y = dome - 0.03f;
  g.breast_r = 0.12f + 0.02f * an.breast;
  g.gastric = rng.uniform(0.3f, 1.f);
  g.gastric_x = g.lung[1].xc + 0.02f;
  g.gastric_y = g.lung[1].dome_y + rng.uniform(0.035f, 0.05f);
  g.gastric_a = rng.uniform(0.035f, 0.06f);
  g.gastric_b = rng.uniform(0.018f, 0.03f);
  g.humerus_y = an.lung_top + 0.02f;

  // ---- Y lookup tables --------------------------------------------------------------------
  g.body_hw.resize(kYLut);
  g.body_inv_hw.resize(kYLut);
  g.body_thick.resize(kYLut);
  g.lung_gain.resize(kYLut);
  g.med_l.resize(kYLut);
  g.med_r.resize(kYLut);
  g.spine_body.resize(kYLut);
  g.spine_ped.resize(kYLut);
  const float neck_hw = 0.1f + 0.01f * (an.body_half_width - 0.42f) / 0.03f;
  const float shoulder_y = an.lung_top + 0.02f, neck_y = an.lung_top - 0.13f;
  const float shoulder_hw = an.body_half_width + 0.06f;
  g.neck_y = neck_y;
  g.arm_top = shoulder_y - 0.02f;
  const float knob_y = an.lung_top + 0.15f, knob = 0.022f * an.aortic_knob;
  double vphase = 0;
  for (int i = 0; i < kYLut; ++i) {
    float Y = ylut_y(i);
    // Trapezius slope: concave from the neck, rounding into the shoulder.
    float t = clamp01((Y - neck_y) / (shoulder_y - neck_y));
    t = t * t * (2.f - t * t) * (1.f - 0.3f * t * (1.f - t));
    float hw = neck_hw + (shoulder_hw - neck_hw) * t;
    hw += (an.body_half_width - shoulder_hw) * smooth01((Y - shoulder_y) / 0.25f);
    g.body_hw[static_cast<size_t>(i)] = hw;
    g.body_inv_hw[static_cast<size_t>(i)] = 1.f / hw;
    g.body_thick[static_cast<size_t>(i)] = 0.78f + 0.3f * smooth01((Y - 0.3f) / 0.6f);
    // Lungs look denser at the apices (shoulder girdle) and towards the bases (soft tissue).
    g.lung_gain[static_cast<size_t>(i)] = (0.7f + 0.3f * smooth01((Y - an.lung_top) / 0.14f)) *
                                          (1.f - 0.22f * smooth01((Y - 0.35f) / 0.35f));
    // Mediastinum: upper band, the aortic knob on the left (image right), merging into the heart.
    // Narrow above the aortic knob, widening towards the hila and the heart.
    float mw = an.mediastinum_half_width * (0.85f + 0.35f * smooth01((Y - knob_y) / 0.25f));
    float top_fade = smooth01((Y - (an.lung_top - 0.04f)) / 0.08f);
    // The right heart border (right atrium) bulges into the right lung just above the dome.
    const float ra = 0.025f * std::exp(-sq((Y - (dome - 0.06f)) / 0.07f));
    g.med_l[static_cast<size_t>(i)] = (mw + ra) * top_fade;
    g.med_r[static_cast<size_t>(i)] = (mw + knob * std::exp(-sq((Y - knob_y) / 0.028f))) * top_fade;
    // Vertebrae: period grows from the neck to the lumbar spine.
    float period = 0.034f + 0.022f * clamp01(Y);
    vphase += (kYHi - kYLo) / kYLut / period;
    float ph = static_cast<float>(vphase - std::floor(vphase));
    g.spine_body[static_cast<size_t>(i)] = ph < 0.82f ? 1.f : 0.55f;  // darker disc spaces
    g.spine_ped[static_cast<size_t>(i)] = (ph > 0.1f && ph < 0.45f) ? 1.f - sq((ph - 0.275f) / 0.175f) : 0.f;
  }
  // Rib LUTs over t = Y - curve(u): bone profile of the nearest rib.
  g.rib_post.assign(kRibLut, 0.f);
  g.rib_ant.assign(kRibLut, 0.f);
  {
    Rng rr(mix_seed(an.seed, 0x21b5));
    float y = g.rib_top;
    for (int k = 0; k < 13; ++k) {
      float spacing = (0.043f + 0.0035f * static_cast<float>(k)) * an.rib_spacing * (1.f + 0.04f * rr.normal());
      float th = spacing * (0.25f + 0.04f * rr.uniform());
      const float amp = 0.8f + 0.3f * rr.uniform();  // ribs differ in density and width
      for (int i = riblut_index(y - th); i <= riblut_index(y + th); ++i) {
        float t = kRibLo + (static_cast<float>(i) + 0.5f) * ((kRibHi - kRibLo) / kRibLut);
        g.rib_post[static_cast<size_t>(i)] =
            std::max(g.rib_post[static_cast<size_t>(i)], amp * bone_profile((t - y) / th));
      }
      y += spacing;
    }
    y = g.rib_top + 0.12f;
    for (int k = 0; k < 8; ++k) {
      float spacing = 0.052f * an.rib_spacing * (1.f + 0.04f * rr.normal());
      float th = spacing * 0.3f;
      for (int i = riblut_index(y - th); i <= riblut_index(y + th); ++i) {
        float t = kRibLo + (static_cast<float>(i) + 0.5f) * ((kRibHi - kRibLo) / kRibLut);
        float z = (t - y) / th;
        g.rib_ant[static_cast<size_t>(i)] = std::max(g.rib_ant[static_cast<size_t>(i)], std::sqrt(std::max(0.f, 1.f - z * z)));
      }
      y += spacing;
    }
  }

  // ---- display window ---------------------------------------------------------------------
  const float jitter = 1.f + rng.uniform(-p.exposure_jitter, p.exposure_jitter);
  const float wlo = p.window_low + rng.uniform(-0.03f, 0.03f);
  const float whi = (p.window_high + (ap ? -0.06f : 0.f)) * jitter;
  const int gamma50 = static_cast<int>(std::lround((p.gamma + rng.uniform(-0.1f, 0.1f)) * 50.f));  // 0.02 steps
  const float background = rng.uniform(0.f, p.background_max);
  const float noise_sd = (ap ? p.noise_ap : p.noise_pa) * rng.uniform(0.8f, 1.2f);
  const float inv_window = 1.f / (whi - wlo);
  Canvas canvas{&g, &s, mask, p.mask_threshold_grey / 255.f * (whi - wlo), p.lung_air};
  const float eps = canvas.eps;

  if (mask) std::memset(mask, 0, N * sizeof(uint16_t));
  if (anatomy) std::memset(anatomy, 0, N);

  // Bones (ribs, clavicles, spine, humeral heads) and the trachea, in attenuation units. Evaluated
  // on the smooth-anatomy grid: at 256 px a rib is ~5 px wide, so half resolution keeps its shape.
  const float spine_hw = 0.028f + 0.004f * (an.body_half_width - 0.42f) / 0.03f;
  const float inv_spine_hw = 1.f / spine_hw, inv_thorax = 1.f / g.thorax_hw;
  const float inv_clav_len = 1.f / (g.clav_x1 - 0.03f), inv_humerus_r2 = 1.f / sq(g.humerus_r);
  const float humerus_x = an.body_half_width + 0.03f;
  const float carina = an.lung_top + 0.17f, trachea_top = g.neck_y - 0.06f;
  const float bone = g.bone;
  auto bones = [&](float X, float Y) {
    float A = 0.f;
    const float ax = std::fabs(X);
    // Ribs: posterior (bright, curving down laterally) and anterior (faint, descending medially).
    if (Y > g.rib_top - 0.1f && Y < g.rib_bottom) {
      const float u = ax * inv_thorax;
      if (u > 0.06f && u < 1.07f) {
        const float win = clamp01((u - 0.06f) * 10.f) * clamp01((1.07f - u) * 14.f) *
                      clamp01((g.rib_bottom - Y) * 10.f);
        const float u2 = u * u;
        const float rib = g.rib_post[static_cast<size_t>(riblut_index(Y + g.rib_a * u - g.rib_b * u2 - 0.08f * u2 * u2))];
        const float ant =
          u > 0.3f ? g.rib_ant[static_cast<size_t>(riblut_index(Y + g.rib_c * u))] * clamp01((u - 0.3f) * 6.67f)
                 : 0.f;
        A += bone * win * (0.15f * rib + 0.05f * ant);
      }
    }
    // Clavicles: S-curved bones from the sternum towards the shoulders.
    if (Y > g.clav_lo && Y < g.clav_hi) {
      const float w = (ax - 0.03f) * inv_clav_len;
      if (w > -0.05f && w < 1.05f) {
        const int side = X < 0.f ? 0 : 1;
        const float y0 = g.clav_y0[side], y1 = g.clav_y1[side];
        const float cy = y0 + (y1 - y0) * w - g.clav_bow * 4.f * w * (1.f - w) * 0.6f +
                     0.012f * (w - 0.5f) * (1.f - std::fabs(2.f * w - 1.f)) * 4.f;
        const float th = g.clav_th * (1.15f - 0.3f * w);
        const float z = (Y - cy) / th;
        if (z > -1.f && z < 1.f)
          A += bone * 0.3f * (0.5f * std::sqrt(1.f - z * z) + 0.6f * bone_profile(z)) * clamp01((w + 0.05f) * 16.7f) * clamp01((1.05f - w) * 20.f);
      }
    }
    // Spine (vertebral bodies, disc spaces, pedicles) and the trachea's air column.
    if (ax < spine_hw) {
      const int yi = ylut_index(Y);
      const float z = ax * inv_spine_hw;
      const float col = std::sqrt(1.f - z * z);
      const float ped = std::max(0.f, 1.f - sq((z - 0.62f) * 5.f)) * g.spine_ped[static_cast<size_t>(yi)];
      // Barely visible behind the heart and mediastinum, clearer in the neck and abdomen.
      const Lung& L = g.lung[X < 0.f ? 0 : 1];
      const float vis = Y > dome_y(L, X) ? 0.5f : (Y < g.neck_y + 0.06f ? 0.9f : 0.45f);
      A += bone * vis * (0.12f * col * g.spine_body[static_cast<size_t>(yi)] + 0.06f * ped);
    }
    if (Y < carina + 0.06f && Y > trachea_top && ax < 0.08f) {
      const float tx = X + 0.004f, tw = 0.013f;
      float tr;
      if (Y < carina) {
        tr = clamp01((tw - std::fabs(tx)) / (3.f * g.px)) * smooth01((Y - trachea_top) * 20.f);
      } else {
        const float bx = std::fabs(tx) - (Y - carina) * 0.9f;  // bronchi diverge at ~45 degrees
        tr = clamp01((tw * 0.8f - std::fabs(bx)) / (3.f * g.px)) * (1.f - (Y - carina) / 0.06f);
      }
      A -= 0.1f * tr;
    }
    // Humeral heads at the shoulders.
    {
      const float dxh = ax - humerus_x, dyh = Y - g.humerus_y;
      const float hq = 1.f - (dxh * dxh + dyh * dyh) * inv_humerus_r2;
      if (hq > 0.f) A += bone * 0.3f * bone_profile(std::sqrt(1.f - hq)) * clamp01(g.arms + 0.4f);
    }
    return A;
  };

  const int Sl = s.low;
  // Lung markings (vessels plus parenchymal texture) on the smooth grid, weighted by air depth later.
  std::fill(s.vessel_lo.begin(), s.vessel_lo.end(), 0.f);
  const float vessel_strength = p.vessels * (has(5) ? 0.55f : 1.f);
  draw_vessels(VesselCanvas{&g, s.vessel_lo.data(), Sl, static_cast<float>(S) / static_cast<float>(s.factor)}, an.seed,
               vessel_strength, has(3) ? 1.3f : 1.f);
  NoiseGrid coarse, fine;  // two octaves of parenchymal texture
  coarse.init(rng, 20, 0.f, 0.f, 1.f, 1.f);
  fine.init(rng, 56, 0.f, 0.f, 1.f, 1.f);

  // ---- pass 1: smooth anatomy at reduced resolution -----------------------------------------
  // Soft tissue, lung fields, heart, mediastinum and abdomen change over several pixels, so they
  // are evaluated on an (S/2)^2 grid and upsampled bilinearly; bones, vessels, lesions and noise
  // stay at full resolution. This pass is most of the cost of a film, hence the care.
  const float inv = 1.f / static_cast<float>(S);
  const float linv = static_cast<float>(s.factor) * inv;
  const float lung_soft = std::max(1.5f * g.px, 1.f * linv), edge_soft = std::max(2.f * g.px, 1.f * linv);
  const float dome_soft = std::max(g.px, 0.7f * linv);
  const float depth_ramp = 0.05f;
  const float abd_ramp = 0.035f;
  const float inv_depth_ramp = 1.f / depth_ramp, inv_depth_ramp_v = 1.f / (0.4f * depth_ramp);
  const float inv_lung_soft = 1.f / lung_soft, inv_dome_soft = 1.f / dome_soft, inv_edge_soft = 1.f / edge_soft;
  const float heart_reach = g.heart.a + g.heart.b;
  for (int ly = 0; ly < Sl; ++ly) {
    float X, Y;
    g.to_anatomy(0.5f * linv, (static_cast<float>(ly) + 0.5f) * linv, X, Y);
    const float dX = g.cos_r * linv, dY = -g.sin_r * linv;
    float* base = &s.base_lo[static_cast<size_t>(ly) * Sl];
    float* depth = &s.depth_lo[static_cast<size_t>(ly) * Sl];
    float* field = &s.field_lo[static_cast<size_t>(ly) * Sl];
    float* marks = &s.vessel_lo[static_cast<size_t>(ly) * Sl];
    const float yn = (static_cast<float>(ly) + 0.5f) * linv;
    coarse.row(Sl, yn, 0.65f * p.parenchyma, s.tex_row.data(), false);
    fine.row(Sl, yn, 0.35f * p.parenchyma, s.tex_row.data(), true);
    for (int lx = 0; lx < Sl; ++lx) marks[lx] += s.tex_row[static_cast<size_t>(lx)];
    for (int lx = 0; lx < Sl; ++lx, X += dX, Y += dY) {
      const int yi = ylut_index(Y);
      const float hw = g.body_hw[static_cast<size_t>(yi)];
      const float ax = std::fabs(X);
      // Soft tissue: a cylinder-like thickness profile across the torso, plus the arms.
      float body = 0.f;
      const float q = 1.f - sq(X * g.body_inv_hw[static_cast<size_t>(yi)]);
      if (q > 0.f) body = std::sqrt(q) * clamp01(q * hw * inv_edge_soft);
      if (g.arms > 0.f && Y > g.arm_top) {
        const float aq = 1.f - sq((ax - hw - g.arm_gap - g.arm_w) / g.arm_w);
        if (aq > 0.f) body = std::max(body, g.arms * 0.8f * std::sqrt(aq) * clamp01((Y - g.arm_top) * 20.f));
      }
      if (body <= 0.f) {
        base[lx] = depth[lx] = field[lx] = 0.f;
        continue;
      }
      float A = p.soft_tissue * body * g.body_thick[static_cast<size_t>(yi)];
      const int side = X < 0.f ? 0 : 1;
      const Lung& L = g.lung[side];
      // Lung field and air depth.
      const float shape = lung_shape(L, X, Y);
      const float dy = dome_y(L, X);
      float F = 0.f, D = 0.f;
      if (shape > 0.f && Y < dy) {
        const float under = dy - Y;
        F = clamp01(shape * inv_lung_soft) * clamp01(under * inv_dome_soft);
        D = std::sqrt(clamp01(shape * inv_depth_ramp) * clamp01(under * inv_depth_ramp_v)) * L.lucency *
            g.lung_gain[static_cast<size_t>(yi)];
      }
      // Below the domes: liver and spleen. The line is the higher of the disease-free and actual
      // domes, and lung suppresses it, so a lowered dome (Emphysema) changes only lung pixels.
      const float dline = std::min(dy, dome0_y(L, X));
      float abd = 0.f;
      if (Y > dline) abd = p.abdomen * clamp01((Y - dline) * (1.f / abd_ramp)) * body * (1.f - F);
      // Heart and mediastinum displace lung in projection; below the dome the heart merges with
      // the equally dense abdomen (max, not sum), so its lower border is invisible as on films.
      float H = 0.f;
      if (std::fabs(X - g.heart.x) < heart_reach && std::fabs(Y - g.heart.y) < heart_reach)
        H = heart_cov(g.heart, X, Y, edge_soft);
      float M = 0.f;
      const float mw = X < 0.f ? g.med_l[static_cast<size_t>(yi)] : g.med_r[static_cast<size_t>(yi)];
      if (ax < mw + 0.5f * kMedSoft && Y < dline + 0.02f) M = clamp01((mw - ax) * (1.f / kMedSoft) + 0.5f);
      A += std::max(p.heart * H * (1.f - 0.5f * M), abd) + p.mediastinum * M;
      D *= (1.f - 0.85f * H) * (1.f - M);
      // Scapulae: their lateral blades overlap the upper outer lungs (mostly on AP films).
      if (g.scapula > 0.f && Y > an.lung_top && Y < an.lung_top + 0.32f) {
        const float u = ax * inv_thorax, edge = 0.78f + 0.35f * (Y - an.lung_top);
        if (u > edge)
          A += 0.06f * g.scapula * clamp01((u - edge) * 50.f) * clamp01((an.lung_top + 0.32f - Y) * 12.5f);
      }
      // Breast shadows: soft tissue over the lower zones with a curved lower border.
      if (g.breast > 0.f && std::fabs(Y - g.breast_y) < g.breast_r) {
        const float bx = ax - 0.22f, by = Y - g.breast_y;
        const float bq = 1.f - (bx * bx + by * by) / sq(g.breast_r);
        if (bq > 0.f) A += 0.09f * g.breast * smooth01(bq * 2.f) * clamp01(0.6f + by / g.breast_r);
      }
      // Gastric bubble under the left dome.
      if (side == 1 && g.gastric > 0.f && Y > dy) {
        const float gq = 1.f - sq((X - g.gastric_x) / g.gastric_a) - sq((Y - g.gastric_y) / g.gastric_b);
        if (gq > 0.f) A -= 0.2f * g.gastric * std::min(1.f, gq * 4.f);
      }
      base[lx] = A + bones(X, Y) * (1.f - 0.4f * std::max(H, M));  // ribs fade behind the heart
      depth[lx] = D;
      field[lx] = F;
    }
  }
  s.upsample(s.base_lo, s.base);
  s.upsample(s.depth_lo, s.depth);
  s.upsample(s.field_lo, s.field);
  s.upsample(s.vessel_lo, s.vessel);

  // ---- anatomy map and the anatomy-changing classes' masks (full resolution, analytic) --------
  const bool anatomy_masks = mask && (has(0) || has(1) || has(5));
  if (anatomy || anatomy_masks) {
    const uint16_t bit_atel = 1u << 0, bit_cardio = 1u << 1, bit_emph = 1u << 5;
    for (int py = 0; py < S; ++py) {
      float X, Y;
      g.to_anatomy(0.5f * inv, (static_cast<float>(py) + 0.5f) * inv, X, Y);
      const float dX = g.cos_r * inv, dY = -g.sin_r * inv;
      for (int px = 0; px < S; ++px, X += dX, Y += dY) {
        const size_t i = static_cast<size_t>(py) * S + px;
        const int side = X < 0.f ? 0 : 1;
        const Lung& L = g.lung[side];
        const float dy = dome_y(L, X);
        const bool in_body = s.base[i] > 0.f;
        const float H = heart_cov(g.heart, X, Y, edge_soft);
        if (anatomy) {
          uint8_t bits = 0;
          if (in_body) bits |= kAnatBody;
          if (s.field[i] > 0.f) bits |= side == 0 ? kAnatRightLung : kAnatLeftLung;
          if (H > 0.f) bits |= kAnatHeart;
          const float mw = X < 0.f ? g.med_l[static_cast<size_t>(ylut_index(Y))] : g.med_r[static_cast<size_t>(ylut_index(Y))];
          if (std::fabs(X) < mw + 0.5f * kMedSoft && Y < std::min(dy, dome0_y(L, X)) + 0.02f) bits |= kAnatMediastinum;
          if (in_body && Y > dy) bits |= kAnatAbdomen;
          anatomy[i] = bits;
        }
        if (!anatomy_masks) continue;
        // Emphysema: lucency over the whole lung field (and its lowered domes).
        if (has(5) && s.field[i] > 0.f) mask[i] |= bit_emph;
        // Cardiomegaly: wherever the enlarged heart differs from the normal one.
        if (g.cardiomegaly && std::fabs(H - heart_cov(g.heart0, X, Y, edge_soft)) * (p.heart + p.lung_air) > eps)
          mask[i] |= bit_cardio;
        // Atelectasis: the band between the raised and the normal dome.
        if (g.atel_elevated[side] && in_body) {
          const float d0 = dome0_y(L, X);
          if (Y > dy - 2.f * linv && Y < d0 + abd_ramp && (s.field[i] > 0.f || Y > dy)) mask[i] |= bit_atel;
        }
      }
    }
  }

  // ---- pass 2: vessels and lesions ----------------------------------------------------------
  std::fill(s.lesion.begin(), s.lesion.end(), 0.f);
  std::fill(s.mark.begin(), s.mark.end(), 1.f);
  {
    Rng lr(mix_seed(seed, 0x1e5));
    for (int cls = 0; cls < kNumClasses; ++cls) {
      const uint64_t class_seed = lr.next();  // drawn for absent classes too: each lesion has its own stream
      if (!has(cls)) continue;
      Rng r(mix_seed(class_seed, static_cast<uint64_t>(cls)));
      const LesionKnobs& k = p.lesion[static_cast<size_t>(cls)];
      switch (cls) {
        case 0: lesion_atelectasis(canvas, r, cls, k, atel_side); break;
        case 1: break;  // Cardiomegaly: the heart itself (pass 1)
        case 2: lesion_patchy(canvas, r, cls, k, 0.9f, 0.15f, 0.9f, true, r.chance(0.4f)); break;
        case 3: lesion_edema(canvas, r, cls, k); break;
        case 4: lesion_effusion(canvas, r, cls, k, ap); break;
        case 5: lesion_emphysema_bullae(canvas, r, cls); break;
        case 6: lesion_fibrosis(canvas, r, cls, k); break;
        case 7: lesion_hernia(canvas, r, cls, k); break;
        case 8: lesion_patchy(canvas, r, cls, k, 0.5f, 0.05f, 0.95f, false, false); break;
        case 9: lesion_nodule_or_mass(canvas, r, cls, k, true); break;
        case 10: lesion_nodule_or_mass(canvas, r, cls, k, false); break;
        case 11: lesion_pleural_thickening(canvas, r, cls, k); break;
        case 12: lesion_patchy(canvas, r, cls, k, 0.6f, 0.35f, 0.95f, false, false); break;
        case 13: lesion_pneumothorax(canvas, r, cls, k); break;
      }
    }
  }

  // ---- pass 3: bones, composition, display, noise (full resolution) ---------------------------
  const std::vector<float>& gamma_lut = s.gamma_table(gamma50);
  uint64_t noise_state = mix_seed(seed, 0x5eed);
  const float nscale = noise_sd * 1.2247f / 32768.f;  // sum of two uniforms in [-1,1] has sd sqrt(2/3)
  const float air = p.lung_air;
  for (int py = 0; py < S; ++py) {
    const size_t row = static_cast<size_t>(py) * S;
    uint64_t bits = 0;
    int avail = 0;
    for (int px = 0; px < S; ++px) {
      const size_t i = row + px;
      float A = s.base[i];
      float grey;
      if (A <= 0.f && s.lesion[i] == 0.f) {
        grey = background;
      } else {
        const float D = s.depth[i];
        if (D > 0.f) A += (s.vessel[i] * s.mark[i] - air) * D;
        A += s.lesion[i];
        const float v = clamp01((A - wlo) * inv_window);
        grey = gamma_lut[static_cast<size_t>(v * 4096.f)];
        grey = std::max(grey, background * (1.f - clamp01(A * 8.f)));
      }
      if (avail == 0) {
        bits = splitmix64(noise_state);
        avail = 2;
      }
      const int32_t a = static_cast<int32_t>(bits & 0xffff), b = static_cast<int32_t>((bits >> 16) & 0xffff);
      bits >>= 32;
      --avail;
      grey += static_cast<float>(a + b - 65535) * nscale;
      const int gi = static_cast<int>(grey + 0.5f);
      image[i] = static_cast<uint8_t>(gi < 0 ? 0 : (gi > 255 ? 255 : gi));
    }
  }

  // ---- radiopaque markers (lead letters, ECG electrodes) --------------------------------------
  const int scale = std::max(1, (S + 80) / 160);
  Rng mr(mix_seed(seed, 0x3a4));
  if (mr.chance(p.laterality_probability)) {
    bool left = mr.chance(0.85f);  // "L" over the patient's left, i.e. image right
    int w = 5 * scale;
    int margin = static_cast<int>(mr.uniform(0.06f, 0.14f) * static_cast<float>(S));
    int x = left ? S - margin - w : margin;
    int y = static_cast<int>(mr.uniform(0.04f, 0.16f) * static_cast<float>(S));
    draw_text(image, mask, anatomy, S, x, y, left ? "L" : "R", scale, static_cast<uint8_t>(mr.integer(225, 252)));
  }
  if (ap && mr.chance(p.portable_tag_probability)) {
    const char* tag = mr.chance(0.6f) ? "PORTABLE" : (mr.chance(0.5f) ? "AP" : "SUPINE");
    int w = static_cast<int>(std::strlen(tag)) * 6 * scale;
    bool right = mr.chance(0.5f);
    int x = right ? S - w - static_cast<int>(0.05f * static_cast<float>(S)) : static_cast<int>(0.05f * static_cast<float>(S));
    // Top or bottom margin, away from the lung fields (tags must not cover lesions).
    int y = mr.chance(0.75f) ? static_cast<int>(mr.uniform(0.01f, 0.03f) * static_cast<float>(S))
                             : static_cast<int>(mr.uniform(0.9f, 0.93f) * static_cast<float>(S));
    draw_text(image, mask, anatomy, S, x, y, tag, scale, static_cast<uint8_t>(mr.integer(215, 250)));
  }
  if (ap && mr.chance(p.ecg_leads_probability)) {
    int leads = mr.integer(2, 4);
    for (int j = 0; j < leads; ++j) {
      // Shoulders and upper abdomen, clear of the lung fields (markers never cover a lesion).
      float ex = j % 2 ? mr.uniform(0.06f, 0.2f) : mr.uniform(0.8f, 0.94f);
      float ey = j < 2 ? mr.uniform(0.02f, 0.08f) : mr.uniform(0.86f, 0.95f);
      float r = 0.014f * static_cast<float>(S), cx = ex * static_cast<float>(S), cy = ey * static_cast<float>(S);
      for (int iy = std::max(0, static_cast<int>(cy - r - 1)); iy <= std::min(S - 1, static_cast<int>(cy + r + 1)); ++iy)
        for (int ix = std::max(0, static_cast<int>(cx - r - 1)); ix <= std::min(S - 1, static_cast<int>(cx + r + 1)); ++ix) {
          float d = std::hypot(static_cast<float>(ix) + 0.5f - cx, static_cast<float>(iy) + 0.5f - cy) / r;
          if (d < 1.f) {
            float v = d > 0.7f ? 245.f : 215.f;  // metal ring around the electrode snap
            const size_t i = static_cast<size_t>(iy) * S + ix;
            image[i] = static_cast<uint8_t>(std::max<float>(image[i], v));
            if (mask) mask[i] = 0;  // metal hides what lies under it
            if (anatomy) anatomy[i] |= kAnatMarker;
          }
        }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Shortcut markers.

namespace {
constexpr const char* kPlaceNames[kNumShortcutPlaces] = {"top-left", "top-right", "bottom-left", "bottom-right",
                                                         "top",      "bottom",    "left",        "right"};
}

std::optional<ShortcutPlace> parse_shortcut_place(const std::string& name) {
  for (int i = 0; i < kNumShortcutPlaces; ++i)
    if (name == kPlaceNames[i]) return static_cast<ShortcutPlace>(i);
  return std::nullopt;
}

const char* shortcut_place_name(ShortcutPlace place) { return kPlaceNames[static_cast<int>(place)]; }

std::string shortcut_place_names() {
  std::string s;
  for (int i = 0; i < kNumShortcutPlaces; ++i) s += (i ? ", " : "") + std::string(kPlaceNames[i]);
  return s;
}

PixelBox shortcut_marker_box(int size, ShortcutPlace place) {
  PixelBox b;
  b.w = b.h = std::max(5, static_cast<int>(std::lround(0.055 * size)));
  const int m = std::max(1, static_cast<int>(std::lround(0.035 * size)));
  const int cx = (size - b.w) / 2, cy = (size - b.h) / 2, r = size - m - b.w, bot = size - m - b.h;
  switch (place) {
    case ShortcutPlace::kTopLeft: b.x = m; b.y = m; break;
    case ShortcutPlace::kTopRight: b.x = r; b.y = m; break;
    case ShortcutPlace::kBottomLeft: b.x = m; b.y = bot; break;
    case ShortcutPlace::kBottomRight: b.x = r; b.y = bot; break;
    case ShortcutPlace::kTop: b.x = cx; b.y = m; break;
    case ShortcutPlace::kBottom: b.x = cx; b.y = bot; break;
    case ShortcutPlace::kLeft: b.x = m; b.y = cy; break;
    case ShortcutPlace::kRight: b.x = r; b.y = cy; break;
  }
  return b;
}

void draw_shortcut_marker(uint8_t* image, int size, ShortcutPlace place, int style, uint16_t* mask, uint8_t* anatomy) {
  const PixelBox b = shortcut_marker_box(size, place);
  const float n = static_cast<float>(b.w);
  for (int iy = 0; iy < b.h; ++iy)
    for (int ix = 0; ix < b.w; ++ix) {
      // u, v in [-1, 1] across the tag.
      float u = (2.f * static_cast<float>(ix) + 1.f) / n - 1.f, v = (2.f * static_cast<float>(iy) + 1.f) / n - 1.f;
      bool dark = false;
      switch (style % 4) {
        case 0: dark = std::fabs(std::fabs(u) - std::fabs(v)) < 0.3f && std::fabs(u) < 0.7f; break;  // X
        case 1: dark = u * u + v * v < 0.3f; break;                                                   // dot
        case 2: dark = v > -0.5f && v < 0.55f && std::fabs(u) < 0.55f * (v + 0.5f) / 1.05f + 0.05f; break;  // triangle
        default: dark = std::fabs(v) < 0.22f && std::fabs(u) < 0.7f; break;                          // bar
      }
      const size_t i = static_cast<size_t>(b.y + iy) * size + (b.x + ix);
      image[i] = dark ? 30 : 250;
      if (mask) mask[i] = 0;
      if (anatomy) anatomy[i] |= kAnatMarker;
    }
}

}  // namespace cxr::data
