// Grad-CAM statistics (see cam_stats.h): exclusive image regions and mass shares, torch-identical bilinear
// upsampling, boxes (IoU, IoBB, thresholded CAM box), the pointing game, Spearman, deletion-curve areas,
// bootstrap and Wilson intervals, and the shortcut rule. Arguments that break a contract are programming
// errors and throw std::invalid_argument naming the function and the sizes.
#include "eval/cam_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>

#include "data/phantom.h"

namespace cxr::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
[[noreturn]] void fail(const char* function, const std::string& what) {
  throw std::invalid_argument(std::string(function) + ": " + what);
}

void check_size(const char* function, int size) {
  if (size <= 0) fail(function, "size must be > 0, got " + std::to_string(size));
}

void check_length(const char* function, const char* name, size_t length, int size) {
  const size_t expected = static_cast<size_t>(size) * static_cast<size_t>(size);
  if (length != expected)
    fail(function, std::string(name) + " has " + std::to_string(length) + " values, expected size*size = " +
                       std::to_string(size) + "*" + std::to_string(size) + " = " + std::to_string(expected));
}

// Grad-CAM maps come after a ReLU: a negative or non-finite value means the caller passed the wrong tensor.
void check_map(const char* function, const std::vector<float>& map) {
  for (size_t i = 0; i < map.size(); ++i)
    if (!(map[i] >= 0.f) || !std::isfinite(map[i]))
      fail(function, "map value " + std::to_string(map[i]) + " at index " + std::to_string(i) +
                         " is negative or not finite (maps must be >= 0, after the ReLU)");
}

// Corners and border in exact integer arithmetic so that the four sides are symmetric: a pixel's centre lies
// (2 * min(x, s-1-x) + 1) / 2 pixels from the nearest edge, compared with fraction * s (fraction in percent).
bool near_edge(int x, int size, int percent) {
  const int64_t twice_distance = 2 * static_cast<int64_t>(std::min(x, size - 1 - x)) + 1;
  return twice_distance * 100 < 2 * static_cast<int64_t>(percent) * size;
}
// kCorners, kBorder, or -1 for the interior.
int frame_region(int x, int y, int size) {
  if (near_edge(x, size, 15) && near_edge(y, size, 15)) return static_cast<int>(CamRegion::kCorners);
  if (near_edge(x, size, 10) || near_edge(y, size, 10)) return static_cast<int>(CamRegion::kBorder);
  return -1;
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Average ranks (1-based) with ties sharing the mean of their positions, as scipy.stats.rankdata.
std::vector<double> average_ranks(const float* v, size_t n) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> rank(n);
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && v[order[j]] == v[order[i]]) ++j;
    const double r = 0.5 * static_cast<double>(i + 1 + j);  // mean of positions i+1 .. j
    for (size_t k = i; k < j; ++k) rank[order[k]] = r;
    i = j;
  }
  return rank;
}

// splitmix64 (Steele et al. 2014): a fixed, platform-independent stream for a given seed.
uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
// Uniform index in [0, n) by multiply-shift (Lemire 2019); the bias, n / 2^64, is negligible.
size_t draw_index(uint64_t& state, size_t n) {
  return static_cast<size_t>((static_cast<unsigned __int128>(splitmix64(state)) * n) >> 64);
}

// numpy.percentile's default (linear, type 7) on sorted values, q in [0, 1].
double percentile_sorted(const std::vector<double>& sorted, double q) {
  const double position = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(position));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (position - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

}  // namespace

const char* cam_region_name(CamRegion region) { return cam_region_name(static_cast<int>(region)); }

const char* cam_region_name(int region) {
  static constexpr std::array<const char*, kNumCamRegions> kNames = {
      "corners", "border", "text_markers", "outside_body", "below_diaphragm", "heart_mediastinum", "lungs",
      "other_body"};
  if (region < 0 || region >= kNumCamRegions)
    fail("cam_region_name", "region " + std::to_string(region) + " is not in [0, " + std::to_string(kNumCamRegions) + ")");
  return kNames[static_cast<size_t>(region)];
}

RegionMap phantom_regions(const uint8_t* anatomy, int size) {
  check_size("phantom_regions", size);
  if (anatomy == nullptr) fail("phantom_regions", "anatomy is null");
  RegionMap regions(static_cast<size_t>(size) * static_cast<size_t>(size));
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      const size_t i = static_cast<size_t>(y) * static_cast<size_t>(size) + static_cast<size_t>(x);
      const uint8_t a = anatomy[i];
      int r = frame_region(x, y, size);
      if (r < 0) {
        if (a & data::kAnatMarker) r = static_cast<int>(CamRegion::kTextMarkers);
        else if (!(a & data::kAnatBody)) r = static_cast<int>(CamRegion::kOutsideBody);
        else if (a & data::kAnatAbdomen) r = static_cast<int>(CamRegion::kBelowDiaphragm);
        else if (a & (data::kAnatHeart | data::kAnatMediastinum)) r = static_cast<int>(CamRegion::kHeartMediastinum);
        else if (a & data::kAnatLungs) r = static_cast<int>(CamRegion::kLungs);
        else r = static_cast<int>(CamRegion::kOtherBody);
      }
      regions[i] = static_cast<uint8_t>(r);
    }
  }
  return regions;
}

RegionMap template_regions(int size) {
  check_size("template_regions", size);
  const auto inside_ellipse = [](double x, double y, double cx, double cy, double ax, double ay) {
    const double u = (x - cx) / ax, v = (y - cy) / ay;
    return u * u + v * v <= 1.0;
  };
  RegionMap regions(static_cast<size_t>(size) * static_cast<size_t>(size));
  for (int py = 0; py < size; ++py) {
    for (int px = 0; px < size; ++px) {
      const double x = (px + 0.5) / size, y = (py + 0.5) / size;
      int r = frame_region(px, py, size);
      if (r < 0) {
        // text_markers is empty on real films: marker positions are unknown.
        if (std::abs(x - 0.5) >= 0.45) r = static_cast<int>(CamRegion::kOutsideBody);
        else if (y > 0.72 && std::abs(x - 0.5) < 0.42) r = static_cast<int>(CamRegion::kBelowDiaphragm);
        else if ((std::abs(x - 0.5) < 0.09 && y > 0.15 && y < 0.72) || inside_ellipse(x, y, 0.55, 0.62, 0.14, 0.10))
          r = static_cast<int>(CamRegion::kHeartMediastinum);
        else if (inside_ellipse(x, y, 0.30, 0.45, 0.17, 0.27) || inside_ellipse(x, y, 0.70, 0.45, 0.17, 0.27))
          r = static_cast<int>(CamRegion::kLungs);
        else r = static_cast<int>(CamRegion::kOtherBody);
      }
      regions[static_cast<size_t>(py) * static_cast<size_t>(size) + static_cast<size_t>(px)] = static_cast<uint8_t>(r);
    }
  }
  return regions;
}

std::vector<float> upsample_bilinear(const float* map, int h, int w, int size) {
  if (map == nullptr) fail("upsample_bilinear", "map is null");
  if (h <= 0 || w <= 0 || size <= 0)
    fail("upsample_bilinear", "sizes must be > 0, got h=" + std::to_string(h) + " w=" + std::to_string(w) +
                                  " size=" + std::to_string(size));
  // torch's area_pixel_compute_source_index with align_corners=false: half-pixel centres, clamped below at 0.
  struct Tap {
    int i0, i1;
    double lambda;
  };
  const auto taps = [size](int in) {
    std::vector<Tap> t(static_cast<size_t>(size));
    const double scale = static_cast<double>(in) / size;
    for (int d = 0; d < size; ++d) {
      const double src = std::max(0.0, (d + 0.5) * scale - 0.5);
      const int i0 = std::min(static_cast<int>(src), in - 1);
      t[static_cast<size_t>(d)] = {i0, std::min(i0 + 1, in - 1), src - i0};
    }
    return t;
  };
  const std::vector<Tap> ty = taps(h), tx = taps(w);
  std::vector<float> out(static_cast<size_t>(size) * static_cast<size_t>(size));
  for (int y = 0; y < size; ++y) {
    const Tap& a = ty[static_cast<size_t>(y)];
    const float* r0 = map + static_cast<size_t>(a.i0) * static_cast<size_t>(w);
    const float* r1 = map + static_cast<size_t>(a.i1) * static_cast<size_t>(w);
    for (int x = 0; x < size; ++x) {
      const Tap& b = tx[static_cast<size_t>(x)];
      const double top = (1 - b.lambda) * r0[b.i0] + b.lambda * r0[b.i1];
      const double bottom = (1 - b.lambda) * r1[b.i0] + b.lambda * r1[b.i1];
      out[static_cast<size_t>(y) * static_cast<size_t>(size) + static_cast<size_t>(x)] =
          static_cast<float>((1 - a.lambda) * top + a.lambda * bottom);
    }
  }
  return out;
}

std::optional<std::array<double, kNumCamRegions>> region_shares(const std::vector<float>& map, const RegionMap& regions) {
  if (map.size() != regions.size())
    fail("region_shares", "map has " + std::to_string(map.size()) + " values but regions has " +
                              std::to_string(regions.size()));
  check_map("region_shares", map);
  std::array<double, kNumCamRegions> mass{};
  for (size_t i = 0; i < map.size(); ++i) {
    if (regions[i] >= kNumCamRegions)
      fail("region_shares", "region index " + std::to_string(regions[i]) + " at pixel " + std::to_string(i) +
                                " is not a CamRegion");
    mass[regions[i]] += map[i];
  }
  double total = 0;
  for (double m : mass) total += m;
  if (total <= 0) return std::nullopt;
  for (double& m : mass) m /= total;
  return mass;
}

uint32_t allowed_regions(int cls) {
  if (cls < 0 || cls >= data::kNumClasses)
    fail("allowed_regions", "class " + std::to_string(cls) + " is not in [0, " + std::to_string(data::kNumClasses) + ")");
  const auto bit = [](CamRegion r) { return uint32_t{1} << static_cast<int>(r); };
  const std::string name = data::kClassNames[static_cast<size_t>(cls)];
  uint32_t allowed = bit(CamRegion::kLungs);
  if (name == "Cardiomegaly" || name == "Hernia") allowed |= bit(CamRegion::kHeartMediastinum);
  if (name == "Hernia" || name == "Atelectasis" || name == "Effusion" || name == "Emphysema")
    allowed |= bit(CamRegion::kBelowDiaphragm);
  if (name == "Pleural_Thickening") allowed |= bit(CamRegion::kOtherBody);
  return allowed;
}

double off_target_share(const std::array<double, kNumCamRegions>& shares, int cls) {
  const uint32_t allowed = allowed_regions(cls);
  double off = 0;
  for (int r = 0; r < kNumCamRegions; ++r)
    if (!(allowed & (uint32_t{1} << r))) off += shares[static_cast<size_t>(r)];
  return off;
}

double box_area(const Box& b) { return std::max(0.0, b.w) * std::max(0.0, b.h); }

double intersection_area(const Box& a, const Box& b) {
  const double w = std::min(a.x + a.w, b.x + b.w) - std::max(a.x, b.x);
  const double h = std::min(a.y + a.h, b.y + b.h) - std::max(a.y, b.y);
  return std::max(0.0, w) * std::max(0.0, h);
}

double iou(const Box& a, const Box& b) {
  const double inter = intersection_area(a, b);
  const double uni = box_area(a) + box_area(b) - inter;
  return uni > 0 ? inter / uni : 0.0;
}

double iobb(const Box& detected, const Box& truth) {
  const double area = box_area(detected);
  return area > 0 ? intersection_area(detected, truth) / area : 0.0;
}

std::optional<Box> cam_box(const std::vector<float>& map, int size, double fraction) {
  check_size("cam_box", size);
  check_length("cam_box", "map", map.size(), size);
  if (!(fraction >= 0.0 && fraction <= 1.0)) fail("cam_box", "fraction " + std::to_string(fraction) + " is not in [0, 1]");
  check_map("cam_box", map);
  const float peak = *std::max_element(map.begin(), map.end());
  if (peak <= 0.f) return std::nullopt;
  const double threshold = fraction * peak;
  const size_t n = map.size();
  std::vector<uint8_t> seen(n, 0);
  std::vector<size_t> queue;
  queue.reserve(n);
  bool found = false;
  size_t best_count = 0;
  double best_mass = 0;
  int bx0 = 0, by0 = 0, bx1 = 0, by1 = 0;
  // Row-major scan: components are discovered in the row-major order of their first pixel, so keeping only a
  // strictly better one implements "then the first in row-major order".
  for (size_t start = 0; start < n; ++start) {
    if (seen[start] || !(map[start] >= threshold)) continue;
    queue.clear();
    queue.push_back(start);
    seen[start] = 1;
    double mass = 0;
    int x0 = size, y0 = size, x1 = -1, y1 = -1;
    for (size_t head = 0; head < queue.size(); ++head) {
      const size_t i = queue[head];
      const int x = static_cast<int>(i % static_cast<size_t>(size)), y = static_cast<int>(i / static_cast<size_t>(size));
      mass += map[i];
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          const int nx = x + dx, ny = y + dy;
          if ((dx == 0 && dy == 0) || nx < 0 || ny < 0 || nx >= size || ny >= size) continue;
          const size_t j = static_cast<size_t>(ny) * static_cast<size_t>(size) + static_cast<size_t>(nx);
          if (seen[j] || !(map[j] >= threshold)) continue;
          seen[j] = 1;
          queue.push_back(j);
        }
      }
    }
    if (!found || queue.size() > best_count || (queue.size() == best_count && mass > best_mass)) {
      found = true;
      best_count = queue.size();
      best_mass = mass;
      bx0 = x0, by0 = y0, bx1 = x1, by1 = y1;
    }
  }
  return Box{static_cast<double>(bx0), static_cast<double>(by0), static_cast<double>(bx1 - bx0 + 1),
             static_cast<double>(by1 - by0 + 1)};
}

std::optional<bool> pointing_hit(const std::vector<float>& map, int size, const std::vector<uint8_t>& target,
                                 double tolerance_px) {
  check_size("pointing_hit", size);
  check_length("pointing_hit", "map", map.size(), size);
  check_length("pointing_hit", "target", target.size(), size);
  if (!(tolerance_px >= 0.0) || !std::isfinite(tolerance_px))
    fail("pointing_hit", "tolerance_px " + std::to_string(tolerance_px) + " must be finite and >= 0");
  check_map("pointing_hit", map);
  // max_element returns the first maximum: row-major order on ties.
  const size_t peak = static_cast<size_t>(std::max_element(map.begin(), map.end()) - map.begin());
  if (map[peak] <= 0.f) return std::nullopt;
  const int px = static_cast<int>(peak % static_cast<size_t>(size)), py = static_cast<int>(peak / static_cast<size_t>(size));
  bool any_target = false;
  for (size_t i = 0; i < target.size(); ++i) {
    if (!target[i]) continue;
    any_target = true;
    const double dx = static_cast<int>(i % static_cast<size_t>(size)) - px;
    const double dy = static_cast<int>(i / static_cast<size_t>(size)) - py;
    if (dx * dx + dy * dy <= tolerance_px * tolerance_px) return true;
  }
  if (!any_target) return std::nullopt;
  return false;
}

std::vector<uint8_t> box_mask(const Box& b, int size) {
  check_size("box_mask", size);
  std::vector<uint8_t> mask(static_cast<size_t>(size) * static_cast<size_t>(size), 0);
  for (int y = 0; y < size; ++y) {
    const double cy = y + 0.5;
    if (!(cy >= b.y && cy < b.y + b.h)) continue;
    for (int x = 0; x < size; ++x) {
      const double cx = x + 0.5;
      if (cx >= b.x && cx < b.x + b.w) mask[static_cast<size_t>(y) * static_cast<size_t>(size) + static_cast<size_t>(x)] = 1;
    }
  }
  return mask;
}

std::optional<Box> mask_box(const std::vector<uint8_t>& target, int size) {
  check_size("mask_box", size);
  check_length("mask_box", "target", target.size(), size);
  int x0 = size, y0 = size, x1 = -1, y1 = -1;
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      if (!target[static_cast<size_t>(y) * static_cast<size_t>(size) + static_cast<size_t>(x)]) continue;
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  }
  if (x1 < 0) return std::nullopt;
  return Box{static_cast<double>(x0), static_cast<double>(y0), static_cast<double>(x1 - x0 + 1),
             static_cast<double>(y1 - y0 + 1)};
}

std::optional<double> spearman(const float* a, const float* b, size_t n) {
  if (n > 0 && (a == nullptr || b == nullptr)) fail("spearman", "null input with n = " + std::to_string(n));
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(a[i]) || !std::isfinite(b[i]))
      fail("spearman", "value at index " + std::to_string(i) + " of " + std::to_string(n) + " is not finite");
  const auto constant = [n](const float* v) { return std::all_of(v, v + n, [&](float x) { return x == v[0]; }); };
  if (n < 2 || constant(a) || constant(b)) return std::nullopt;
  const std::vector<double> ra = average_ranks(a, n), rb = average_ranks(b, n);
  const double mean = 0.5 * static_cast<double>(n + 1);  // the mean of any average-rank vector
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < n; ++i) {
    const double da = ra[i] - mean, db = rb[i] - mean;
    sab += da * db, saa += da * da, sbb += db * db;
  }
  return std::clamp(sab / std::sqrt(saa * sbb), -1.0, 1.0);
}

double curve_area(const std::vector<double>& y) {
  if (y.empty()) return kNaN;
  if (y.size() == 1) return y[0];
  double sum = 0.5 * (y.front() + y.back());
  for (size_t i = 1; i + 1 < y.size(); ++i) sum += y[i];
  return sum / static_cast<double>(y.size() - 1);
}

std::array<double, 2> bootstrap_mean_ci95(const std::vector<double>& values, int resamples, uint64_t seed) {
  if (resamples < 1) fail("bootstrap_mean_ci95", "resamples must be >= 1, got " + std::to_string(resamples));
  for (size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i]))
      fail("bootstrap_mean_ci95", "value at index " + std::to_string(i) + " of " + std::to_string(values.size()) +
                                      " is not finite");
  if (values.empty()) return {kNaN, kNaN};
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  // Constant values (one value included): every resample mean is that value; summing would only add rounding.
  if (*lo == *hi) return {*lo, *lo};
  const size_t n = values.size();
  uint64_t state = seed;
  std::vector<double> means(static_cast<size_t>(resamples));
  for (double& m : means) {
    double sum = 0;
    for (size_t k = 0; k < n; ++k) sum += values[draw_index(state, n)];
    m = sum / static_cast<double>(n);
  }
  std::sort(means.begin(), means.end());
  return {percentile_sorted(means, 0.025), percentile_sorted(means, 0.975)};
}

std::array<double, 2> wilson_ci95(int64_t hits, int64_t n) {
  if (n < 0 || hits < 0 || hits > n)
    fail("wilson_ci95", "need 0 <= hits <= n, got hits=" + std::to_string(hits) + " n=" + std::to_string(n));
  if (n == 0) return {0.0, 1.0};
  constexpr double z = 1.959963984540054;
  const double nn = static_cast<double>(n), p = static_cast<double>(hits) / nn, z2 = z * z;
  const double denominator = 1 + z2 / nn;
  const double centre = (p + z2 / (2 * nn)) / denominator;
  const double half = z * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / denominator;
  // At 0 and n the bounds are exactly 0 and 1; the formula can miss them by a rounding error.
  return {hits == 0 ? 0.0 : std::max(0.0, centre - half), hits == n ? 1.0 : std::min(1.0, centre + half)};
}

ShortcutDecision decide_shortcuts(const std::array<double, data::kNumClasses>& score,
                                  const std::array<double, data::kNumClasses>& ci_low) {
  ShortcutDecision d;
  d.reference.fill(kNaN);
  d.margin.fill(kNaN);
  std::ostringstream rule;
  rule << "A class is flagged as a shortcut when the lower bound of its bootstrap 95 % interval of mean off-target "
          "share exceeds reference + margin, where reference is the median mean off-target share of the other "
          "classes with maps (at least 3 needed) and margin = max("
       << kShortcutMinMargin << ", 1.4826 x MAD of those shares, one robust standard deviation).";
  d.rule = rule.str();
  int with_maps = 0;
  for (int c = 0; c < data::kNumClasses; ++c) with_maps += std::isfinite(score[static_cast<size_t>(c)]) ? 1 : 0;
  for (int c = 0; c < data::kNumClasses; ++c) {
    const size_t k = static_cast<size_t>(c);
    if (!std::isfinite(score[k])) continue;
    std::vector<double> others;
    for (int o = 0; o < data::kNumClasses; ++o)
      if (o != c && std::isfinite(score[static_cast<size_t>(o)])) others.push_back(score[static_cast<size_t>(o)]);
    if (others.size() < 3) continue;
    const double reference = median_of(others);
    std::vector<double> deviation(others.size());
    for (size_t i = 0; i < others.size(); ++i) deviation[i] = std::abs(others[i] - reference);
    d.reference[k] = reference;
    d.margin[k] = std::max(kShortcutMinMargin, 1.4826 * median_of(deviation));
    d.flag[k] = ci_low[k] > reference + d.margin[k];  // false for a NaN lower bound
  }
  if (with_maps < 4)
    d.rule += " Not decided: only " + std::to_string(with_maps) +
              " classes have maps, so no class has 3 others to compare with.";
  return d;
}

}  // namespace cxr::eval
