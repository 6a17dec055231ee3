// The synth pipeline (see synth.h): plan (patients, labels, splits, shortcut flags) from NIH
// statistics with quota sampling, so prevalence is matched exactly rather than only in expectation;
// then render on worker threads and write shards in order, as packer.cpp does for real films.
#include "data/synth.h"

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#if CXR_HAVE_IMGCODECS
#include <opencv2/imgcodecs.hpp>
#endif
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "core/fs.h"
#include "core/progress.h"
#include "core/random.h"
#include "core/strings.h"
#include "core/version.h"
#include "data/manifest.h"
#include "data/nih_stats.h"
#include "data/ordered_pipeline.h"
#include "data/pack_writer.h"

namespace cxr::data {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

constexpr int kMaxShortcuts = 8;
constexpr double kFieldOfViewMm = 350.0;  // nominal film width, for pixel_spacing

// User + system CPU seconds of the whole process (all threads).
double process_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

double unit_uniform(uint64_t& state) { return static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53; }

struct Patient {
  int32_t id = 0;
  int images = 0;
  int group = 0;
  int8_t sex = kSexMale;
  int age0 = 50;
  double span = 0;  // years between the first and the last image
  Split split = Split::kTrain;
  PhantomAnatomy anatomy;
};

// Patient sizes (images per patient) whose image-weighted histogram follows NIH's, summing to n
// exactly: cumulative image targets are rounded per size, a remainder becomes one smaller patient.
std::vector<int> patient_sizes(int64_t n) {
  const NihStats& st = nih_stats();
  std::vector<int> sizes;
  double cum = 0;
  int64_t allocated = 0;
  for (const auto& pc : st.images_per_patient) {
    cum += static_cast<double>(pc.images) * static_cast<double>(pc.patients);
    const int64_t target = std::llround(static_cast<double>(n) * cum / static_cast<double>(st.images));
    const int64_t images = target - allocated;
    allocated = target;
    for (int64_t i = 0; i < images / pc.images; ++i) sizes.push_back(pc.images);
    if (images % pc.images) sizes.push_back(static_cast<int>(images % pc.images));
  }
  return sizes;
}

// Classes ranked from rarest (0) to most common by NIH positives.
std::array<int, kNumClasses> rarity_rank() {
  const NihStats& st = nih_stats();
  std::array<int, kNumClasses> order{};
  for (int c = 0; c < kNumClasses; ++c) order[c] = c;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return st.positives[a] < st.positives[b]; });
  std::array<int, kNumClasses> rank{};
  for (int r = 0; r < kNumClasses; ++r) rank[order[r]] = r;
  return rank;
}

// Sort key that makes the rows holding any given rare class contiguous (rarest class = most
// significant bit), so systematic sampling matches rare-class counts to within one per group.
uint32_t rare_first_key(uint16_t labels, int8_t view, const std::array<int, kNumClasses>& rank) {
  uint32_t key = 0;
  for (int c = 0; c < kNumClasses; ++c)
    if (labels >> c & 1) key |= 1u << (kNumClasses - rank[c]);
  return key << 1 | static_cast<uint32_t>(view);
}

struct Finding {
  int8_t view;
  uint16_t labels;
};

// n (view, labels) pairs for the images of one patient group, in patient order: systematic
// sampling over the group's NIH joint counts, cut into runs (a patient's next film repeats the
// previous findings with NIH's probability), runs shuffled.
std::vector<Finding> sample_findings(int group, int64_t n, uint64_t seed) {
  std::vector<Finding> out;
  if (n <= 0) return out;
  const NihStats& st = nih_stats();
  const auto rank = rarity_rank();
  std::vector<NihFinding> rows;
  for (const auto& f : st.findings)
    if (f.group == group) rows.push_back(f);
  std::sort(rows.begin(), rows.end(), [&](const NihFinding& a, const NihFinding& b) {
    return rare_first_key(a.labels, a.view, rank) < rare_first_key(b.labels, b.view, rank);
  });
  double total = 0;
  for (const auto& r : rows) total += r.images;
  uint64_t state = mix_seed(seed, 0xf1d);
  const double u0 = unit_uniform(state);
  std::vector<Finding> sorted;
  sorted.reserve(static_cast<size_t>(n));
  size_t row = 0;
  double cum = rows.empty() ? 0 : rows[0].images;
  for (int64_t i = 0; i < n; ++i) {
    const double target = (u0 + static_cast<double>(i)) / static_cast<double>(n) * total;
    while (target >= cum && row + 1 < rows.size()) cum += rows[++row].images;
    sorted.push_back({rows[row].view, rows[row].labels});
  }
  // Runs of identical findings with geometric lengths.
  std::vector<std::pair<size_t, size_t>> runs;  // [begin, end) into sorted
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i + 1;
    while (j < sorted.size() && sorted[j].labels == sorted[i].labels && sorted[j].view == sorted[i].view &&
           unit_uniform(state) < st.repeat_probability)
      ++j;
    runs.emplace_back(i, j);
    i = j;
  }
  deterministic_shuffle(runs, mix_seed(seed, 0x2a5));
  out.reserve(sorted.size());
  for (const auto& [b, e] : runs)
    for (size_t i = b; i < e; ++i) out.push_back(sorted[i]);
  return out;
}

void sample_demographics(Patient& p, uint64_t& state) {
  const NihStats& st = nih_stats();
  double total = 0;
  for (const auto& d : st.demographics)
    if (d.group == p.group) total += d.patients;
  double target = unit_uniform(state) * total;
  const NihDemographic* pick = nullptr;
  for (const auto& d : st.demographics) {
    if (d.group != p.group) continue;
    pick = &d;
    if ((target -= d.patients) < 0) break;
  }
  p.sex = pick ? pick->sex : kSexMale;
  const int bin = pick ? pick->age_bin : 10;
  p.age0 = std::min(95, bin * kNihAgeBinYears + static_cast<int>(unit_uniform(state) * kNihAgeBinYears));
  p.span = p.images > 1 ? st.age_span[static_cast<size_t>(p.group)] * 2.0 * unit_uniform(state) : 0.0;
}

std::string image_name(int32_t patient, int follow_up) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08d_%03d.png", patient, follow_up);
  return buf;
}

json shortcut_json(const SynthPlan& plan) {
  json arr = json::array();
  std::array<std::array<int64_t, 3>, kMaxShortcuts> marked{};
  std::array<int64_t, 3> count{};
  for (const auto& r : plan.records) {
    ++count[static_cast<size_t>(r.split)];
    for (size_t s = 0; s < plan.shortcuts.size(); ++s)
      if (r.shortcut >> s & 1) ++marked[s][static_cast<size_t>(r.split)];
  }
  for (size_t s = 0; s < plan.shortcuts.size(); ++s) {
    const ShortcutSpec& sc = plan.shortcuts[s];
    json rate = json::object();
    for (int k = 0; k < 3; ++k)
      rate[kSplitNames[k]] = count[k] ? static_cast<double>(marked[s][k]) / static_cast<double>(count[k]) : 0.0;
    arr.push_back({{"spec", sc.text},
                   {"bit", s},
                   {"class", kClassNames[sc.cls]},
                   {"probability", sc.probability},
                   {"place", shortcut_place_name(sc.place)},
                   {"glyph_style", s % 4},
                   {"test_probability", plan.train_marker_rate[s]},
                   {"marker_rate", rate}});
  }
  return arr;
}

std::string summary_table(const SynthPlan& plan) {
  std::vector<SampleMeta> rows;
  std::vector<Split> split_of;
  for (const auto& r : plan.records) {
    rows.push_back(r.meta);
    split_of.push_back(r.split);
  }
  auto sum = summarize(rows, split_of);
  const NihStats& st = nih_stats();
  std::ostringstream out;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-20s %10s %10s %10s %10s %10s\n", "", "train", "val", "test", "all", "NIH v2020");
  out << buf;
  const int64_t n = sum[0].images + sum[1].images + sum[2].images;
  std::snprintf(buf, sizeof buf, "%-20s %10lld %10lld %10lld %10lld %10lld\n", "images", (long long)sum[0].images,
                (long long)sum[1].images, (long long)sum[2].images, (long long)n, (long long)st.images);
  out << buf;
  std::snprintf(buf, sizeof buf, "%-20s %10lld %10lld %10lld %10lld %10lld\n", "patients", (long long)sum[0].patients,
                (long long)sum[1].patients, (long long)sum[2].patients,
                (long long)(sum[0].patients + sum[1].patients + sum[2].patients), (long long)st.patients);
  out << buf;
  for (int c = 0; c < kNumClasses; ++c) {
    auto pct = [&](int64_t pos, int64_t all) { return all ? 100.0 * double(pos) / double(all) : 0.0; };
    const int64_t all = sum[0].positives[c] + sum[1].positives[c] + sum[2].positives[c];
    std::snprintf(buf, sizeof buf, "%-20s %9.2f%% %9.2f%% %9.2f%% %9.2f%% %9.2f%%\n", kClassNames[c],
                  pct(sum[0].positives[c], sum[0].images), pct(sum[1].positives[c], sum[1].images),
                  pct(sum[2].positives[c], sum[2].images), pct(all, n), pct(st.positives[c], st.images));
    out << buf;
  }
  for (size_t s = 0; s < plan.shortcuts.size(); ++s) {
    std::array<int64_t, 3> marked{}, pos{}, pos_marked{};
    for (const auto& r : plan.records) {
      const auto k = static_cast<size_t>(r.split);
      const bool m = r.shortcut >> s & 1, p = r.meta.labels[plan.shortcuts[s].cls] != 0;
      marked[k] += m;
      pos[k] += p;
      pos_marked[k] += m && p;
    }
    std::snprintf(buf, sizeof buf, "shortcut %s: P(marker|%s) train %.3f val %.3f test %.3f; marker rate test %.3f\n",
                  plan.shortcuts[s].text.c_str(), kClassNames[plan.shortcuts[s].cls],
                  pos[0] ? double(pos_marked[0]) / double(pos[0]) : 0.0, pos[1] ? double(pos_marked[1]) / double(pos[1]) : 0.0,
                  pos[2] ? double(pos_marked[2]) / double(pos[2]) : 0.0,
                  sum[2].images ? double(marked[2]) / double(sum[2].images) : 0.0);
    out << buf;
  }
  return out.str();
}

struct Slot {
  std::vector<uint8_t> image;
  std::vector<uint16_t> mask;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

ShortcutSpec parse_shortcut_spec(const std::string& text) {
  const std::string hint = "write --shortcut CLASS:P[:PLACE], e.g. --shortcut Pneumothorax:0.9:top-left";
  auto parts = split(text, ':');
  if (parts.size() < 2 || parts.size() > 3)
    throw UserError("--shortcut '" + text + "' must have 2 or 3 ':'-separated parts", hint);
  ShortcutSpec s;
  s.text = text;
  const std::string cls(trim(parts[0]));
  auto idx = class_index(cls);
  if (!idx)
    throw UserError("--shortcut '" + text + "': unknown class '" + cls + "' (did you mean '" +
                        nearest(cls, class_names()) + "'?)",
                    "classes are spelled as NIH does: " + join(class_names(), ", "));
  s.cls = *idx;
  const std::string prob(trim(parts[1]));
  try {
    s.probability = parse_double(prob);
  } catch (const std::exception&) {
    throw UserError("--shortcut '" + text + "': probability '" + prob + "' is not a number", hint);
  }
  if (!(s.probability >= 0.0 && s.probability <= 1.0))
    throw UserError("--shortcut '" + text + "': probability " + prob + " is outside [0, 1]", hint);
  if (parts.size() == 3) {
    const std::string place(trim(parts[2]));
    auto pl = parse_shortcut_place(place);
    if (!pl) {
      std::vector<std::string> names;
      for (int i = 0; i < kNumShortcutPlaces; ++i) names.push_back(shortcut_place_name(static_cast<ShortcutPlace>(i)));
      throw UserError("--shortcut '" + text + "': unknown place '" + place + "' (did you mean '" + nearest(place, names) +
                          "'?)",
                      "places: " + shortcut_place_names());
    }
    s.place = *pl;
  }
  return s;
}

SynthPlan plan_synth(const SynthOptions& o) {
  if (o.findings != "nih" && o.findings != "independent")
    throw UserError("--findings '" + o.findings + "' is not nih or independent",
                    "nih: NIH's co-occurring findings (default); independent: the same prevalences, no co-occurrence");
  if (!(o.label_noise >= 0 && o.label_noise <= 5))
    throw UserError("--label-noise " + std::to_string(o.label_noise) + " is outside 0-5",
                    "1 applies the documented per-class rates; 0 switches the noise off");
  if (o.n < 1 || o.n > 100000000) throw UserError("--n must be between 1 and 100,000,000, got " + std::to_string(o.n));
  if (o.size < 32 || o.size > 4096) throw UserError("--size must be between 32 and 4096, got " + std::to_string(o.size));
  if (!(o.val_fraction >= 0 && o.test_fraction >= 0 && o.val_fraction + o.test_fraction < 1))
    throw UserError("--val-fraction and --test-fraction must be >= 0 and sum to less than 1",
                    "they are fractions of patients; the rest is train");
  if (o.shortcuts.size() > static_cast<size_t>(kMaxShortcuts))
    throw UserError("at most " + std::to_string(kMaxShortcuts) + " --shortcut specs (one bit each in `shortcut`)");
  SynthPlan plan;
  std::set<int> places;
  for (const auto& text : o.shortcuts) {
    plan.shortcuts.push_back(parse_shortcut_spec(text));
    if (!places.insert(static_cast<int>(plan.shortcuts.back().place)).second)
      throw UserError("--shortcut '" + text + "' uses the place '" + shortcut_place_name(plan.shortcuts.back().place) +
                          "' of an earlier spec",
                      "give each shortcut its own place (" + shortcut_place_names() + ")");
  }

  // Patients: NIH-shaped sizes in a seeded order; ids 1..P in that order.
  std::vector<int> sizes = patient_sizes(o.n);
  deterministic_shuffle(sizes, mix_seed(o.seed, 0x9a7));
  std::vector<Patient> patients(sizes.size());
  uint64_t demo_state = mix_seed(o.seed, 0xde30);
  const int64_t n_patients = static_cast<int64_t>(patients.size());
  const int64_t n_test = std::llround(static_cast<double>(n_patients) * o.test_fraction);
  const int64_t n_val = std::llround(static_cast<double>(n_patients) * o.val_fraction);
  for (size_t i = 0; i < patients.size(); ++i) {
    Patient& p = patients[i];
    p.id = static_cast<int32_t>(i + 1);
    p.images = sizes[i];
    p.group = nih_patient_group(p.images);
    sample_demographics(p, demo_state);
    p.anatomy = sample_anatomy(p.sex, p.age0, mix_seed(o.seed, 0xa0000000ULL + static_cast<uint64_t>(p.id)));
    // The shuffled order is random, so the first patients make a random test set, then val.
    const auto k = static_cast<int64_t>(i);
    p.split = k < n_test ? Split::kTest : (k < n_test + n_val ? Split::kVal : Split::kTrain);
  }

  // Findings per patient group, handed out in patient order.
  std::array<int64_t, kNihPatientGroups> group_images{};
  for (const auto& p : patients) group_images[static_cast<size_t>(p.group)] += p.images;
  std::array<std::vector<Finding>, kNihPatientGroups> findings;
  for (int g = 0; g < kNihPatientGroups; ++g)
    findings[static_cast<size_t>(g)] =
        sample_findings(g, group_images[static_cast<size_t>(g)], mix_seed(o.seed, 0x6000 + static_cast<uint64_t>(g)));
  std::array<size_t, kNihPatientGroups> next{};

  std::vector<SynthRecord> records;
  records.reserve(static_cast<size_t>(o.n));
  for (const auto& p : patients) {
    for (int f = 0; f < p.images; ++f) {
      const Finding& fd = findings[static_cast<size_t>(p.group)][next[static_cast<size_t>(p.group)]++];
      SynthRecord r;
      r.split = p.split;
      SampleMeta& m = r.meta;
      m.image_index = image_name(p.id, f);
      for (int c = 0; c < kNumClasses; ++c) m.labels[c] = static_cast<uint8_t>(fd.labels >> c & 1);
      m.patient_id = p.id;
      const double frac = p.images > 1 ? static_cast<double>(f) / (p.images - 1) : 0.0;
      m.age = static_cast<int16_t>(std::min(95, p.age0 + static_cast<int>(p.span * frac)));
      m.sex = p.sex;
      m.view = fd.view;
      m.follow_up = f;
      m.orig_size = {o.size, o.size};
      const float spacing = static_cast<float>(kFieldOfViewMm / o.size);
      m.pixel_spacing = {spacing, spacing};
      r.phantom.labels = m.labels;
      r.phantom.sex = m.sex;
      r.phantom.age = m.age;
      r.phantom.view = m.view;
      r.phantom.anatomy = p.anatomy;
      r.render_seed = mix_seed(o.seed, (static_cast<uint64_t>(p.id) << 16) | static_cast<uint64_t>(f));
      records.push_back(std::move(r));
    }
  }
  if (o.findings == "independent") {
    // The view and each class's labels permuted on their own over all films (streams of their own, so the
    // default draws are untouched): every count stays, every link between columns goes, including the one
    // through the patient groups (patients with many films are both sicker and more often AP).
    std::vector<int8_t> views(records.size());
    for (size_t i = 0; i < records.size(); ++i) views[i] = records[i].meta.view;
    deterministic_shuffle(views, mix_seed(o.seed, 0x1d0));
    for (size_t i = 0; i < records.size(); ++i) records[i].meta.view = records[i].phantom.view = views[i];
    for (int c = 0; c < kNumClasses; ++c) {
      std::vector<uint8_t> column(records.size());
      for (size_t i = 0; i < records.size(); ++i) column[i] = records[i].meta.labels[c];
      deterministic_shuffle(column, mix_seed(o.seed, 0x1d1 + static_cast<uint64_t>(c)));
      for (size_t i = 0; i < records.size(); ++i) records[i].meta.labels[c] = records[i].phantom.labels[c] = column[i];
    }
  }
  std::stable_sort(records.begin(), records.end(), [](const SynthRecord& a, const SynthRecord& b) {
    if (a.split != b.split) return a.split < b.split;
    return a.meta.image_index < b.meta.image_index;
  });

  // Shortcut markers: train/val by class, then test independently at the train marker rate.
  std::array<int64_t, kMaxShortcuts> train_marked{};
  int64_t train_count = 0;
  auto draw = [&](const SynthRecord& r, size_t s) {
    uint64_t st = mix_seed(mix_seed(o.seed, 0x5c00 + s), r.render_seed);
    return unit_uniform(st);
  };
  for (auto& r : records) {
    if (r.split == Split::kTest) continue;
    for (size_t s = 0; s < plan.shortcuts.size(); ++s) {
      const ShortcutSpec& sc = plan.shortcuts[s];
      if (r.meta.labels[sc.cls] && draw(r, s) < sc.probability) r.shortcut |= static_cast<uint8_t>(1u << s);
    }
    if (r.split == Split::kTrain) {
      ++train_count;
      for (size_t s = 0; s < plan.shortcuts.size(); ++s) train_marked[s] += r.shortcut >> s & 1;
    }
  }
  for (size_t s = 0; s < plan.shortcuts.size(); ++s)
    plan.train_marker_rate[s] = train_count ? static_cast<double>(train_marked[s]) / static_cast<double>(train_count) : 0.0;
  for (auto& r : records) {
    if (r.split != Split::kTest) continue;
    for (size_t s = 0; s < plan.shortcuts.size(); ++s)
      if (draw(r, s) < plan.train_marker_rate[s]) r.shortcut |= static_cast<uint8_t>(1u << s);
  }
  if (o.label_noise > 0) {
    const auto& rates = label_noise_rates();
    auto truth_any = [](const SampleMeta& m, std::initializer_list<const char*> names) {
      for (const char* n : names)
        if (m.labels[static_cast<size_t>(*class_index(n))]) return int8_t{1};
      return int8_t{0};
    };
    for (auto& r : records) {
      SampleMeta& m = r.meta;  // still the truth here: the films are rendered from r.phantom
      m.expert_labels = {-1, truth_any(m, {"Pneumothorax"}), truth_any(m, {"Consolidation", "Infiltration", "Pneumonia"}),
                         truth_any(m, {"Nodule", "Mass"})};
      uint64_t st = mix_seed(mix_seed(o.seed, 0x7a00), r.render_seed);
      for (int c = 0; c < kNumClasses; ++c) {
        const double u = unit_uniform(st);
        const auto& rate = rates[static_cast<size_t>(c)];
        if (m.labels[c] && u < std::min(0.9, o.label_noise * rate.miss)) m.labels[c] = 0;
        else if (!m.labels[c] && u < std::min(0.9, o.label_noise * rate.false_positive)) m.labels[c] = 1;
      }
    }
  }
  plan.records = std::move(records);
  return plan;
}

const std::array<LabelNoiseRate, kNumClasses>& label_noise_rates() {
  // Text mining misses hedged, faint or unreported findings more than it invents them; the rates follow the
  // order of the per-class NLP precision and recall Wang et al. (2017, Table 2) report, vague classes
  // (Infiltration, Pneumonia, Consolidation, Nodule) the noisiest, crisp ones (Cardiomegaly, Emphysema,
  // Hernia, Pneumothorax) the cleanest. At --label-noise 1 a class loses 5-20 % of its positives and gains
  // 0.05-3 % of its negatives.
  static const std::array<LabelNoiseRate, kNumClasses> rates = {{{0.10, 0.010},    // Atelectasis
                                                                  {0.05, 0.003},   // Cardiomegaly
                                                                  {0.12, 0.008},   // Consolidation
                                                                  {0.08, 0.004},   // Edema
                                                                  {0.06, 0.010},   // Effusion
                                                                  {0.05, 0.002},   // Emphysema
                                                                  {0.10, 0.003},   // Fibrosis
                                                                  {0.05, 0.0005},  // Hernia
                                                                  {0.15, 0.030},   // Infiltration
                                                                  {0.10, 0.006},   // Mass
                                                                  {0.12, 0.008},   // Nodule
                                                                  {0.12, 0.005},   // Pleural_Thickening
                                                                  {0.20, 0.006},   // Pneumonia
                                                                  {0.05, 0.004}}};  // Pneumothorax
  return rates;
}

SynthResult run_synth(const SynthOptions& o_in) {
  SynthOptions o = o_in;
  if (o.out.empty()) throw UserError("--out is required", "pass --out DIR (the pack folder to create)");
  if (o.shard_size < 1) throw UserError("--shard-size must be >= 1");
  if (o.compression < 0 || o.compression > 9) throw UserError("--compression must be 0 (none) to 9");
  if (o.jobs <= 0) o.jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (fs::exists(o.out) && !o.overwrite)
    throw UserError("output '" + o.out + "' already exists", "pass --overwrite to replace it, or choose another --out");
  const SynthPlan plan = plan_synth(o);
  const auto& records = plan.records;
  SynthResult result;
  result.jobs = o.jobs;

  // Shards: near-equal parts of at most shard_size per split.
  Manifest manifest;
  manifest.schema = kPackSchema;
  manifest.source = "phantom";
  manifest.classes = class_names();
  manifest.image_size = o.size;
  struct Task {
    size_t record;
    int split, shard;
    int64_t row;
  };
  std::vector<Task> tasks;
  {
    std::vector<SampleMeta> rows;
    std::vector<Split> split_of;
    for (const auto& r : records) {
      rows.push_back(r.meta);
      split_of.push_back(r.split);
    }
    auto sum = summarize(rows, split_of);
    size_t first = 0;
    for (int s = 0; s < 3; ++s) {
      SplitManifest sm;
      sm.name = kSplitNames[s];
      sm.count = sum[s].images;
      sm.patients = sum[s].patients;
      sm.positives = sum[s].positives;
      const int64_t n = sm.count;
      const int64_t k = n == 0 ? 0 : (n + o.shard_size - 1) / o.shard_size;
      for (int64_t sh = 0; sh < k; ++sh) {
        const int64_t begin = sh * n / k, end = (sh + 1) * n / k;
        sm.shards.push_back(shard_file_name(sm.name, static_cast<int>(sh), static_cast<int>(k)));
        sm.shard_rows.push_back(end - begin);
        for (int64_t r = begin; r < end; ++r) tasks.push_back({first + static_cast<size_t>(r), s, static_cast<int>(sh), r - begin});
      }
      first += static_cast<size_t>(n);
      manifest.splits.push_back(std::move(sm));
    }
  }

  const size_t pixels = static_cast<size_t>(o.size) * static_cast<size_t>(o.size);
  fs::path staging = make_staging_dir(o.out);
  try {
    std::vector<Slot> slots(static_cast<size_t>(8 * o.jobs));
    for (auto& sl : slots) {
      sl.image.resize(pixels);
      sl.mask.resize(pixels);
    }
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = process_cpu_seconds();
    ProgressBar bar(static_cast<int64_t>(tasks.size()), "synth", "img", o.progress);
    std::unique_ptr<ShardWriter> writer;
    int open_split = 0, open_shard = 0;  // of `writer`
    std::vector<SampleMeta> shard_meta;
    std::vector<uint8_t> shard_shortcut;
    auto close_shard = [&] {
      if (writer) {
        writer->finish(shard_meta, {}, shard_shortcut);
        SplitManifest& written = manifest.splits[static_cast<size_t>(open_split)];
        written.shard_sha256.resize(written.shards.size());
        written.shard_sha256[static_cast<size_t>(open_shard)] = writer->sha256();
      }
      writer.reset();
      shard_meta.clear();
      shard_shortcut.clear();
    };
    run_ordered(
        tasks.size(), o.jobs, slots,
        [&](size_t t, Slot& sl) {
          const SynthRecord& r = records[tasks[t].record];
          render_phantom(r.phantom, o.params, r.render_seed, o.size, sl.image.data(), sl.mask.data());
          for (size_t s = 0; s < plan.shortcuts.size(); ++s)
            if (r.shortcut >> s & 1)
              draw_shortcut_marker(sl.image.data(), o.size, plan.shortcuts[s].place, static_cast<int>(s), sl.mask.data());
        },
        [&](size_t t, Slot& sl) {
          const Task& task = tasks[t];
          if (task.row == 0) {
            close_shard();
            const SplitManifest& sm = manifest.splits[static_cast<size_t>(task.split)];
            open_split = task.split;
            open_shard = task.shard;
            ShardOptions so = shard_options(sm, static_cast<size_t>(task.shard), o.size, o.compression);
            so.lesion_mask = true;
            so.shortcut = true;
            so.expert_labels = o.label_noise > 0;
            so.source = "phantom";
            writer = std::make_unique<ShardWriter>((staging / sm.shards[static_cast<size_t>(task.shard)]).string(), so);
          }
          writer->write_image(task.row, sl.image.data());
          writer->write_lesion_mask(task.row, sl.mask.data());
          const SynthRecord& r = records[task.record];
          shard_meta.push_back(r.meta);
          shard_shortcut.push_back(r.shortcut);
          bar.advance();
        });
    close_shard();
    bar.finish();
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.images = static_cast<int64_t>(tasks.size());
    result.images_per_second = result.seconds > 0 ? static_cast<double>(result.images) / result.seconds : 0;
    result.cpu_seconds = process_cpu_seconds() - cpu_start;
    result.images_per_cpu_second = result.cpu_seconds > 0 ? static_cast<double>(result.images) / result.cpu_seconds : 0;

    // Provenance: nothing that depends on --jobs or timing, so equal seeds give equal manifests
    // (up to the recorded command line).
    json prov;
    prov["tool"] = {{"name", "cxrtrain"}, {"version", CXR_VERSION}};
    prov["command_line"] = o.command_line;
    prov["options"] = {{"n", o.n},
                       {"size", o.size},
                       {"seed", o.seed},
                       {"val_fraction", o.val_fraction},
                       {"test_fraction", o.test_fraction},
                       {"split_unit", "patient"},
                       {"shard_size", o.shard_size},
                       {"compression", o.compression},
                       {"label_noise", o.label_noise},
                       {"findings", o.findings}};
    if (o.label_noise > 0) {
      json rates = json::object();
      for (int c = 0; c < kNumClasses; ++c)
        rates[kClassNames[c]] = {{"miss", o.label_noise * label_noise_rates()[static_cast<size_t>(c)].miss},
                                 {"false_positive", o.label_noise * label_noise_rates()[static_cast<size_t>(c)].false_positive}};
      prov["label_noise"] = {{"scale", o.label_noise},
                             {"rates", rates},
                             {"labels", "noisy, as text mining makes them; the films show the truth"},
                             {"expert_labels", "the truth: Fracture not reviewed (-1), Pneumothorax, Airspace opacity = "
                                               "Consolidation | Infiltration | Pneumonia, Nodule or mass = Nodule | Mass"}};
    }
    prov["generator"] = json::parse(o.params.to_json());
    prov["phantom"] = {
        {"lesion_mask", "bit j set where class j's lesion changes the noise-free image by more than "
                        "mask_threshold_grey grey levels; anatomy-changing classes (Cardiomegaly, Emphysema, "
                        "Atelectasis' raised dome) mark where the anatomy differs from the disease-free patient"},
        {"radiograph_convention", "dense = bright: bone, heart, mediastinum and abdomen bright, aerated lung dark, "
                                  "the unattenuated area outside the body darkest (as on NIH films)"},
        {"pixel_spacing", "nominal: a " + std::to_string(static_cast<int>(kFieldOfViewMm)) +
                              " mm field over the image side; orig_size is the rendered size"},
        {"markers", "L/R lead marker, AP 'PORTABLE'/'AP'/'SUPINE' tags and ECG electrodes are part of the films "
                    "(AP correlates with disease as in NIH); they are never in lesion_mask"}};
    prov["shortcuts"] = shortcut_json(plan);
    prov["shortcut_encoding"] =
        "shortcut[i] bit s = the marker of shortcuts[s] is drawn on image i (exact). Train/val: "
        "P(marker | CLASS) = P, P(marker | not CLASS) = 0; test: P(marker) = train marker rate, independent of CLASS";
    prov["nih_statistics"] = json::parse(nih_stats_provenance_json());
    prov["label_sampling"] =
        "images-per-patient quota from NIH; sex and age at the first image per patient group; (view, 14 labels) by "
        "systematic sampling of NIH's joint counts per patient group (1, 2-3, 4-10, 11-30, 31+ images), runs of "
        "repeated findings within patients at NIH's repeat probability" +
        std::string(o.findings == "independent"
                        ? "; findings=independent: then the view and each class's labels permuted separately over all "
                          "films (every count kept; co-occurrence, the view-disease link and repeated findings removed)"
                        : "");
    atomic_write_file(staging / "manifest.json", manifest_json(manifest, prov.dump()));
    commit_dir(staging, o.out, o.overwrite);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(staging, ec);
    throw;
  }
  result.summary = summary_table(plan);
  return result;
}

// ---------------------------------------------------------------------------------------------

std::string render_gallery(const std::string& png_path, int size, uint64_t seed) {
  if (size < 64 || size > 1024) throw UserError("gallery tile size must be between 64 and 1024, got " + std::to_string(size));
  const PhantomParams params = default_phantom_params();
  const int cols = 4, tiles = kNumClasses + 2;
  const int rows = (tiles + cols - 1) / cols;
  cv::Mat grid(rows * size, cols * size, CV_8UC3, cv::Scalar(0, 0, 0));
  std::vector<uint8_t> img(static_cast<size_t>(size) * size);
  std::vector<uint16_t> mask(img.size());
  const double font = 0.4 * size / 256.0;
  const int thick = std::max(1, size / 256);
  for (int t = 0; t < tiles; ++t) {
    // Tile 0: a normal film; 1..14: one class each; last: a normal film with a shortcut marker.
    const int cls = t >= 1 && t <= kNumClasses ? t - 1 : -1;
    PhantomCase c;
    c.sex = t % 2 ? kSexFemale : kSexMale;
    c.age = static_cast<int16_t>(35 + (t * 7) % 40);
    c.view = kViewPA;
    c.anatomy = sample_anatomy(c.sex, c.age, mix_seed(seed, 0x6a1 + static_cast<uint64_t>(t)));
    if (cls >= 0) c.labels[cls] = 1;
    render_phantom(c, params, mix_seed(seed, static_cast<uint64_t>(t)), size, img.data(), mask.data());
    std::string title = cls >= 0 ? kClassNames[cls] : "No Finding";
    if (t == tiles - 1) {
      draw_shortcut_marker(img.data(), size, ShortcutPlace::kTopLeft, 0, mask.data());
      title = "shortcut marker (top-left)";
    }
    cv::Mat grey(size, size, CV_8U, img.data()), tile;
    cv::cvtColor(grey, tile, cv::COLOR_GRAY2BGR);
    if (cls >= 0) {
      cv::Mat m(size, size, CV_8U);
      for (size_t i = 0; i < img.size(); ++i) m.data[i] = (mask[i] >> cls & 1) ? 255 : 0;
      std::vector<std::vector<cv::Point>> contours;
      cv::findContours(m, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_NONE);
      cv::drawContours(tile, contours, -1, cv::Scalar(40, 200, 255), thick);  // amber outline
    }
    const cv::Point at(6, size - 8);
    cv::putText(tile, title, at + cv::Point(1, 1), cv::FONT_HERSHEY_SIMPLEX, font, cv::Scalar(0, 0, 0), thick + 1,
                cv::LINE_AA);
    cv::putText(tile, title, at, cv::FONT_HERSHEY_SIMPLEX, font, cv::Scalar(80, 255, 80), thick, cv::LINE_AA);
    tile.copyTo(grid(cv::Rect((t % cols) * size, (t / cols) * size, size, size)));
  }
  const fs::path path(png_path);
  if (path.has_parent_path() && !fs::exists(path.parent_path()))
    throw UserError("folder of --gallery '" + png_path + "' does not exist", "create it first");
  // imwrite picks the format from the extension, so the temporary name keeps it.
  const fs::path tmp = path.parent_path() / (".tmp." + std::to_string(::getpid()) + "." + path.filename().string());
#if CXR_HAVE_IMGCODECS
  if (!cv::imwrite(tmp.string(), grid)) throw UserError("could not write '" + png_path + "'", "use a .png file name");
#else
  throw UserError("cannot write '" + png_path + "': this cxrtrain was built without OpenCV's imgcodecs",
                  "leave out --gallery here, or make the gallery on a machine whose OpenCV has imgcodecs");
#endif
  fs::rename(tmp, path);
  return "wrote " + png_path + ": " + std::to_string(tiles) + " films of " + std::to_string(size) +
         " px (normal, the 14 classes with their lesion masks outlined, a shortcut marker)";
}

}  // namespace cxr::data
