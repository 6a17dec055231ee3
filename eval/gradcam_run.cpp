// `cxrtrain gradcam` (see gradcam_run.h).
#include "eval/gradcam_run.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#if CXR_HAVE_IMGCODECS
#include <opencv2/imgcodecs.hpp>
#endif
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <numeric>
#include <optional>
#include <exception>
#include <unordered_map>

#include "comm/communicator.h"
#include "comm/root_only.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/progress.h"
#include "core/random.h"
#include "core/run_dir.h"
#include "data/classes.h"
#include "data/pack_reader.h"
#include "data/phantom.h"
#include "data/phantom_replay.h"
#include "data/preprocess.h"
#include "eval/auroc.h"
#include "eval/cam_overlay.h"
#include "eval/cam_stats.h"
#include "eval/gradcam.h"
#include "eval/predictions.h"
#include "trainer/checkpoint.h"
#include "trainer/model_setup.h"

namespace cxr::eval {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

constexpr int K = data::kNumClasses;
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

constexpr const char* kReminder =
    "Grad-CAM shows where evidence for a class is associated with the prediction, not what causes it: a plausible "
    "map is not proof of valid reasoning (the interpretability trap). The causal test changes the film and "
    "measures the prediction.";
constexpr double kSanityThreshold = 0.5;            // mean Spearman rho below this once layer4 is randomised
constexpr double kPointingTolerance = 15.0 / 224;   // Zhang et al.'s 15 px at 224 px, as a fraction of the side
constexpr double kBoxFraction = 0.5;                // a map's box: pixels >= half its maximum

json ci_json(const std::array<double, 2>& ci) {
  if (!std::isfinite(ci[0]) || !std::isfinite(ci[1])) return nullptr;
  return json::array({ci[0], ci[1]});
}
json num_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
double mean_of(const std::vector<double>& v) {
  return v.empty() ? std::nan("") : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// The chosen images of one class, by kind.
struct Selection {
  std::vector<int64_t> tp, fp, fn;  // split rows, in display order
  std::vector<int64_t> all() const {
    std::vector<int64_t> v = tp;
    v.insert(v.end(), fp.begin(), fp.end());
    v.insert(v.end(), fn.begin(), fn.end());
    return v;
  }
};

// TPs and FPs highest score first, FNs lowest first (the most confident misses); ties in a seeded order. Quotas:
// half the budget TPs, a quarter FPs, the rest FNs; a short group's share goes to the others in that order.
Selection select_images(const std::vector<double>& p, const std::vector<data::SampleMeta>& meta, int cls,
                        double threshold, int budget, uint64_t seed) {
  std::vector<int64_t> tp, fp, fn;
  const auto n = static_cast<int64_t>(meta.size());
  for (int64_t i = 0; i < n; ++i) {
    const double s = p[static_cast<size_t>(i * K + cls)];
    const bool pos = meta[static_cast<size_t>(i)].labels[static_cast<size_t>(cls)] != 0;
    if (pos && s >= threshold) tp.push_back(i);
    else if (!pos && s >= threshold) fp.push_back(i);
    else if (pos) fn.push_back(i);
  }
  auto order = [&](std::vector<int64_t>& v, bool descending) {
    std::vector<uint64_t> tie(static_cast<size_t>(n));
    for (int64_t i : v) tie[static_cast<size_t>(i)] = mix_seed(seed, std::hash<std::string>{}(meta[static_cast<size_t>(i)].image_index));
    std::sort(v.begin(), v.end(), [&](int64_t a, int64_t b) {
      const double sa = p[static_cast<size_t>(a * K + cls)], sb = p[static_cast<size_t>(b * K + cls)];
      if (sa != sb) return descending ? sa > sb : sa < sb;
      return tie[static_cast<size_t>(a)] < tie[static_cast<size_t>(b)];
    });
  };
  order(tp, true);
  order(fp, true);
  order(fn, false);
  std::array<size_t, 3> quota = {static_cast<size_t>(budget / 2), static_cast<size_t>(budget / 4), 0};
  quota[2] = static_cast<size_t>(budget) - quota[0] - quota[1];
  std::array<size_t, 3> have = {tp.size(), fp.size(), fn.size()}, take{};
  size_t spare = 0;
  for (int g = 0; g < 3; ++g) {
    take[g] = std::min(quota[g], have[g]);
    spare += quota[g] - take[g];
  }
  for (int g = 0; g < 3 && spare > 0; ++g) {
    const size_t more = std::min(spare, have[g] - take[g]);
    take[g] += more;
    spare -= more;
  }
  Selection s;
  s.tp.assign(tp.begin(), tp.begin() + static_cast<std::ptrdiff_t>(take[0]));
  s.fp.assign(fp.begin(), fp.begin() + static_cast<std::ptrdiff_t>(take[1]));
  s.fn.assign(fn.begin(), fn.begin() + static_cast<std::ptrdiff_t>(take[2]));
  return s;
}

// The split's films as model input, [n,1,T,T] float, for the given rows.
torch::Tensor load_inputs(const data::PackSplit& split, const data::Preprocessor& pre, const std::vector<int64_t>& rows) {
  const int S = split.image_size(), T = pre.output_size();
  torch::Tensor x = torch::empty({static_cast<int64_t>(rows.size()), 1, T, T}, torch::kFloat32);
  std::vector<uint8_t> img(static_cast<size_t>(S) * S);
  for (size_t i = 0; i < rows.size(); ++i) {
    split.read_image(rows[i], img.data());
    pre.run(img.data(), x[static_cast<int64_t>(i)].data_ptr<float>());
  }
  return x;
}

torch::Tensor inputs_from_films(const std::vector<std::vector<uint8_t>>& films, const data::Preprocessor& pre) {
  const int T = pre.output_size();
  torch::Tensor x = torch::empty({static_cast<int64_t>(films.size()), 1, T, T}, torch::kFloat32);
  for (size_t i = 0; i < films.size(); ++i) pre.run(films[i].data(), x[static_cast<int64_t>(i)].data_ptr<float>());
  return x;
}

struct Runner {
  trainer::ResNet& model;
  torch::Device device;
  c10::MemoryFormat format;
  int batch;
  int stage;
  // Grad-CAM of x in batches.
  Cams cams(const torch::Tensor& x, bool force_autograd = false) {
    std::vector<torch::Tensor> maps, linear, logits;
    bool one_pass = false;
    for (int64_t b = 0; b < x.size(0); b += batch) {
      const torch::Tensor xb = x.slice(0, b, std::min<int64_t>(x.size(0), b + batch)).to(device).contiguous(format);
      Cams c = grad_cam(model, xb, stage, force_autograd);
      maps.push_back(c.maps);
      linear.push_back(c.linear);
      logits.push_back(c.logits);
      one_pass = c.one_pass;
    }
    Cams out;
    out.maps = torch::cat(maps, 0);
    out.linear = torch::cat(linear, 0);
    out.logits = torch::cat(logits, 0);
    out.one_pass = one_pass;
    return out;
  }
  // Probabilities [n,14] float64 of x, no maps.
  torch::Tensor probabilities(const torch::Tensor& x) {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> out;
    for (int64_t b = 0; b < x.size(0); b += batch) {
      const torch::Tensor xb = x.slice(0, b, std::min<int64_t>(x.size(0), b + batch)).to(device).contiguous(format);
      out.push_back(torch::sigmoid(model->forward(xb).to(torch::kCPU, torch::kFloat64)));
    }
    return torch::cat(out, 0);
  }
};

// One class's map of one image, upsampled to the film's side.
std::vector<float> film_map(const torch::Tensor& maps, int64_t i, int cls, int size) {
  const torch::Tensor m = maps[i][cls].contiguous();
  return upsample_bilinear(m.data_ptr<float>(), static_cast<int>(m.size(0)), static_cast<int>(m.size(1)), size);
}

// The map's peak at its own resolution (first on ties), as the centre of that cell in film pixels: the peak
// of a bilinear upsampling is a plateau reaching the border for edge cells, its cell centre is not.
std::array<double, 2> peak_point(const torch::Tensor& maps, int64_t i, int cls, int size) {
  const torch::Tensor m = maps[i][cls].contiguous();
  const int h = static_cast<int>(m.size(0)), w = static_cast<int>(m.size(1));
  const float* d = m.data_ptr<float>();
  const auto best = static_cast<int>(std::max_element(d, d + h * w) - d);
  return {(best % w + 0.5) * size / w, (best / w + 0.5) * size / h};
}

bool near_target(const std::array<double, 2>& pt, const std::vector<uint8_t>& target, int size, double tol) {
  const int x0 = std::max(0, static_cast<int>(std::floor(pt[0] - tol - 1))), x1 = std::min(size - 1, static_cast<int>(pt[0] + tol + 1));
  const int y0 = std::max(0, static_cast<int>(std::floor(pt[1] - tol - 1))), y1 = std::min(size - 1, static_cast<int>(pt[1] + tol + 1));
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x)
      if (target[static_cast<size_t>(y) * size + x] && std::hypot(x + 0.5 - pt[0], y + 0.5 - pt[1]) <= tol) return true;
  return false;
}

// Copies the named parameters and buffers of `from` whose names start with one of `prefixes` into `to`.
void copy_modules(trainer::ResNet& to, trainer::ResNet& from, const std::vector<std::string>& prefixes) {
  torch::NoGradGuard no_grad;
  auto src_p = from->named_parameters(true), src_b = from->named_buffers(true);
  auto starts = [&](const std::string& name) {
    for (const auto& p : prefixes)
      if (name.rfind(p, 0) == 0) return true;
    return false;
  };
  for (auto& kv : to->named_parameters(true))
    if (starts(kv.key())) kv.value().copy_(src_p[kv.key()]);
  for (auto& kv : to->named_buffers(true))
    if (starts(kv.key())) kv.value().copy_(src_b[kv.key()]);
}

// The whole pass, on rank 0.
json gradcam_on_root(const Config& cfg, int local_rank, const GradcamOptions& o, std::string* out_dir) {

  const auto t_start = Clock::now();
  if (o.per_class < 1) throw UserError("--per-class must be >= 1, got " + std::to_string(o.per_class));
  if (o.deletion_steps < 1) throw UserError("--deletion-steps must be >= 1, got " + std::to_string(o.deletion_steps));
  if (o.deletion_images < 0) throw UserError("--deletion-images must be >= 0 (0 skips the deletion curves)");
  if (o.sanity_images < 1) throw UserError("--sanity-images must be >= 1, got " + std::to_string(o.sanity_images));
  if (o.overlay_columns < 1) throw UserError("--overlay-columns must be >= 1, got " + std::to_string(o.overlay_columns));
  if (o.bootstrap < 100) throw UserError("--bootstrap must be >= 100 for a 95 % interval, got " + std::to_string(o.bootstrap));
  if (o.counterfactual_images < 0) throw UserError("--counterfactual-images must be >= 0 (0 = the whole split)");
  if (o.lesion_images < 0) throw UserError("--lesion-images must be >= 0 (0 skips the lesion-removal test)");
  const int stage = cam_stage(o.layer);
  const std::string split_name = cfg.eval.split;
  const fs::path eval_dir = fs::path(o.run_dir) / "eval" / split_name;
  const fs::path metrics_path = eval_dir / "metrics.json", predictions_path = eval_dir / "predictions.csv";
  if (!fs::exists(metrics_path) || !fs::exists(predictions_path))
    throw UserError(eval_dir.string() + " has no finished evaluation (metrics.json and predictions.csv)",
                    "run `cxrtrain evaluate --run " + o.run_dir + "` first: its predictions choose the images");
  json metrics;
  try {
    metrics = json::parse(read_text_file(metrics_path));
  } catch (const json::exception& e) {
    throw UserError(metrics_path.string() + ": not valid JSON (" + e.what() + ")", "rerun cxrtrain evaluate");
  }
  std::string checkpoint = o.checkpoint;
  if (checkpoint.empty()) {
    const json* c = metrics.contains("model") ? &metrics["model"] : nullptr;
    if (!c || !(*c).contains("checkpoint") || !(*c)["checkpoint"].is_string())
      throw UserError(metrics_path.string() + ": /model/checkpoint is missing", "rerun cxrtrain evaluate, or pass --checkpoint");
    checkpoint = (*c)["checkpoint"].get<std::string>();
    // The run's own copy first: the recorded path may be relative to where evaluate ran, or the run was moved.
    // The probabilities are compared with predictions.csv below, so a wrong model cannot pass unnoticed.
    const fs::path own = fs::path(o.run_dir) / "checkpoints" / fs::path(checkpoint).filename();
    if (fs::exists(own)) checkpoint = own.string();
  }
  checkpoint = run_checkpoint(o.run_dir, checkpoint);

  // The evaluated images and their probabilities, matched to the split's rows.
  const data::PackSplit split(cfg.data.pack, split_name);
  const PredictionRows rows = read_predictions(predictions_path.string());
  std::unordered_map<std::string, int64_t> row_of;
  for (int64_t r = 0; r < split.size(); ++r) row_of.emplace(split.meta()[static_cast<size_t>(r)].image_index, r);
  std::vector<double> p(static_cast<size_t>(split.size()) * K, std::nan(""));
  std::vector<uint8_t> scored(static_cast<size_t>(split.size()), 0);
  for (size_t i = 0; i < rows.image_index.size(); ++i) {
    auto it = row_of.find(rows.image_index[i]);
    if (it == row_of.end())
      throw UserError(predictions_path.string() + ":" + std::to_string(rows.line.empty() ? 0 : rows.line[i]) + ": image '" +
                          rows.image_index[i] + "' is not in split '" + split_name + "' of " + cfg.data.pack,
                      "the evaluation was made on another pack; rerun cxrtrain evaluate");
    std::copy_n(rows.probability.begin() + static_cast<std::ptrdiff_t>(i * K), K,
                p.begin() + static_cast<std::ptrdiff_t>(it->second * K));
    scored[static_cast<size_t>(it->second)] = 1;
  }
  std::vector<data::SampleMeta> meta;  // the scored rows only (an --allow-partial evaluation scores part)
  std::vector<int64_t> meta_row;
  std::vector<double> meta_p;
  for (int64_t r = 0; r < split.size(); ++r)
    if (scored[static_cast<size_t>(r)]) {
      meta.push_back(split.meta()[static_cast<size_t>(r)]);
      meta_row.push_back(r);
      meta_p.insert(meta_p.end(), p.begin() + r * K, p.begin() + (r + 1) * K);
    }

  // Thresholds: the evaluation's operating points (chosen on the threshold split), else 0.5.
  std::array<double, K> threshold{};
  std::array<bool, K> threshold_chosen{};
  for (int c = 0; c < K; ++c) {
    threshold[c] = 0.5;
    const json* cls = metrics.contains("classes") && metrics["classes"].contains(data::kClassNames[c])
                          ? &metrics["classes"][data::kClassNames[c]] : nullptr;
    if (cls && cls->contains("threshold") && (*cls)["threshold"].is_number()) {
      threshold[c] = (*cls)["threshold"].get<double>();
      threshold_chosen[c] = true;
    }
  }

  // Images per class, and the union that gets maps.
  std::array<Selection, K> sel;
  std::vector<int64_t> union_rows;  // split rows
  std::unordered_map<int64_t, int64_t> slot_of;  // split row -> index into the union
  for (int c = 0; c < K; ++c) {
    Selection s = select_images(meta_p, meta, c, threshold[c], o.per_class, static_cast<uint64_t>(cfg.seed));
    for (auto* v : {&s.tp, &s.fp, &s.fn})
      for (int64_t& i : *v) {
        i = meta_row[static_cast<size_t>(i)];
        if (slot_of.emplace(i, static_cast<int64_t>(union_rows.size())).second) union_rows.push_back(i);
      }
    sel[c] = std::move(s);
  }
  spdlog::info("gradcam: {} images of split '{}' ({} per class at most: TPs, FPs, FNs), layer {}, checkpoint {}",
               union_rows.size(), split_name, o.per_class, o.layer, checkpoint);

  // The model, exactly as evaluated.
  const torch::Device device = trainer::pick_device(cfg, local_rank);
  trainer::ResNet model = trainer::build_model(cfg, device);
  trainer::load_model_state(checkpoint, *model);
  model->eval();
  const data::Preprocessor pre(split.image_size(), [&] {
    data::PreprocessOptions po = data::preprocess_options(cfg.data);
    po.augment = false;
    return po;
  }());
  Runner run{model, device, trainer::input_memory_format(cfg), std::max(1, cfg.eval.batch_size), stage};

  // Maps of every class for every chosen image.
  const auto t_cams = Clock::now();
  Cams cams;
  {
    ProgressBar bar(static_cast<int64_t>(union_rows.size()), "gradcam", "img", o.progress);
    std::vector<torch::Tensor> m, l, z;
    for (size_t b = 0; b < union_rows.size(); b += static_cast<size_t>(run.batch)) {
      const std::vector<int64_t> part(union_rows.begin() + static_cast<std::ptrdiff_t>(b),
                                      union_rows.begin() + static_cast<std::ptrdiff_t>(std::min(union_rows.size(), b + static_cast<size_t>(run.batch))));
      Cams c = run.cams(load_inputs(split, pre, part));
      m.push_back(c.maps);
      l.push_back(c.linear);
      z.push_back(c.logits);
      cams.one_pass = c.one_pass;
      bar.advance(static_cast<int64_t>(part.size()));
    }
    bar.finish();
    if (union_rows.empty()) throw UserError("no image was selected", "the split has no scored images");
    cams.maps = torch::cat(m, 0);
    cams.linear = torch::cat(l, 0);
    cams.logits = torch::cat(z, 0);
  }
  // The model must be the one that made the predictions.
  {
    const torch::Tensor prob = torch::sigmoid(cams.logits);
    double worst = 0;
    for (size_t i = 0; i < union_rows.size(); ++i)
      for (int c = 0; c < K; ++c)
        worst = std::max(worst, std::fabs(prob[static_cast<int64_t>(i)][c].item<double>() -
                                          p[static_cast<size_t>(union_rows[i] * K + c)]));
    if (worst > 1e-4)
      throw UserError("the model's probabilities differ from " + predictions_path.string() + " by up to " +
                          std::to_string(worst) + " on the chosen images",
                      "those predictions came from another checkpoint: rerun cxrtrain evaluate with this one, or pass "
                      "the evaluated --checkpoint");
  }
  const int S = split.image_size();
  const int64_t fh = cams.maps.size(2), fw = cams.maps.size(3);
  const double secs_cams = seconds_since(t_cams);

  // Regions and truth per chosen image.
  const bool phantom = split.manifest().source == "phantom";
  std::unique_ptr<data::PhantomReplay> replay;
  if (phantom) replay = std::make_unique<data::PhantomReplay>(cfg.data.pack);
  const RegionMap template_map = phantom ? RegionMap{} : template_regions(S);
  std::vector<RegionMap> regions(union_rows.size());
  std::vector<std::vector<uint16_t>> lesion(union_rows.size());
  std::vector<std::vector<uint8_t>> films(union_rows.size());
  std::unordered_map<int64_t, std::vector<const data::BoxRecord*>> boxes_of;
  for (const auto& b : split.boxes()) boxes_of[b.row].push_back(&b);
  {
    std::vector<uint8_t> again(static_cast<size_t>(S) * S), anatomy(static_cast<size_t>(S) * S);
    for (size_t i = 0; i < union_rows.size(); ++i) {
      films[i].resize(static_cast<size_t>(S) * S);
      split.read_image(union_rows[i], films[i].data());
      if (!phantom) continue;
      const auto& m = split.meta()[static_cast<size_t>(union_rows[i])];
      const data::SynthRecord& r = replay->record(m.image_index);
      replay->render(r, again.data(), nullptr, anatomy.data());
      if (again != films[i])
        throw UserError(cfg.data.pack + ": film '" + m.image_index + "' differs from its re-rendering",
                        "the pack was altered after synth, or another cxrtrain version made it: re-make the pack");
      regions[i] = phantom_regions(anatomy.data(), S);
      lesion[i].resize(static_cast<size_t>(S) * S);
      split.read_lesion_mask(union_rows[i], lesion[i].data());
    }
  }
  auto regions_of = [&](size_t i) -> const RegionMap& { return phantom ? regions[i] : template_map; };
  // The class's truth on an image: its lesion mask (phantom) or its NIH box, as a pixel mask and a box.
  auto truth_of = [&](size_t i, int c, std::vector<uint8_t>& mask) -> std::optional<Box> {
    mask.assign(static_cast<size_t>(S) * S, 0);
    if (phantom) {
      bool any = false;
      for (size_t k = 0; k < mask.size(); ++k)
        if (lesion[i][k] >> c & 1) mask[k] = 1, any = true;
      if (!any) return std::nullopt;
      return mask_box(mask, S);
    }
    auto it = boxes_of.find(union_rows[i]);
    if (it == boxes_of.end()) return std::nullopt;
    for (const auto* b : it->second)
      if (b->cls == c) {
        const Box box{b->xywh[0], b->xywh[1], b->xywh[2], b->xywh[3]};
        mask = box_mask(box, S);
        return box;
      }
    return std::nullopt;
  };

  // Per-class measurements.
  const double tol = kPointingTolerance * S;
  std::array<double, K> off_mean{}, off_low{};
  json classes = json::object();
  std::array<std::vector<double>, K> off_values;
  for (int c = 0; c < K; ++c) {
    const std::vector<int64_t> chosen = sel[c].all();
    std::array<std::vector<double>, kNumCamRegions> share_values;
    int64_t hits = 0, pointed = 0, localised = 0;
    double lesion_area = 0;  // summed fraction of the film the class's lesion (or box) covers
    int64_t peak_off = 0;    // maps whose peak lies outside the class's places
    std::array<int64_t, kLocalisationThresholds.size()> iou_hits{}, iobb_hits{};
    std::vector<uint8_t> target;
    std::vector<uint8_t> called_positive;  // where the model looks when it calls the class: TPs and FPs
    for (int64_t row : chosen)
      called_positive.push_back(p[static_cast<size_t>(row * K + c)] >= threshold[c]);
    for (size_t q = 0; q < chosen.size(); ++q) {
      const int64_t row = chosen[q];
      const auto i = static_cast<size_t>(slot_of.at(row));
      const std::vector<float> up = film_map(cams.maps, static_cast<int64_t>(i), c, S);
      if (const auto shares = called_positive[q] ? region_shares(up, regions_of(i)) : std::nullopt) {
        for (int r = 0; r < kNumCamRegions; ++r) share_values[r].push_back((*shares)[r]);
        off_values[c].push_back(off_target_share(*shares, c));
        const auto peak = peak_point(cams.maps, static_cast<int64_t>(i), c, S);
        const int region = regions_of(i)[static_cast<size_t>(std::min(S - 1, static_cast<int>(peak[1]))) * S +
                                         static_cast<size_t>(std::min(S - 1, static_cast<int>(peak[0])))];
        peak_off += !(allowed_regions(c) >> region & 1);
      }
      const auto truth = truth_of(i, c, target);
      if (!truth) continue;
      lesion_area += static_cast<double>(std::count(target.begin(), target.end(), uint8_t{1})) / static_cast<double>(target.size());
      ++pointed;
      hits += near_target(peak_point(cams.maps, static_cast<int64_t>(i), c, S), target, S, tol);
      ++localised;
      if (const auto box = cam_box(up, S, kBoxFraction))
        for (size_t t = 0; t < kLocalisationThresholds.size(); ++t) {
          iou_hits[t] += iou(*box, *truth) >= kLocalisationThresholds[t];
          iobb_hits[t] += iobb(*box, *truth) >= kLocalisationThresholds[t];
        }
    }
    const uint64_t seed = mix_seed(static_cast<uint64_t>(cfg.seed), 0xca30 + static_cast<uint64_t>(c));
    json share = json::object();
    for (int r = 0; r < kNumCamRegions; ++r)
      share[cam_region_name(r)] = {{"mean", num_or_null(mean_of(share_values[r]))},
                                   {"ci95", ci_json(bootstrap_mean_ci95(share_values[r], o.bootstrap, seed + static_cast<uint64_t>(r)))}};
    const auto off_ci = bootstrap_mean_ci95(off_values[c], o.bootstrap, seed + 99);
    off_mean[c] = mean_of(off_values[c]);
    off_low[c] = off_values[c].empty() ? std::nan("") : off_ci[0];
    json loc_iou = json::object(), loc_iobb = json::object();
    for (size_t t = 0; t < kLocalisationThresholds.size(); ++t) {
      char key[32];
      std::snprintf(key, sizeof key, "%g", kLocalisationThresholds[t]);
      loc_iou[key] = localised ? json(static_cast<double>(iou_hits[t]) / static_cast<double>(localised)) : json(nullptr);
      loc_iobb[key] = localised ? json(static_cast<double>(iobb_hits[t]) / static_cast<double>(localised)) : json(nullptr);
    }
    json& cj = classes[data::kClassNames[c]];
    cj["n_images"] = chosen.size();
    cj["n_tp"] = sel[c].tp.size();
    cj["n_fp"] = sel[c].fp.size();
    cj["n_fn"] = sel[c].fn.size();
    cj["n_maps_with_mass"] = off_values[c].size();  // TPs and FPs whose map has positive mass: the shares' images
    cj["threshold"] = threshold[c];
    cj["threshold_source"] = threshold_chosen[c] ? "operating point of the evaluation" : "0.5 (no operating point)";
    cj["region_share"] = share;
    cj["off_target_share"] = {{"mean", num_or_null(off_mean[c])}, {"ci95", ci_json(off_ci)}};
    cj["shortcut_flag"] = false;
    cj["shortcut_score"] = num_or_null(off_mean[c]);
    cj["pointing_game"] = {{"hit_rate", pointed ? json(static_cast<double>(hits) / static_cast<double>(pointed)) : json(nullptr)},
                           {"n", pointed},
                           {"ci95", pointed ? ci_json(wilson_ci95(hits, pointed)) : json(nullptr)}};
    cj["iobb_hit_rate"] = loc_iobb["0.5"];
    cj["localisation"] = {{"truth", localised ? (phantom ? "lesion mask" : "NIH box") : "none"},
                          {"n", localised}, {"iou", loc_iou}, {"iobb", loc_iobb},
                          {"lesion_area_fraction", localised ? json(lesion_area / static_cast<double>(localised)) : json(nullptr)}};
  }
  const ShortcutDecision decision = decide_shortcuts(off_mean, off_low);
  for (int c = 0; c < K; ++c) {
    json& cj = classes[data::kClassNames[c]];
    cj["shortcut_flag"] = decision.flag[c];
    cj["shortcut_reference"] = num_or_null(decision.reference[c]);
    cj["shortcut_margin"] = num_or_null(decision.margin[c]);
  }

  // Sanity check (Adebayo et al. 2018): cascading randomisation from the head down; the trained model's and the
  // randomised model's maps (before the ReLU) compared by Spearman's rho per image and class.
  const auto t_sanity = Clock::now();
  std::vector<int64_t> sanity_rows;
  for (size_t k = 0; static_cast<int>(sanity_rows.size()) < o.sanity_images && k < union_rows.size(); ++k)
    for (int c = 0; c < K && static_cast<int>(sanity_rows.size()) < o.sanity_images; ++c)
      if (k < sel[c].tp.size() &&
          std::find(sanity_rows.begin(), sanity_rows.end(), sel[c].tp[k]) == sanity_rows.end())
        sanity_rows.push_back(sel[c].tp[k]);
  for (size_t k = 0; static_cast<int>(sanity_rows.size()) < o.sanity_images && k < union_rows.size(); ++k)
    if (std::find(sanity_rows.begin(), sanity_rows.end(), union_rows[k]) == sanity_rows.end())
      sanity_rows.push_back(union_rows[k]);
  const std::vector<std::pair<std::string, std::string>> levels = {
      {"fc", "fc."}, {"layer4", "layer4."}, {"layer3", "layer3."}, {"layer2", "layer2."}, {"layer1", "layer1."},
      {"conv1", "conv1."}};
  std::array<json, K> sanity_rho;
  for (auto& j : sanity_rho) j = json::object();
  {
    const torch::Tensor xs = load_inputs(split, pre, sanity_rows);
    torch::Tensor trained_linear = torch::empty({0});
    {
      std::vector<torch::Tensor> parts;
      for (int64_t r : sanity_rows) parts.push_back(cams.linear[slot_of.at(r)]);
      trained_linear = torch::stack(parts, 0).contiguous();
    }
    torch::manual_seed(static_cast<uint64_t>(cfg.seed) + 7919);
    trainer::ResNet fresh = trainer::build_model(cfg, device);  // torchvision's initialisation, another seed
    trainer::ResNet randomised = trainer::build_model(cfg, device);
    trainer::load_model_state(checkpoint, *randomised);
    randomised->eval();
    std::vector<std::string> prefixes;
    Runner rr{randomised, device, run.format, run.batch, stage};
    for (const auto& [level, prefix] : levels) {
      prefixes.push_back(prefix);
      if (level == "conv1") prefixes.push_back("bn1.");
      copy_modules(randomised, fresh, prefixes);
      const Cams rc = rr.cams(xs);
      for (int c = 0; c < K; ++c) {
        std::vector<double> rhos;
        for (int64_t i = 0; i < static_cast<int64_t>(sanity_rows.size()); ++i) {
          const torch::Tensor a = trained_linear[i][c].contiguous(), b = rc.linear[i][c].contiguous();
          if (auto rho = spearman(a.data_ptr<float>(), b.data_ptr<float>(), static_cast<size_t>(a.numel()))) rhos.push_back(*rho);
        }
        sanity_rho[c][level] = num_or_null(mean_of(rhos));
      }
    }
  }
  for (int c = 0; c < K; ++c) {
    const json& rho4 = sanity_rho[c]["layer4"];
    const char* verdict = !rho4.is_number() ? "n/a" : (rho4.get<double>() < kSanityThreshold ? "PASS" : "FAIL");
    classes[data::kClassNames[c]]["sanity"] = {{"spearman", sanity_rho[c]}, {"verdict", verdict},
                                               {"threshold", kSanityThreshold}, {"n_images", sanity_rows.size()}};
  }
  const double secs_sanity = seconds_since(t_sanity);

  // Deletion curves: the top TPs' pixels removed (set to the film's mean) in the order of the class's map, and in
  // a random order; the area under the class probability.
  const auto t_deletion = Clock::now();
  {
    const int T = pre.output_size(), steps = o.deletion_steps;
    for (int c = 0; c < K; ++c) {
      std::vector<double> auc, random_auc;
      const size_t n = std::min(sel[c].tp.size(), static_cast<size_t>(std::max(0, o.deletion_images)));
      for (size_t k = 0; k < n; ++k) {
        const int64_t row = sel[c].tp[k];
        const torch::Tensor m = cams.maps[slot_of.at(row)][c].contiguous();
        if (!(m.max().item<float>() > 0)) continue;  // no map to order the pixels by
        const torch::Tensor x = load_inputs(split, pre, {row})[0][0];  // [T,T]
        const std::vector<float> up = upsample_bilinear(m.data_ptr<float>(), static_cast<int>(fh), static_cast<int>(fw), T);
        std::vector<int64_t> by_map(static_cast<size_t>(T) * T), random(by_map.size());
        std::iota(by_map.begin(), by_map.end(), 0);
        std::stable_sort(by_map.begin(), by_map.end(), [&](int64_t a, int64_t b) { return up[static_cast<size_t>(a)] > up[static_cast<size_t>(b)]; });
        std::iota(random.begin(), random.end(), 0);
        deterministic_shuffle(random, mix_seed(static_cast<uint64_t>(cfg.seed), static_cast<uint64_t>(row) * 16 + static_cast<uint64_t>(c)));
        const float fill = x.mean().item<float>();
        torch::Tensor batch = x.unsqueeze(0).unsqueeze(0).repeat({2 * (steps + 1), 1, 1, 1}).contiguous();
        float* d = batch.data_ptr<float>();
        for (int order = 0; order < 2; ++order)
          for (int s = 0; s <= steps; ++s) {
            const auto count = static_cast<size_t>(std::llround(static_cast<double>(s) / steps * static_cast<double>(T) * T));
            float* img = d + static_cast<size_t>(order * (steps + 1) + s) * static_cast<size_t>(T) * T;
            const auto& idx = order == 0 ? by_map : random;
            for (size_t q = 0; q < count; ++q) img[idx[q]] = fill;
          }
        const torch::Tensor prob = run.probabilities(batch).select(1, c);
        std::vector<double> curve_map(static_cast<size_t>(steps + 1)), curve_random(curve_map.size());
        for (int s = 0; s <= steps; ++s) {
          curve_map[static_cast<size_t>(s)] = prob[s].item<double>();
          curve_random[static_cast<size_t>(s)] = prob[steps + 1 + s].item<double>();
        }
        auc.push_back(curve_area(curve_map));
        random_auc.push_back(curve_area(curve_random));
      }
      json& cj = classes[data::kClassNames[c]];
      cj["deletion_auc"] = num_or_null(mean_of(auc));
      cj["random_deletion_auc"] = num_or_null(mean_of(random_auc));
      cj["deletion_n"] = auc.size();
    }
  }
  const double secs_deletion = seconds_since(t_deletion);

  // The causal tests, on the phantom only, where films can be re-rendered with one thing changed: (1) with planted
  // markers, every film of the split with all markers drawn and with none; (2) the natural markers, the AP films'
  // text tags and ECG electrodes, present as rendered and left out. Patient, lesions and noise are identical.
  const auto t_cf = Clock::now();
  json counterfactual = nullptr, natural = nullptr;
  // Probabilities of the first n films rendered two ways; `keep` drops pairs whose films are identical.
  struct Paired {
    std::vector<double> a, b;                   // [n,14] each
    std::array<std::vector<uint8_t>, K> truth;  // the films' true labels
    int64_t n = 0;
  };
  using Variant = data::PhantomReplay::Variant;
  auto paired = [&](const std::vector<const data::SynthRecord*>& records, const std::string& label, const Variant& va,
                    const Variant& vb) {
    Paired out;
    ProgressBar bar(static_cast<int64_t>(records.size()), label, "film", o.progress);
    const size_t chunk = 256;
    for (size_t b = 0; b < records.size(); b += chunk) {
      const size_t e = std::min(records.size(), b + chunk);
      std::vector<std::vector<uint8_t>> fa, fb;
      std::vector<const data::SynthRecord*> kept;
      for (size_t i = b; i < e; ++i) {
        const data::SynthRecord& r = *records[i];
        std::vector<uint8_t> x(static_cast<size_t>(S) * S), y(x.size());
        replay->render(r, va, x.data(), nullptr, nullptr);
        replay->render(r, vb, y.data(), nullptr, nullptr);
        if (x == y) continue;  // nothing to change on this film
        fa.push_back(std::move(x));
        fb.push_back(std::move(y));
        kept.push_back(&r);
      }
      bar.advance(static_cast<int64_t>(e - b));
      if (kept.empty()) continue;
      const torch::Tensor pa = run.probabilities(inputs_from_films(fa, pre)).contiguous();
      const torch::Tensor pb = run.probabilities(inputs_from_films(fb, pre)).contiguous();
      out.a.insert(out.a.end(), pa.data_ptr<double>(), pa.data_ptr<double>() + pa.numel());
      out.b.insert(out.b.end(), pb.data_ptr<double>(), pb.data_ptr<double>() + pb.numel());
      for (const auto* r : kept)
        for (int c = 0; c < K; ++c) out.truth[c].push_back(r->phantom.labels[static_cast<size_t>(c)]);
      out.n += static_cast<int64_t>(kept.size());
    }
    bar.finish();
    return out;
  };
  // The first `limit` films of the split that pass `keep`.
  auto films_where = [&](int64_t limit, const std::function<bool(const data::SampleMeta&, const data::SynthRecord&)>& keep) {
    std::vector<const data::SynthRecord*> records;
    for (int64_t i = 0; i < split.size() && static_cast<int64_t>(records.size()) < limit; ++i) {
      const auto& m = split.meta()[static_cast<size_t>(i)];
      const data::SynthRecord& r = replay->record(m.image_index);
      if (keep(m, r)) records.push_back(&r);
    }
    return records;
  };
  auto per_class_change = [&](const Paired& pr, int c, uint64_t salt, bool aurocs) {
    std::vector<double> delta, pa, pb;
    for (int64_t i = 0; i < pr.n; ++i) {
      pa.push_back(pr.a[static_cast<size_t>(i * K + c)]);
      pb.push_back(pr.b[static_cast<size_t>(i * K + c)]);
      delta.push_back(pa.back() - pb.back());
    }
    json j = {{"delta_p_mean", num_or_null(mean_of(delta))},
              {"delta_p_ci95", ci_json(bootstrap_mean_ci95(delta, o.bootstrap, mix_seed(static_cast<uint64_t>(cfg.seed), salt + static_cast<uint64_t>(c))))}};
    if (aurocs) {
      const auto with = auroc(pa, pr.truth[c]), without = auroc(pb, pr.truth[c]);
      j["auroc_with_marker"] = with ? json(*with) : json(nullptr);
      j["auroc_without_marker"] = without ? json(*without) : json(nullptr);
    }
    j["n"] = pr.n;
    return j;
  };
  const int64_t cf_limit = o.counterfactual_images > 0 ? o.counterfactual_images : split.size();
  if (phantom && !replay->plan().shortcuts.empty()) {
    const auto& shortcuts = replay->plan().shortcuts;
    const auto all_markers = static_cast<uint8_t>((1u << shortcuts.size()) - 1);
    const Paired pr = paired(films_where(cf_limit, [](const auto&, const auto&) { return true; }),
                             "causal test: planted markers", Variant{all_markers, true, -1}, Variant{0, true, -1});
    json marker_list = json::array();
    for (size_t s = 0; s < shortcuts.size(); ++s)
      marker_list.push_back({{"class", data::kClassNames[shortcuts[s].cls]},
                             {"place", data::shortcut_place_name(shortcuts[s].place)},
                             {"bit", s}});
    counterfactual = {{"shortcuts", marker_list},
                      {"n_images", pr.n},
                      {"films", "the split's films re-rendered from the pack's seeds with every planted marker drawn and "
                                "with none; patient, lesions, noise and tags identical. AUROC against the films' true "
                                "labels (the phantom's truth, not the noisy text-mined labels)"}};
    for (int c = 0; c < K; ++c) classes[data::kClassNames[c]]["counterfactual"] = per_class_change(pr, c, 0xcf, true);
  } else {
    for (int c = 0; c < K; ++c) classes[data::kClassNames[c]]["counterfactual"] = nullptr;
  }
  if (phantom) {
    // 0xff: each film's own planted markers, unchanged.
    const Paired pr = paired(films_where(cf_limit, [](const data::SampleMeta& m, const auto&) { return m.view == data::kViewAP; }),
                             "causal test: AP tags and electrodes", Variant{}, Variant{-1, false, -1});
    natural = {{"n_images", pr.n},
               {"other_lesions_removed", "per class, the first " + std::to_string(o.lesion_images) + " films of the "
                                         "split that truly have the class and another, rendered as stored and with "
                                         "only that class's lesion; delta = that class's probability with minus without "
                                         "the other findings: large means the prediction leans on co-occurring findings"},
               {"lesion_removed", "per class, the first " + std::to_string(o.lesion_images) + " films of the split that "
                                  "truly have the class, rendered as stored and without that class's lesion (everything "
                                  "else identical); delta = that class's probability with minus without: near 0 means the "
                                  "prediction does not use the lesion"},
               {"films", "the split's AP films that carry a text tag ('PORTABLE', 'AP', 'SUPINE') or ECG electrodes, "
                         "re-rendered without them; delta = probability as rendered minus without. AP films are sicker, "
                         "as in NIH, so a model may learn the view from its tags: a natural shortcut"}};
    for (int c = 0; c < K; ++c)
      classes[data::kClassNames[c]]["counterfactual_natural_markers"] = per_class_change(pr, c, 0xa9, false);
    // Does the prediction use the lesion? Each class's films that truly have it, with and without its lesion.
    for (int c = 0; c < K; ++c) {
      const Paired lr = paired(films_where(o.lesion_images,
                                           [c](const auto&, const data::SynthRecord& r) {
                                             return r.phantom.labels[static_cast<size_t>(c)] != 0;
                                           }),
                               std::string("causal test: ") + data::kClassNames[c] + " lesion", Variant{},
                               Variant{-1, true, c});
      json j = per_class_change(lr, c, 0x1e5, false);
      classes[data::kClassNames[c]]["counterfactual_lesion_removed"] = j;
      // Does it use the *other* findings on the film? The films with this class and another, as stored and with
      // only this class's lesion left (labels co-occur in NIH, and so in the phantom).
      const Paired ol = paired(films_where(o.lesion_images,
                                           [c](const auto&, const data::SynthRecord& r) {
                                             int others = 0;
                                             for (int d = 0; d < K; ++d) others += d != c && r.phantom.labels[static_cast<size_t>(d)];
                                             return r.phantom.labels[static_cast<size_t>(c)] != 0 && others > 0;
                                           }),
                               std::string("causal test: ") + data::kClassNames[c] + " without the other lesions",
                               Variant{}, Variant{-1, true, -1, c});
      classes[data::kClassNames[c]]["counterfactual_other_lesions_removed"] = per_class_change(ol, c, 0x0e5, false);
    }
  }
  const double secs_cf = seconds_since(t_cf);

  // Outputs, staged then renamed: a failed pass leaves the previous gradcam/ as it was.
  const fs::path final_dir = fs::path(o.run_dir) / "gradcam";
  const fs::path staging = make_staging_dir(final_dir);
  try {
    fs::create_directories(staging / "overlays");
    std::string index = "slot,image_index\n";
    for (size_t i = 0; i < union_rows.size(); ++i)
      index += std::to_string(i) + "," + split.meta()[static_cast<size_t>(union_rows[i])].image_index + "\n";
    atomic_write_file(staging / "cams_index.csv", index);
    atomic_write_file(staging / "cams.npy", npy_float32(cams.maps));
    for (int c = 0; c < K; ++c) {
      std::array<std::vector<OverlayTile>, 3> tiles;
      const std::array<const std::vector<int64_t>*, 3> groups = {&sel[c].tp, &sel[c].fp, &sel[c].fn};
      for (int g = 0; g < 3; ++g)
        for (size_t k = 0; k < groups[g]->size() && static_cast<int>(k) < o.overlay_columns; ++k) {
          const int64_t row = (*groups[g])[k];
          const auto i = static_cast<size_t>(slot_of.at(row));
          OverlayTile t;
          t.film = films[i];
          t.map = film_map(cams.maps, static_cast<int64_t>(i), c, S);
          std::vector<uint8_t> target;
          const auto box = truth_of(i, c, target);
          if (box && phantom) t.truth = target;
          if (box && !phantom) t.box = box;
          t.p = p[static_cast<size_t>(row * K + c)];
          tiles[g].push_back(std::move(t));
        }
      std::string title = std::string(data::kClassNames[c]) + "  (" + o.layer + ")";
      if (decision.flag[c]) title += "  SHORTCUT FLAG";
      const cv::Mat grid = overlay_grid(title, tiles, S, o.overlay_columns);
      const std::string name = std::string("overlays/") + data::kClassNames[c] + ".png";
#if CXR_HAVE_IMGCODECS
      if (!cv::imwrite((staging / name).string(), grid))
        throw UserError("could not write " + (staging / name).string(), "check the disk and permissions");
      classes[data::kClassNames[c]]["overlay"] = name;
#else
      classes[data::kClassNames[c]]["overlay"] = nullptr;
#endif
    }
    json out;
    out["schema"] = "cxrtrain.cam_stats/1";
    out["run_dir"] = o.run_dir;
    out["checkpoint"] = checkpoint;
    out["split"] = split_name;
    out["pack"] = cfg.data.pack;
    out["source"] = phantom ? "phantom" : split.manifest().source;
    out["layer"] = o.layer;
    out["feature_map"] = {fh, fw};
    out["image_size"] = S;
    out["model_input_size"] = pre.output_size();
    out["method"] = cams.one_pass ? "one-pass (the head's weights)" : "autograd";
    json region_names = json::array();
    for (int r = 0; r < kNumCamRegions; ++r) region_names.push_back(cam_region_name(r));
    out["regions"] = {
        {"kind", phantom ? "phantom anatomy" : "template"},
        {"names", region_names},
        {"limitation",
         phantom ? "Regions are the phantom's own anatomy, rendered per film: exact."
                 : "Regions come from a fixed anatomical template in normalised coordinates (eval/cam_stats.h), not from "
                   "each film: they cannot follow a patient's size, rotation, inspiration or framing, and there is no "
                   "text/marker region (unknown on real films). Shares near region borders are approximate; large "
                   "differences between classes (a map in the corners, or below the diaphragm) are what they can show."}};
    out["selection"] = {{"per_class", o.per_class},
                        {"rule", "per class, from the evaluation's predictions at its operating point (0.5 without one): "
                                 "true positives highest score first (half the budget), false positives highest first "
                                 "(a quarter), false negatives lowest first (the rest); a short group's share goes to the "
                                 "others; ties in a seeded order. Region shares, off-target share and the shortcut flag "
                                 "use the images the model calls positive (TPs and FPs) whose map has mass; the pointing "
                                 "game and IoU/IoBB use the chosen images that have a lesion of the class (TPs and FNs)"}};
    out["shortcut_rule"] = decision.rule;
    out["localisation_rule"] =
        "pointing game: the map's peak cell (its centre) within " + std::to_string(kPointingTolerance) +
        " of the side (15 px at 224) of the lesion; IoU/IoBB: the box of the largest connected region >= " +
        std::to_string(kBoxFraction) + " of the map's maximum against the lesion's bounding box, hit rates at Wang et "
        "al.'s thresholds; over the chosen images that have a lesion of the class";
    out["sanity_rule"] =
        "cascading randomisation (Adebayo et al. 2018): fc, then layer4, layer3, layer2, layer1, conv1 re-initialised "
        "as torchvision initialises them, cumulatively; Spearman's rho between the trained and the randomised model's "
        "maps (before the ReLU) per image and class, averaged; PASS when rho < " + std::to_string(kSanityThreshold) +
        " once layer4 is randomised";
    out["deletion_rule"] = "the top " + std::to_string(o.deletion_images) + " true positives per class whose map has mass: pixels set to the "
                           "film's mean in the order of the map (highest first) and in a random order, " +
                           std::to_string(o.deletion_steps + 1) + " fractions from 0 to 1; area under the class "
                           "probability (lower than random = the map found what the prediction uses)";
    out["reminder"] = kReminder;
    out["counterfactual"] = counterfactual;
    out["counterfactual_natural_markers"] = natural;
    out["seconds"] = {{"cams", secs_cams},
                      {"images_per_second", secs_cams > 0 ? static_cast<double>(union_rows.size()) / secs_cams : 0.0},
                      {"sanity", secs_sanity},
                      {"deletion", secs_deletion},
                      {"counterfactual", secs_cf},
                      {"total", seconds_since(t_start)}};
    out["n_images"] = union_rows.size();
    out["classes"] = classes;
    atomic_write_file(staging / "cam_stats.json", out.dump(2) + "\n");
    commit_dir(staging, final_dir, /*overwrite=*/true);
    if (out_dir) *out_dir = final_dir.string();
    return out;
  } catch (...) {
    std::error_code ec;
    fs::remove_all(staging, ec);
    throw;
  }
}

}  // namespace

json run_gradcam(const Config& cfg, comm::Communicator& world, int local_rank, const GradcamOptions& o,
                 std::string* out_dir) {
  json result;
  comm::on_root_only(world, [&] { result = gradcam_on_root(cfg, local_rank, o, out_dir); });
  return result;
}

}  // namespace cxr::eval
