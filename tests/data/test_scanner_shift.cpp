// Phantom scanner shifts and the planted marker made label-independent or removed (data/scanner_shift.cpp):
// severity 0 re-renders the stored films byte for byte; the AP share follows its table and is nested; the noise
// change is the film's own noise scaled (the difference to the stored film grows as k - 1); a wider window
// darkens the film monotonically; tag styles change marker pixels only, and only where the style applies; the
// label-independent marker has the same rate among positives and negatives (its train rate), the removed one is
// gone, and the other specs' markers stay. Everything by formula or by construction.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <numeric>

#include "core/error.h"
#include "data/classes.h"
#include "data/pack_reader.h"
#include "data/phantom_replay.h"
#include "data/scanner_shift.h"
#include "data/synth.h"

using namespace cxr::data;
namespace fs = std::filesystem;

namespace {

constexpr int S = 64;

class ScannerShiftTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(fs::temp_directory_path() / ("cxr_scanner_" + std::to_string(::getpid())));
    fs::remove_all(*root_);
    SynthOptions o;
    o.out = (*root_ / "pack").string();
    o.n = 300;
    o.size = S;
    o.seed = 11;
    o.jobs = 2;
    o.progress = false;
    o.command_line = "test";
    o.shortcuts = {"Effusion:0.9:top-left", "Nodule:0.5:bottom-right"};
    run_synth(o);
    replay_ = new PhantomReplay(o.out);
  }
  static void TearDownTestSuite() {
    delete replay_;
    fs::remove_all(*root_);
    delete root_;
  }
  static std::vector<uint8_t> render(const SynthRecord& r, const PhantomReplay::Variant& v,
                                     std::vector<uint8_t>* anatomy = nullptr) {
    std::vector<uint8_t> img(S * S);
    if (anatomy) anatomy->assign(S * S, 0);
    replay_->render(r, v, img.data(), nullptr, anatomy ? anatomy->data() : nullptr);
    return img;
  }
  static fs::path* root_;
  static PhantomReplay* replay_;
};
fs::path* ScannerShiftTest::root_ = nullptr;
PhantomReplay* ScannerShiftTest::replay_ = nullptr;

double sd_of_difference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  double s = 0, s2 = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    s += d;
    s2 += d * d;
  }
  const double n = static_cast<double>(a.size());
  return std::sqrt(s2 / n - (s / n) * (s / n));
}

double mean_of(const std::vector<uint8_t>& a) { return std::accumulate(a.begin(), a.end(), 0.0) / static_cast<double>(a.size()); }

}  // namespace

TEST_F(ScannerShiftTest, SeverityZeroIsTheStoredFilm) {
  PackSplit test((*root_ / "pack").string(), "test");
  std::vector<uint8_t> stored(S * S);
  for (int64_t i = 0; i < test.size(); ++i) {
    test.read_image(i, stored.data());
    const SynthRecord& r = replay_->record(test.meta()[static_cast<size_t>(i)].image_index);
    for (const auto& info : scanner_shift_table())
      ASSERT_EQ(render(r, scanner_variant(info.kind, 0, r)), stored) << info.name << " " << r.meta.image_index;
  }
}

TEST_F(ScannerShiftTest, ApShareFollowsItsTableAndIsNested) {
  SynthOptions o;
  o.n = 20000;
  o.seed = 3;
  const SynthPlan plan = plan_synth(o);
  for (int s = 1; s <= 3; ++s) {
    int64_t pa = 0, moved = 0, ap_moved = 0;
    for (const auto& r : plan.records) {
      const auto v = scanner_variant(ScannerShift::kApShare, s, r);
      if (r.phantom.view == kViewAP) {
        ap_moved += v.view != -1;
        continue;
      }
      ++pa;
      moved += v.view == kViewAP;
      if (s > 1 && scanner_variant(ScannerShift::kApShare, s - 1, r).view == kViewAP) {
        ASSERT_EQ(v.view, kViewAP) << "not nested at severity " << s;
      }
    }
    const double p = scanner_shift_info(ScannerShift::kApShare).parameter[static_cast<size_t>(s)];
    const double rate = static_cast<double>(moved) / static_cast<double>(pa);
    EXPECT_NEAR(rate, p, 4 * std::sqrt(p * (1 - p) / static_cast<double>(pa)) + 1e-12) << "severity " << s;
    EXPECT_EQ(ap_moved, 0) << "AP films must stay as they are";
  }
}

TEST_F(ScannerShiftTest, NoiseProfileScalesTheFilmsOwnNoise) {
  PackSplit test((*root_ / "pack").string(), "test");
  std::vector<uint8_t> stored(S * S);
  int checked = 0;
  for (int64_t i = 0; i < test.size() && checked < 20; ++i) {
    test.read_image(i, stored.data());
    const SynthRecord& r = replay_->record(test.meta()[static_cast<size_t>(i)].image_index);
    // Noise x k adds (k - 1) times the stored film's noise (same draws): SD(x3 - x1) / SD(x1.5 - x1) = 2 / 0.5.
    const double d15 = sd_of_difference(render(r, scanner_variant(ScannerShift::kNoiseProfile, 1, r)), stored);
    const double d3 = sd_of_difference(render(r, scanner_variant(ScannerShift::kNoiseProfile, 3, r)), stored);
    ASSERT_GT(d15, 0.3) << r.meta.image_index;
    EXPECT_NEAR(d3 / d15, 4.0, 0.6) << r.meta.image_index;  // rounding to grey levels and clipping blur it
    ++checked;
  }
  EXPECT_EQ(checked, 20);
}

TEST_F(ScannerShiftTest, WiderWindowDarkensMonotonically) {
  PackSplit test((*root_ / "pack").string(), "test");
  for (int64_t i = 0; i < 10; ++i) {
    const SynthRecord& r = replay_->record(test.meta()[static_cast<size_t>(i)].image_index);
    double last = 1e9;
    for (int s = 0; s <= 3; ++s) {
      const double m = mean_of(render(r, scanner_variant(ScannerShift::kExposureProfile, s, r)));
      EXPECT_LT(m, last) << r.meta.image_index << " severity " << s;
      last = m;
    }
  }
}

TEST_F(ScannerShiftTest, TagStylesChangeMarkerPixelsOnly) {
  PackSplit test((*root_ / "pack").string(), "test");
  std::vector<uint8_t> stored(S * S), anat_stored, anat_shifted;
  int64_t ap_changed_1 = 0, ap_changed_2 = 0, pa_changed_3 = 0, pa = 0, ap = 0;
  for (int64_t i = 0; i < test.size(); ++i) {
    test.read_image(i, stored.data());
    const SynthRecord& r = replay_->record(test.meta()[static_cast<size_t>(i)].image_index);
    render(r, {}, &anat_stored);
    const bool is_ap = r.phantom.view == kViewAP;
    (is_ap ? ap : pa) += 1;
    for (int s = 1; s <= 3; ++s) {
      const std::vector<uint8_t> shifted = render(r, scanner_variant(ScannerShift::kTagStyle, s, r), &anat_shifted);
      int64_t changed = 0;
      for (size_t k = 0; k < stored.size(); ++k)
        if (shifted[k] != stored[k]) {
          ++changed;
          ASSERT_TRUE((anat_stored[k] | anat_shifted[k]) & kAnatMarker)
              << r.meta.image_index << " style " << s << ": a non-marker pixel changed";
        }
      if (s < 3 && !is_ap) {
        EXPECT_EQ(changed, 0) << "styles 1 and 2 act on AP films only";
      }
      if (is_ap && s == 1) ap_changed_1 += changed > 0;
      if (is_ap && s == 2) ap_changed_2 += changed > 0;
      if (!is_ap && s == 3) pa_changed_3 += changed > 0;
    }
  }
  ASSERT_GT(ap, 5);
  EXPECT_GT(ap_changed_1, ap / 2) << "most AP films carry a tag or electrodes to remove";
  EXPECT_GT(ap_changed_2, 0) << "some AP films lack a tag or electrodes to add";
  EXPECT_GT(pa_changed_3, pa / 2) << "most PA films carry a lead laterality marker";
}

TEST_F(ScannerShiftTest, ShortcutMadeIndependentOrRemoved) {
  SynthOptions o;
  o.n = 20000;
  o.seed = 5;
  o.shortcuts = {"Effusion:0.9:top-left", "Nodule:0.5:bottom-right"};
  const SynthPlan plan = plan_synth(o);
  for (size_t spec = 0; spec < 2; ++spec) {
    const int cls = plan.shortcuts[spec].cls;
    const double rate = plan.train_marker_rate[spec];
    int64_t pos = 0, neg = 0, pos_marked = 0, neg_marked = 0;
    for (const auto& r : plan.records) {
      const auto bit = static_cast<uint8_t>(1u << spec);
      const auto removed = scanner_variant(ScannerShift::kApShare, 0, r);  // the default variant keeps the film's own
      EXPECT_EQ(removed.markers, -1);
      const auto rm = shortcut_variant(plan, spec, /*remove=*/true, r);
      ASSERT_EQ(rm.markers, r.shortcut & ~bit) << "removed: the other spec's marker must stay";
      const auto ind = shortcut_variant(plan, spec, /*remove=*/false, r);
      ASSERT_EQ(ind.markers & ~bit, r.shortcut & ~bit) << "independent: the other spec's marker must stay";
      const bool marked = ind.markers & bit;
      if (r.meta.labels[static_cast<size_t>(cls)]) {
        ++pos;
        pos_marked += marked;
      } else {
        ++neg;
        neg_marked += marked;
      }
    }
    const double pp = static_cast<double>(pos_marked) / static_cast<double>(pos);
    const double pn = static_cast<double>(neg_marked) / static_cast<double>(neg);
    EXPECT_NEAR(pp, rate, 4 * std::sqrt(rate * (1 - rate) / static_cast<double>(pos))) << "spec " << spec;
    EXPECT_NEAR(pn, rate, 4 * std::sqrt(rate * (1 - rate) / static_cast<double>(neg))) << "spec " << spec;
  }
  EXPECT_THROW(shortcut_variant(plan, 2, true, plan.records[0]), std::out_of_range);
}

TEST(ScannerShift, NamesAndSeverities) {
  EXPECT_EQ(parse_scanner_shift("noise-profile"), ScannerShift::kNoiseProfile);
  try {
    parse_scanner_shift("ap-shar");
    FAIL() << "no error";
  } catch (const cxr::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'ap-share'"), std::string::npos) << e.what();
  }
  SynthRecord r;
  EXPECT_THROW(scanner_variant(ScannerShift::kNoiseProfile, 4, r), cxr::UserError);
  EXPECT_THROW(scanner_shift_description(ScannerShift::kTagStyle, -1), cxr::UserError);
  EXPECT_EQ(scanner_shift_names().size(), static_cast<size_t>(kNumScannerShifts));
}
