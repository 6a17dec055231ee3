// The phantom and `synth`: lesion masks inside each class's anatomy and absent for negatives;
// planted shortcuts with the promised statistics (binomial and two-proportion tests, fixed seeds)
// and exact flags; same seed => same bytes whatever the thread count; the radiograph intensity
// profile, compared with real NIH films; NIH prevalence at n = 20,000 (against the README's counts);
// --label-noise flips at the documented rates and keeps the films' truth as expert_labels.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include <opencv2/imgcodecs.hpp>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"
#include "core/random.h"
#include "data/image_io.h"
#include "data/nih_stats.h"
#include "data/pack_reader.h"
#include "data/phantom.h"
#include "data/phantom_replay.h"
#include "data/synth.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace cxr::data;

namespace {

// NIH v2020 positives per class from ../shared/data/README.md (an independent record).
const std::map<std::string, int64_t> kReadmePositives = {
    {"Infiltration", 19894}, {"Effusion", 13317}, {"Atelectasis", 11559},       {"Nodule", 6331},
    {"Mass", 5782},          {"Pneumothorax", 5302}, {"Consolidation", 4667},   {"Pleural_Thickening", 3385},
    {"Cardiomegaly", 2776},  {"Emphysema", 2516},  {"Edema", 2303},             {"Fibrosis", 1686},
    {"Pneumonia", 1431},     {"Hernia", 227}};

// Where each class may change pixels (kAnat* bits of the rendered anatomy).
uint8_t allowed_region(int cls) {
  const std::string name = kClassNames[cls];
  if (name == "Cardiomegaly" || name == "Hernia") return kAnatHeart;
  if (name == "Atelectasis") return kAnatLungs | kAnatAbdomen;  // collapse + raised hemidiaphragm
  return kAnatLungs;
}

class SynthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("cxr_synth_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  SynthOptions options(const std::string& out, int64_t n, int size) {
    SynthOptions o;
    o.out = (root_ / out).string();
    o.n = n;
    o.size = size;
    o.seed = 7;
    o.shard_size = 500;
    o.jobs = 2;
    o.progress = false;
    o.command_line = "test";
    return o;
  }
  fs::path root_;
};

// Two-sided z for a binomial count.
double binomial_z(int64_t k, int64_t n, double p) {
  return (static_cast<double>(k) - n * p) / std::sqrt(n * p * (1 - p));
}

}  // namespace

TEST(NihStats, BakedTableAgreesWithTheReadme) {
  const NihStats& st = nih_stats();
  EXPECT_EQ(st.images, 112120);
  EXPECT_EQ(st.patients, 30805);
  EXPECT_EQ(st.male_images, 63340);
  EXPECT_EQ(st.female_images, 48780);
  EXPECT_EQ(st.pa_images, 67310);
  EXPECT_EQ(st.ap_images, 44810);
  for (int c = 0; c < kNumClasses; ++c) EXPECT_EQ(st.positives[c], kReadmePositives.at(kClassNames[c])) << kClassNames[c];
  // The joint table sums to the same totals it summarises.
  int64_t images = 0, no_finding = 0, patients = 0, patient_images = 0;
  std::array<int64_t, kNumClasses> pos{};
  for (const auto& f : st.findings) {
    images += f.images;
    if (f.labels == 0) no_finding += f.images;
    for (int c = 0; c < kNumClasses; ++c) pos[c] += (f.labels >> c & 1) * f.images;
  }
  for (const auto& p : st.images_per_patient) {
    patients += p.patients;
    patient_images += static_cast<int64_t>(p.images) * p.patients;
  }
  EXPECT_EQ(images, 112120);
  EXPECT_EQ(no_finding, 60361);  // README: "No Finding (60,361 rows)"
  EXPECT_EQ(patients, 30805);
  EXPECT_EQ(patient_images, 112120);
  for (int c = 0; c < kNumClasses; ++c) EXPECT_EQ(pos[c], st.positives[c]);
}

TEST(Phantom, EveryPositiveHasAMaskInsideItsAnatomyAndNegativesHaveNone) {
  const PhantomParams params = default_phantom_params();
  for (int size : {64, 128, 255, 256}) {
    std::vector<uint8_t> img(static_cast<size_t>(size) * size), anat(img.size());
    std::vector<uint16_t> mask(img.size());
    uint64_t state = 99;
    for (int trial = 0; trial < 200; ++trial) {
      PhantomCase c;
      c.sex = trial % 2 ? kSexFemale : kSexMale;
      c.age = static_cast<int16_t>(5 + (trial * 13) % 90);
      c.view = trial % 3 == 0 ? kViewAP : kViewPA;
      c.anatomy = sample_anatomy(c.sex, c.age, cxr::splitmix64(state));
      // Each class alone (14 trials per pass), then random co-occurring sets.
      if (trial < kNumClasses) {
        c.labels[trial] = 1;
      } else {
        for (int k = 0; k < kNumClasses; ++k) c.labels[k] = (cxr::splitmix64(state) % 4) == 0;
      }
      render_phantom(c, params, cxr::splitmix64(state), size, img.data(), mask.data(), anat.data());
      for (int k = 0; k < kNumClasses; ++k) {
        SCOPED_TRACE(std::string(kClassNames[k]) + " size " + std::to_string(size) + " trial " + std::to_string(trial));
        int64_t on = 0, outside = 0;
        for (size_t i = 0; i < mask.size(); ++i) {
          if (!(mask[i] >> k & 1)) continue;
          ++on;
          outside += (anat[i] & allowed_region(k)) == 0;
        }
        if (c.labels[k]) {
          EXPECT_GT(on, 0);
          EXPECT_EQ(outside, 0) << "of " << on << " mask pixels";
        } else {
          EXPECT_EQ(on, 0);
        }
      }
    }
  }
}

TEST(Phantom, SameSeedSamePixelsAndMaskDoesNotChangeThePicture) {
  const PhantomParams params = default_phantom_params();
  PhantomCase c;
  c.labels[4] = c.labels[9] = 1;
  c.anatomy = sample_anatomy(kSexFemale, 60, 3);
  std::vector<uint8_t> a(128 * 128), b(a.size()), d(a.size()), anat(a.size());
  std::vector<uint16_t> m(a.size());
  render_phantom(c, params, 11, 128, a.data(), m.data(), anat.data());
  render_phantom(c, params, 11, 128, b.data(), nullptr);
  render_phantom(c, params, 12, 128, d.data(), nullptr);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, d);
}

// Fixed regions of a 256 px film (rows/cols as fractions): the same measurement on real NIH films
// and on phantoms, so "as in radiographs" is checked against radiographs.
struct Profile {
  double corner, lungs, mediastinum, abdomen;
};
Profile measure(const uint8_t* p, int size) {
  auto mean = [&](double r0, double r1, double c0, double c1) {
    double s = 0;
    int n = 0;
    for (int r = static_cast<int>(r0 * size); r < static_cast<int>(r1 * size); ++r)
      for (int c = static_cast<int>(c0 * size); c < static_cast<int>(c1 * size); ++c, ++n) s += p[r * size + c];
    return s / n;
  };
  auto median_corner = [&] {
    std::vector<uint8_t> v;
    const int k = size * 8 / 100;
    for (int r = 0; r < k; ++r)
      for (int c = 0; c < k; ++c) {
        v.push_back(p[r * size + c]);
        v.push_back(p[r * size + size - 1 - c]);
      }
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return static_cast<double>(v[v.size() / 2]);
  };
  Profile pr;
  pr.corner = median_corner();
  pr.lungs = 0.5 * (mean(0.27, 0.58, 0.2, 0.35) + mean(0.27, 0.58, 0.65, 0.8));
  pr.mediastinum = mean(0.23, 0.62, 0.46, 0.54);
  pr.abdomen = mean(0.8, 0.94, 0.4, 0.6);
  return pr;
}

TEST(Phantom, IntensityProfileIsThatOfARadiograph) {
  // Real films first: how often does each ordering hold on NIH PNGs?
  int real = 0, real_lungs = 0, real_body = 0;
  for (const auto& e : fs::recursive_directory_iterator(std::string(CXR_SHARED_DATA_DIR) + "/images")) {
    if (e.path().extension() != ".png") continue;
    cv::Mat m = resize_square(decode_grey(e.path().string()), 256);
    Profile pr = measure(m.ptr<uint8_t>(), 256);
    ++real;
    real_lungs += pr.lungs < pr.mediastinum;
    real_body += pr.corner < pr.abdomen;
  }
  ASSERT_GE(real, 30);
  EXPECT_GE(real_lungs, real * 8 / 10);  // lungs darker than the mediastinum
  EXPECT_GE(real_body, real * 8 / 10);   // the outside of the body darker than the body

  // Phantoms: the same orderings on (nearly) every film, measured on fixed regions and on the
  // rendered anatomy (lung fields vs mediastinum; background vs soft tissue).
  const PhantomParams params = default_phantom_params();
  std::vector<uint8_t> img(256 * 256), anat(img.size());
  int films = 0, lungs_ok = 0, body_ok = 0;
  uint64_t state = 5;
  for (int t = 0; t < 60; ++t) {
    PhantomCase c;
    c.sex = t % 2 ? kSexFemale : kSexMale;
    c.age = static_cast<int16_t>(20 + t);
    c.view = t % 3 == 0 ? kViewAP : kViewPA;
    c.anatomy = sample_anatomy(c.sex, c.age, cxr::splitmix64(state));
    if (t % 4 == 1) c.labels[cxr::splitmix64(state) % kNumClasses] = 1;
    render_phantom(c, params, cxr::splitmix64(state), 256, img.data(), nullptr, anat.data());
    Profile pr = measure(img.data(), 256);
    ++films;
    lungs_ok += pr.lungs < pr.mediastinum;
    body_ok += pr.corner < pr.abdomen;
    double sum[4] = {0, 0, 0, 0};
    int64_t n[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < img.size(); ++i) {
      const uint8_t a = anat[i];
      int k = -1;
      if (a == 0) k = 0;                                             // background
      else if (a == kAnatBody) k = 1;                                // soft tissue only (chest wall, arms)
      else if ((a & kAnatLungs) && !(a & (kAnatHeart | kAnatMediastinum))) k = 2;  // lung fields
      else if ((a & kAnatMediastinum) && !(a & kAnatLungs)) k = 3;   // mediastinum
      if (k >= 0) {
        sum[k] += img[i];
        ++n[k];
      }
    }
    ASSERT_GT(n[0] * n[1] * n[2] * n[3], 0);
    EXPECT_LT(sum[2] / n[2] + 20, sum[3] / n[3]) << "lungs not darker than the mediastinum, film " << t;
    EXPECT_LT(sum[0] / n[0] + 20, sum[1] / n[1]) << "background not darker than the body, film " << t;
  }
  EXPECT_EQ(lungs_ok, films);
  EXPECT_EQ(body_ok, films);
}

TEST(Synth, PrevalenceWithinFifteenPercentOfNihForEverySeed) {
  double worst = 0;
  std::string worst_class;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    SynthOptions o;
    o.n = 20000;
    o.seed = seed;
    SynthPlan plan = plan_synth(o);
    std::array<int64_t, kNumClasses> pos{};
    for (const auto& r : plan.records)
      for (int c = 0; c < kNumClasses; ++c) pos[c] += r.meta.labels[c];
    for (int c = 0; c < kNumClasses; ++c) {
      const double nih = static_cast<double>(kReadmePositives.at(kClassNames[c])) / 112120.0;
      const double err = std::fabs(static_cast<double>(pos[c]) / 20000.0 / nih - 1.0);
      EXPECT_LT(err, 0.15) << kClassNames[c] << " seed " << seed;
      if (err > worst) {
        worst = err;
        worst_class = kClassNames[c];
      }
    }
  }
  std::printf("largest relative prevalence error over 8 seeds at n = 20,000: %.1f%% (%s)\n", 100 * worst,
              worst_class.c_str());
}

TEST(Synth, PrevalenceDemographicsAndSplitsFollowNih) {
  SynthOptions o;
  o.n = 20000;
  o.seed = 1;
  SynthPlan plan = plan_synth(o);
  ASSERT_EQ(plan.records.size(), 20000u);
  std::array<int64_t, kNumClasses> pos{};
  int64_t male = 0, ap = 0;
  std::map<int32_t, Split> split_of;
  std::map<int32_t, int> images_of;
  std::set<std::string> names;
  for (const auto& r : plan.records) {
    for (int c = 0; c < kNumClasses; ++c) pos[c] += r.meta.labels[c];
    male += r.meta.sex == kSexMale;
    ap += r.meta.view == kViewAP;
    auto [it, fresh] = split_of.emplace(r.meta.patient_id, r.split);
    EXPECT_EQ(it->second, r.split) << "patient " << r.meta.patient_id << " in two splits";
    ++images_of[r.meta.patient_id];
    EXPECT_TRUE(names.insert(r.meta.image_index).second) << r.meta.image_index;
    EXPECT_GE(r.meta.age, 0);
    EXPECT_LE(r.meta.age, 95);
  }
  for (int c = 0; c < kNumClasses; ++c) {
    const double nih = static_cast<double>(kReadmePositives.at(kClassNames[c])) / 112120.0;
    const double got = static_cast<double>(pos[c]) / 20000.0;
    EXPECT_LT(std::fabs(got / nih - 1.0), 0.15) << kClassNames[c] << ": " << got << " vs NIH " << nih;
  }
  EXPECT_NEAR(static_cast<double>(male) / 20000.0, 63340.0 / 112120.0, 0.05);
  EXPECT_NEAR(static_cast<double>(ap) / 20000.0, 44810.0 / 112120.0, 0.03);
  // Patients: about NIH's images per patient (3.64) and single-image share (57 % of patients).
  int singles = 0;
  for (auto& [id, k] : images_of) singles += k == 1;
  const double per_patient = 20000.0 / static_cast<double>(images_of.size());
  EXPECT_NEAR(per_patient, 112120.0 / 30805.0, 0.4);
  EXPECT_NEAR(static_cast<double>(singles) / static_cast<double>(images_of.size()), 17503.0 / 30805.0, 0.05);
  // Splits by patient: 70/10/20 of patients.
  std::array<int64_t, 3> per_split{};
  for (auto& [id, s] : split_of) ++per_split[static_cast<size_t>(s)];
  const double np = static_cast<double>(split_of.size());
  EXPECT_NEAR(per_split[0] / np, 0.7, 0.01);
  EXPECT_NEAR(per_split[1] / np, 0.1, 0.01);
  EXPECT_NEAR(per_split[2] / np, 0.2, 0.01);
}

// --label-noise: the plan is the noise-free plan with labels flipped at the documented rates (binomial
// z per class and direction), and expert_labels hold the noise-free truth.
TEST(Synth, LabelNoiseFlipsAtTheDocumentedRatesAndKeepsTheTruthAsExpertLabels) {
  SynthOptions clean;
  clean.n = 40000;
  clean.seed = 3;
  SynthOptions noisy = clean;
  noisy.label_noise = 2;
  const SynthPlan truth = plan_synth(clean), plan = plan_synth(noisy);
  ASSERT_EQ(truth.records.size(), plan.records.size());
  std::array<int64_t, kNumClasses> pos{}, missed{}, neg{}, invented{};
  int64_t flipped_films = 0;
  for (size_t i = 0; i < plan.records.size(); ++i) {
    const SampleMeta &t = truth.records[i].meta, &m = plan.records[i].meta;
    ASSERT_EQ(t.image_index, m.image_index);
    ASSERT_EQ(t.patient_id, m.patient_id);
    ASSERT_EQ(truth.records[i].split, plan.records[i].split);
    for (int8_t e : t.expert_labels) ASSERT_EQ(e, -1) << "expert labels without --label-noise";
    auto any = [&](std::initializer_list<const char*> names) {
      for (const char* n : names)
        if (t.labels[static_cast<size_t>(*class_index(n))]) return int8_t{1};
      return int8_t{0};
    };
    EXPECT_EQ(m.expert_labels[0], -1) << "Fracture is not a phantom finding";
    EXPECT_EQ(m.expert_labels[1], any({"Pneumothorax"})) << m.image_index;
    EXPECT_EQ(m.expert_labels[2], any({"Consolidation", "Infiltration", "Pneumonia"})) << m.image_index;
    EXPECT_EQ(m.expert_labels[3], any({"Nodule", "Mass"})) << m.image_index;
    bool flipped = false;
    for (int c = 0; c < kNumClasses; ++c) {
      if (t.labels[c]) {
        ++pos[c];
        missed[c] += !m.labels[c];
      } else {
        ++neg[c];
        invented[c] += m.labels[c];
      }
      flipped |= t.labels[c] != m.labels[c];
    }
    flipped_films += flipped;
  }
  for (int c = 0; c < kNumClasses; ++c) {
    SCOPED_TRACE(kClassNames[c]);
    const auto& rate = label_noise_rates()[static_cast<size_t>(c)];
    ASSERT_GT(pos[c], 50);
    EXPECT_LT(std::fabs(binomial_z(missed[c], pos[c], 2 * rate.miss)), 4.0) << missed[c] << " of " << pos[c];
    EXPECT_LT(std::fabs(binomial_z(invented[c], neg[c], 2 * rate.false_positive)), 4.0) << invented[c] << " of " << neg[c];
  }
  std::printf("--label-noise 2 at n = 40,000: %lld films (%.1f%%) carry at least one wrong label\n",
              static_cast<long long>(flipped_films), 100.0 * static_cast<double>(flipped_films) / 40000.0);
  noisy.label_noise = 5.5;
  EXPECT_THROW(plan_synth(noisy), cxr::UserError);
  noisy.label_noise = std::nan("");
  EXPECT_THROW(plan_synth(noisy), cxr::UserError);
}

// Cochran-Mantel-Haenszel z of the association between two 0/1 columns, stratified by `stratum` (one
// stratum: the plain hypergeometric z). About N(0, 1) for columns permuted apart; far out for linked ones.
double cmh_z(const std::vector<int>& stratum, const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  std::map<int, std::array<double, 4>> t;  // n, a, b, both
  for (size_t i = 0; i < a.size(); ++i) {
    auto& s = t[stratum[i]];
    s[0] += 1, s[1] += a[i], s[2] += b[i], s[3] += a[i] && b[i];
  }
  double observed = 0, expected = 0, variance = 0;
  for (const auto& [g, s] : t) {
    const double n = s[0], na = s[1], nb = s[2];
    if (n < 2) continue;
    observed += s[3];
    expected += na * nb / n;
    variance += na * nb * (n - na) * (n - nb) / (n * n * (n - 1));
  }
  return variance > 0 ? (observed - expected) / std::sqrt(variance) : 0.0;
}

// --findings independent: every film, patient and split as with nih; each class's and the view's counts
// unchanged exactly; the links between them (co-occurrence, AP films sicker) gone, overall and within the
// patient groups through which NIH's AP films are sicker.
TEST(Synth, IndependentFindingsKeepEveryCountAndRemoveCoOccurrenceAndTheViewLink) {
  SynthOptions nih;
  nih.n = 40000;
  nih.seed = 5;
  SynthOptions ind = nih;
  ind.findings = "independent";
  const SynthPlan a = plan_synth(nih), b = plan_synth(ind);
  ASSERT_EQ(a.records.size(), b.records.size());
  std::map<int32_t, int> images_of;
  for (const auto& r : a.records) ++images_of[r.meta.patient_id];
  const size_t n = a.records.size();
  const std::vector<int> one(n, 0);
  std::vector<int> group(n);
  std::array<std::vector<uint8_t>, kNumClasses> la, lb;
  std::vector<uint8_t> ap_a(n), ap_b(n), any_a(n), any_b(n);
  std::array<int64_t, kNumClasses> pos_a{}, pos_b{};
  for (size_t i = 0; i < n; ++i) {
    const SampleMeta &x = a.records[i].meta, &y = b.records[i].meta;
    ASSERT_EQ(x.image_index, y.image_index);
    ASSERT_EQ(x.patient_id, y.patient_id);
    ASSERT_EQ(x.sex, y.sex);
    ASSERT_EQ(x.age, y.age);
    ASSERT_EQ(a.records[i].split, b.records[i].split);
    ASSERT_EQ(b.records[i].phantom.view, y.view) << "the rendered view differs from the recorded one";
    ASSERT_EQ(b.records[i].phantom.labels, y.labels) << "the rendered findings differ from the labels";
    group[i] = nih_patient_group(images_of[x.patient_id]);
    ap_a[i] = x.view == kViewAP, ap_b[i] = y.view == kViewAP;
    for (int c = 0; c < kNumClasses; ++c) {
      la[c].push_back(x.labels[c]), lb[c].push_back(y.labels[c]);
      pos_a[c] += x.labels[c], pos_b[c] += y.labels[c];
      any_a[i] |= x.labels[c], any_b[i] |= y.labels[c];
    }
  }
  EXPECT_EQ(pos_a, pos_b) << "a prevalence changed";
  EXPECT_EQ(std::count(ap_a.begin(), ap_a.end(), 1), std::count(ap_b.begin(), ap_b.end(), 1)) << "the AP count changed";
  double worst = 0;
  std::string worst_pair;
  for (int c = 0; c < kNumClasses; ++c)
    for (int d = c + 1; d < kNumClasses; ++d)
      for (const std::vector<int>* strata : {&one, static_cast<const std::vector<int>*>(&group)}) {
        const double z = cmh_z(*strata, lb[c], lb[d]);
        if (std::fabs(z) > std::fabs(worst)) worst = z, worst_pair = std::string(kClassNames[c]) + " x " + kClassNames[d];
      }
  // 2 x 91 tests: |z| > 4.5 has probability below 2e-3 under independence.
  EXPECT_LT(std::fabs(worst), 4.5) << worst_pair;
  const int inf = *class_index("Infiltration"), eff = *class_index("Effusion"), ate = *class_index("Atelectasis");
  const double z_nih_ie = cmh_z(group, la[inf], la[eff]), z_nih_ae = cmh_z(group, la[ate], la[eff]);
  EXPECT_GT(z_nih_ie, 8) << "NIH's Infiltration-Effusion co-occurrence is missing from the nih plan";
  EXPECT_GT(z_nih_ae, 8);
  const double z_view_nih = cmh_z(one, ap_a, any_a), z_view_ind = cmh_z(one, ap_b, any_b);
  EXPECT_GT(z_view_nih, 8) << "AP films are not sicker in the nih plan";
  EXPECT_LT(std::fabs(z_view_ind), 4.5);
  EXPECT_LT(std::fabs(cmh_z(group, ap_b, any_b)), 4.5);
  std::printf("z: Infiltration x Effusion %.1f (nih) vs %.2f (independent); AP x any finding %.1f vs %.2f; "
              "largest |z| of 91 pairs x 2 under independent %.2f (%s)\n",
              z_nih_ie, cmh_z(group, lb[inf], lb[eff]), z_view_nih, z_view_ind, worst, worst_pair.c_str());
  const SynthPlan again = plan_synth(ind);
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(again.records[i].meta.labels, b.records[i].meta.labels) << "not deterministic";
  ind.findings = "indep";
  EXPECT_THROW(plan_synth(ind), cxr::UserError);
}

TEST(Synth, ShortcutSpecErrorsNameTheBadPart) {
  auto message = [](const std::string& spec) {
    try {
      parse_shortcut_spec(spec);
    } catch (const cxr::UserError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("Pneumothorx:0.5").find("did you mean 'Pneumothorax'"), std::string::npos);
  EXPECT_NE(message("pleural_thickening:0.5").find("'Pleural_Thickening'"), std::string::npos);
  EXPECT_NE(message("Effusion:1.5").find("outside [0, 1]"), std::string::npos);
  EXPECT_NE(message("Effusion:high").find("not a number"), std::string::npos);
  EXPECT_NE(message("Effusion:0.5:top-lef").find("did you mean 'top-left'"), std::string::npos);
  EXPECT_NE(message("Effusion").find("CLASS:P[:PLACE]"), std::string::npos);
  ShortcutSpec s = parse_shortcut_spec("Mass:0.25:bottom-right");
  EXPECT_EQ(kClassNames[s.cls], std::string("Mass"));
  EXPECT_DOUBLE_EQ(s.probability, 0.25);
  EXPECT_EQ(s.place, ShortcutPlace::kBottomRight);
  EXPECT_EQ(parse_shortcut_spec("Mass:1").place, ShortcutPlace::kTopLeft);
  SynthOptions o;
  o.shortcuts = {"Mass:0.5:top", "Nodule:0.5:top"};
  EXPECT_THROW(plan_synth(o), cxr::UserError);
}

// Renders and writes a 4,000-film pack at 64 px with two shortcuts, then checks, from the pack alone:
// marker statistics, exact flags (glyph present <=> flag), masks vs labels, and the manifest.
TEST_F(SynthTest, ShortcutsHaveThePromisedStatisticsAndExactFlags) {
  SynthOptions o = options("sc", 4000, 64);
  o.shortcuts = {"Effusion:0.8:top-right", "Nodule:0.5:left"};
  SynthResult res = run_synth(o);
  EXPECT_EQ(res.images, 4000);
  EXPECT_GT(res.images_per_second, 0);
  const int S = 64;
  // Reference glyphs, drawn on a blank film.
  std::vector<uint8_t> ref[2];
  const ShortcutPlace places[2] = {ShortcutPlace::kTopRight, ShortcutPlace::kLeft};
  for (int s = 0; s < 2; ++s) {
    ref[s].assign(S * S, 0);
    draw_shortcut_marker(ref[s].data(), S, places[s], s);
  }
  auto has_glyph = [&](const std::vector<uint8_t>& img, int s) {
    PixelBox b = shortcut_marker_box(S, places[s]);
    for (int y = b.y; y < b.y + b.h; ++y)
      for (int x = b.x; x < b.x + b.w; ++x)
        if (img[y * S + x] != ref[s][y * S + x]) return false;
    return true;
  };
  const int cls[2] = {*class_index("Effusion"), *class_index("Nodule")};
  const double P[2] = {0.8, 0.5};
  std::array<std::array<int64_t, 4>, 2> train{}, test{};  // [pos, pos&marker, neg, neg&marker]
  int64_t train_n = 0, test_n = 0;
  std::array<int64_t, 2> train_marked{}, test_marked{};
  std::vector<uint8_t> img(S * S);
  std::vector<uint16_t> mask(S * S);
  for (const std::string split : {"train", "val", "test"}) {
    PackSplit ps((root_ / "sc").string(), split);
    ASSERT_EQ(ps.shortcut().size(), static_cast<size_t>(ps.size()));
    ASSERT_TRUE(ps.has_lesion_mask());
    for (int64_t i = 0; i < ps.size(); ++i) {
      const SampleMeta& m = ps.meta()[static_cast<size_t>(i)];
      const uint8_t flag = ps.shortcut()[static_cast<size_t>(i)];
      ps.read_image(i, img.data());
      ps.read_lesion_mask(i, mask.data());
      // Mask bits only for positive labels, and every positive has some.
      uint16_t any = 0;
      for (uint16_t v : mask) any |= v;
      for (int c = 0; c < kNumClasses; ++c) EXPECT_EQ((any >> c & 1) != 0, m.labels[c] != 0) << m.image_index << " " << kClassNames[c];
      for (int s = 0; s < 2; ++s) {
        const bool on = flag >> s & 1;
        EXPECT_EQ(has_glyph(img, s), on) << m.image_index << " spec " << s;
        if (on) {  // the marker's pixels are never lesion pixels
          PixelBox b = shortcut_marker_box(S, places[s]);
          for (int y = b.y; y < b.y + b.h; ++y)
            for (int x = b.x; x < b.x + b.w; ++x) EXPECT_EQ(mask[y * S + x], 0) << m.image_index;
        }
        if (split == "val") {
          if (!m.labels[cls[s]]) {
            EXPECT_FALSE(on) << "marker on a negative val film";
          }
          continue;
        }
        auto& t = split == "train" ? train[s] : test[s];
        const bool pos = m.labels[cls[s]] != 0;
        t[pos ? 0 : 2] += 1;
        t[pos ? 1 : 3] += on;
      }
      if (split == "train") {
        ++train_n;
        for (int s = 0; s < 2; ++s) train_marked[s] += flag >> s & 1;
      } else if (split == "test") {
        ++test_n;
        for (int s = 0; s < 2; ++s) test_marked[s] += flag >> s & 1;
      }
    }
  }
  for (int s = 0; s < 2; ++s) {
    SCOPED_TRACE(o.shortcuts[s]);
    // Train: P(marker | positive) = P (binomial), P(marker | negative) = 0 exactly.
    ASSERT_GT(train[s][0], 50);
    EXPECT_LT(std::fabs(binomial_z(train[s][1], train[s][0], P[s])), 4.0);
    EXPECT_EQ(train[s][3], 0);
    // Test: marker rate = the train marker rate, and independent of the class (two-proportion z).
    const double q = static_cast<double>(train_marked[s]) / static_cast<double>(train_n);
    EXPECT_LT(std::fabs(binomial_z(test_marked[s], test_n, q)), 4.0);
    const double p1 = double(test[s][1]) / double(test[s][0]), p0 = double(test[s][3]) / double(test[s][2]);
    const double pp = double(test[s][1] + test[s][3]) / double(test[s][0] + test[s][2]);
    const double z = (p1 - p0) / std::sqrt(pp * (1 - pp) * (1.0 / double(test[s][0]) + 1.0 / double(test[s][2])));
    EXPECT_LT(std::fabs(z), 3.29) << "marker depends on the class in test (p < 0.001)";
    EXPECT_GT(test[s][1], 0);  // positives do get markers in test
  }
  const std::string manifest = cxr::read_text_file(root_ / "sc" / "manifest.json");
  for (const char* key : {"\"source\": \"phantom\"", "\"generator\"", "\"shortcuts\"", "\"nih_statistics\"",
                          "Effusion:0.8:top-right", "\"lesions\""})
    EXPECT_NE(manifest.find(key), std::string::npos) << key;
}

// In the written pack the films (lesion masks) show the truth: expert_labels agree with the masks
// exactly, the noisy labels do not always, and the manifest records the rates.
TEST_F(SynthTest, LabelNoisePackKeepsTheFilmsTrueAndRecordsTheRates) {
  SynthOptions o = options("noisy", 1500, 64);
  o.label_noise = 3;
  run_synth(o);
  const int S = 64;
  std::vector<uint16_t> mask(S * S);
  int64_t rows = 0, label_differs = 0;
  for (const std::string split : {"train", "val", "test"}) {
    PackSplit ps((root_ / "noisy").string(), split);
    ASSERT_TRUE(ps.has_expert_labels());
    for (int64_t i = 0; i < ps.size(); ++i) {
      const SampleMeta& m = ps.meta()[static_cast<size_t>(i)];
      ps.read_lesion_mask(i, mask.data());
      uint16_t bits = 0;
      for (uint16_t v : mask) bits |= v;
      auto film = [&](std::initializer_list<const char*> names) {
        for (const char* n : names)
          if (bits >> *class_index(n) & 1) return int8_t{1};
        return int8_t{0};
      };
      EXPECT_EQ(m.expert_labels[1], film({"Pneumothorax"})) << m.image_index;
      EXPECT_EQ(m.expert_labels[2], film({"Consolidation", "Infiltration", "Pneumonia"})) << m.image_index;
      EXPECT_EQ(m.expert_labels[3], film({"Nodule", "Mass"})) << m.image_index;
      for (int c = 0; c < kNumClasses; ++c) label_differs += (bits >> c & 1) != m.labels[c];
      ++rows;
    }
  }
  EXPECT_EQ(rows, 1500);
  EXPECT_GT(label_differs, 20) << "noise 3 should flip dozens of labels in 1,500 films";
  const json manifest = json::parse(cxr::read_text_file(root_ / "noisy" / "manifest.json"));
  const json& noise = manifest.at("label_noise");
  EXPECT_EQ(noise.at("scale").get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(noise.at("rates").at("Pneumonia").at("miss").get<double>(),
                   3 * label_noise_rates()[static_cast<size_t>(*class_index("Pneumonia"))].miss);
}

// Grad-CAM's regions and the causal test re-render a pack's films from its manifest: every film comes out
// byte for byte as stored (image and mask), its anatomy marks the planted marker exactly where it is drawn,
// and switching the marker changes the film inside the marker box only.
TEST_F(SynthTest, ReplayRendersThePacksFilmsAndTheirMarkerTwins) {
  SynthOptions o = options("replay", 400, 64);
  o.shortcuts = {"Effusion:0.9:top-left", "Nodule:0.5:bottom-right"};
  o.label_noise = 1;
  run_synth(o);
  const PhantomReplay replay((root_ / "replay").string());
  const int S = 64;
  std::vector<uint8_t> stored(S * S), again(S * S), twin(S * S), anat(S * S);
  std::vector<uint16_t> stored_mask(S * S), mask(S * S);
  int64_t films = 0, marked = 0, natural = 0, removed = 0;
  for (const std::string split : {"train", "val", "test"}) {
    PackSplit ps((root_ / "replay").string(), split);
    for (int64_t i = 0; i < ps.size(); ++i) {
      const SampleMeta& m = ps.meta()[static_cast<size_t>(i)];
      const SynthRecord& r = replay.record(m.image_index);
      ASSERT_EQ(r.shortcut, ps.shortcut()[static_cast<size_t>(i)]) << m.image_index;
      ps.read_image(i, stored.data());
      ps.read_lesion_mask(i, stored_mask.data());
      replay.render(r, again.data(), mask.data(), anat.data());
      ASSERT_EQ(again, stored) << m.image_index;
      ASSERT_EQ(mask, stored_mask) << m.image_index;
      // The twin: every marker flipped. Pixels differ only inside the flipped markers' boxes.
      const auto flipped = static_cast<uint8_t>(r.shortcut ^ 0x3);
      replay.render(r, {flipped, true, -1}, twin.data(), nullptr, nullptr);
      const PixelBox boxes[2] = {shortcut_marker_box(S, ShortcutPlace::kTopLeft),
                                 shortcut_marker_box(S, ShortcutPlace::kBottomRight)};
      for (int y = 0; y < S; ++y)
        for (int x = 0; x < S; ++x) {
          bool in_box = false;
          for (const auto& b : boxes) in_box |= x >= b.x && x < b.x + b.w && y >= b.y && y < b.y + b.h;
          const size_t k = static_cast<size_t>(y) * S + x;
          if (!in_box) {
            ASSERT_EQ(twin[k], stored[k]) << m.image_index << " at " << x << "," << y;
          }
          if (in_box && r.shortcut & 1 && boxes[0].x <= x && x < boxes[0].x + boxes[0].w && y < boxes[0].y + boxes[0].h) {
            EXPECT_TRUE(anat[k] & kAnatMarker) << "marker pixel not in the anatomy's marker bit";
          }
        }
      // Without the natural markers (AP tags, ECG electrodes) only marker pixels change, and only on AP films.
      replay.render(r, {-1, /*natural_markers=*/false, -1}, twin.data(), nullptr, nullptr);
      int64_t changed = 0;
      for (size_t k = 0; k < twin.size(); ++k)
        if (twin[k] != stored[k]) {
          ++changed;
          ASSERT_TRUE(anat[k] & kAnatMarker) << m.image_index << ": a non-marker pixel changed";
        }
      if (m.view != kViewAP) {
        EXPECT_EQ(changed, 0) << m.image_index;
      }
      natural += changed > 0;
      // Without one class's lesion: that class's mask bit is gone, and where the class does not change the anatomy
      // (all but Atelectasis, Cardiomegaly, Emphysema) every other class's mask is exactly as it was.
      for (int c = 0; c < kNumClasses; ++c) {
        if (!r.phantom.labels[static_cast<size_t>(c)]) continue;
        std::vector<uint16_t> without(S * S);
        replay.render(r, {-1, true, c}, twin.data(), without.data(), nullptr);
        uint16_t bits = 0, others_differ = 0;
        for (size_t k = 0; k < without.size(); ++k) {
          bits |= without[k];
          others_differ |= static_cast<uint16_t>((without[k] ^ stored_mask[k]) & ~(1u << c));
        }
        EXPECT_FALSE(bits >> c & 1) << m.image_index << ": class " << c << " still in the mask";
        if (c != 0 && c != 1 && c != 5) {
          EXPECT_EQ(others_differ, 0) << m.image_index << " without class " << c;
        }
        removed += 1;
        // Only this class's lesion: no other class's bit, and this class's own mask as stored when none of the
        // classes left out changes the anatomy.
        replay.render(r, {-1, true, -1, c}, twin.data(), without.data(), nullptr);
        bool anatomy_changed = false;
        for (int d : {0, 1, 5}) anatomy_changed |= d != c && r.phantom.labels[static_cast<size_t>(d)] != 0;
        uint16_t foreign = 0, own_differs = 0;
        for (size_t k = 0; k < without.size(); ++k) {
          foreign |= static_cast<uint16_t>(without[k] & ~(1u << c));
          own_differs |= static_cast<uint16_t>((without[k] ^ stored_mask[k]) & (1u << c));
        }
        EXPECT_EQ(foreign, 0) << m.image_index << " with only class " << c;
        if (!anatomy_changed) {
          EXPECT_EQ(own_differs, 0) << m.image_index << " with only class " << c;
        }
      }
      marked += r.shortcut != 0;
      ++films;
    }
  }
  EXPECT_EQ(films, 400);
  EXPECT_GT(marked, 5);
  EXPECT_GT(natural, 40) << "AP films (about 40 %) mostly carry a tag or electrodes";
  EXPECT_GT(removed, 100) << "lesions removed one at a time";
  EXPECT_THROW(replay.record("no_such_image.png"), cxr::UserError);
  // A pack whose generator differs cannot be replayed.
  json manifest = json::parse(cxr::read_text_file(root_ / "replay" / "manifest.json"));
  manifest["generator"]["lung_air"] = 0.51;
  cxr::atomic_write_file(root_ / "replay" / "manifest.json", manifest.dump(2));
  EXPECT_THROW(PhantomReplay((root_ / "replay").string()), cxr::UserError);
}

TEST_F(SynthTest, SameSeedSameBytesWhateverTheThreadCount) {
  SynthOptions a = options("a", 300, 64), b = options("b", 300, 64), c = options("c", 300, 64);
  a.jobs = 1;
  b.jobs = 2;
  c.seed = 8;
  a.shortcuts = b.shortcuts = c.shortcuts = {"Atelectasis:0.7"};
  run_synth(a);
  run_synth(b);
  run_synth(c);
  int compared = 0, differ = 0;
  for (const auto& e : fs::directory_iterator(root_ / "a")) {
    if (e.path().extension() != ".h5") continue;
    const std::string bytes = cxr::read_text_file(e.path());
    EXPECT_EQ(bytes, cxr::read_text_file(root_ / "b" / e.path().filename())) << e.path();
    if (fs::exists(root_ / "c" / e.path().filename()))
      differ += bytes != cxr::read_text_file(root_ / "c" / e.path().filename());
    ++compared;
  }
  EXPECT_GE(compared, 3);
  EXPECT_GE(differ, 1);
  EXPECT_EQ(cxr::read_text_file(root_ / "a" / "manifest.json"), cxr::read_text_file(root_ / "b" / "manifest.json"));
}

TEST_F(SynthTest, ExistingOutputIsNeverOverwrittenWithoutFlag) {
  fs::create_directories(root_ / "keep");
  cxr::atomic_write_file(root_ / "keep" / "precious.txt", "data");
  SynthOptions o = options("keep", 20, 64);
  EXPECT_THROW(run_synth(o), cxr::UserError);
  EXPECT_EQ(cxr::read_text_file(root_ / "keep" / "precious.txt"), "data");
  o.overwrite = true;
  run_synth(o);
  EXPECT_FALSE(fs::exists(root_ / "keep" / "precious.txt"));
  EXPECT_TRUE(fs::exists(root_ / "keep" / "manifest.json"));
}

TEST_F(SynthTest, GalleryIsWritten) {
  const std::string png = (root_ / "g.png").string();
  render_gallery(png, 96, 1);
  cv::Mat g = cv::imread(png, cv::IMREAD_COLOR);
  EXPECT_EQ(g.cols, 4 * 96);
  EXPECT_EQ(g.rows, 4 * 96);
}
