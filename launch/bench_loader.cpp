// Loader benchmark (see bench_loader.h). Both paths read the same split images, cycle them until an
// image or time budget is spent, and count every image they prepare; each path first runs a short
// untimed pass so cold-cache disk reads do not decide the comparison.
#include "launch/bench_loader.h"

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "core/error.h"
#include "data/image_io.h"
#include "data/loader.h"
#include "data/pack_reader.h"

namespace cxr::launch {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Throughput {
  int64_t images = 0;
  double seconds = 0.0;
};

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

Throughput run_pack_path(const std::shared_ptr<const data::PackSplit>& split, const std::vector<int64_t>& rows,
                         const LoaderBenchOptions& o, int workers, int64_t max_images, double max_seconds) {
  data::SamplerOptions so;
  so.dataset_size = static_cast<int64_t>(rows.size());
  so.batch_per_rank = o.batch_size;
  so.seed = o.seed;
  so.tail = data::TailPolicy::Pad;  // a subset smaller than one batch still gives batches
  data::LoaderOptions lo;
  lo.preprocess = o.preprocess;
  lo.workers = workers;
  lo.prefetch = std::max(o.prefetch, workers);  // fewer slots than workers would idle some of them
  lo.seed = o.seed;
  lo.rows = rows;
  data::Loader loader(split, data::DistributedSampler(so), lo);

  Throughput t;
  const auto t0 = Clock::now();
  for (int64_t epoch = 0;; ++epoch) {
    loader.start_epoch(epoch);
    while (auto batch = loader.next()) {
      t.images += batch->index.size(0);
      t.seconds = seconds_since(t0);
      if (t.images >= max_images || t.seconds >= max_seconds) return t;
    }
  }
}

Throughput run_png_path(const std::vector<std::string>& paths, const std::vector<int64_t>& rows, int pack_size,
                        const data::Preprocessor& preprocessor, const LoaderBenchOptions& o, int workers,
                        int64_t max_images, double max_seconds) {
  std::atomic<int64_t> next{0}, done{0};
  std::atomic<bool> expired{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  const auto t0 = Clock::now();
  auto work = [&] {
    std::vector<float> out(static_cast<size_t>(preprocessor.output_size()) * preprocessor.output_size());
    try {
      for (;;) {
        const int64_t i = next++;
        if (i >= max_images || expired) return;
        const auto m = static_cast<int64_t>(paths.size());
        const auto k = static_cast<size_t>(i % m);
        const uint64_t seed = o.preprocess.augment ? data::augment_seed(o.seed, /*epoch=*/i / m, rows[k]) : 0;
        preprocess_png(paths[k], pack_size, preprocessor, out.data(), seed);
        ++done;
        if (seconds_since(t0) >= max_seconds) expired = true;
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      expired = true;
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
  return {done.load(), seconds_since(t0)};
}

}  // namespace

std::map<std::string, std::string> find_images_by_name(const std::string& root,
                                                       const std::unordered_set<std::string>& names) {
  // NIH folders hold each image once, but copies of sample folders often repeat names: sorting makes
  // the choice reproducible.
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    throw UserError("PNG folder '" + root + "' does not exist", "pass --png-root, the folder the pack was made from");
  }
  std::vector<fs::path> hits;
  for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_regular_file(type_ec) && names.count(it->path().filename().string())) hits.push_back(it->path());
  }
  if (ec) throw UserError("cannot scan '" + root + "': " + ec.message(), "check the folder's permissions");
  std::sort(hits.begin(), hits.end());
  std::map<std::string, std::string> found;
  for (const auto& p : hits) found.emplace(p.filename().string(), p.string());  // keeps the first
  return found;
}

void preprocess_png(const std::string& path, int pack_size, const data::Preprocessor& preprocessor, float* dst,
                    uint64_t augment_seed) {
  cv::Mat grey = data::resize_square(data::decode_grey(path), pack_size);
  if (!grey.isContinuous()) grey = grey.clone();
  preprocessor.run(grey.ptr<uint8_t>(), dst, augment_seed);
}

LoaderBenchResult run_loader_bench(const LoaderBenchOptions& o) {
  if (o.batch_size < 1 || o.workers < 1 || o.max_images < 1 || !(o.max_seconds > 0)) {
    throw UserError("loader bench: batch size, workers and image budget must be >= 1 and seconds > 0",
                    "check --batch, --workers, --images and --seconds");
  }
  auto split = std::make_shared<const data::PackSplit>(o.pack_dir, o.split);
  const bool with_png = !o.png_root.empty();
  std::vector<int64_t> rows;
  std::vector<std::string> paths;
  if (with_png) {
    std::unordered_set<std::string> names;
    for (const auto& m : split->meta()) names.insert(m.image_index);
    const auto found = find_images_by_name(o.png_root, names);
    for (int64_t r = 0; r < split->size(); ++r) {
      auto it = found.find(split->meta()[static_cast<size_t>(r)].image_index);
      if (it == found.end()) continue;
      rows.push_back(r);
      paths.push_back(it->second);
    }
    if (rows.empty()) {
      throw UserError("no file under '" + o.png_root + "' is named like an image of split '" + o.split + "' of " +
                          o.pack_dir,
                      "point --png-root at the NIH images folder the pack was made from");
    }
  } else {
    for (int64_t r = 0; r < split->size(); ++r) rows.push_back(r);
  }
  const auto distinct = static_cast<int64_t>(rows.size());
  if (distinct < o.batch_size) {
    throw UserError("only " + std::to_string(distinct) + " distinct images to read, fewer than one batch of " +
                        std::to_string(o.batch_size) + ": every batch would re-read the same rows from cache",
                    "use a larger pack or split (cxrtrain synth --n 5000 makes one), or a smaller batch "
                    "(--set train.global_batch=...)");
  }

  LoaderBenchResult result;
  result.images = distinct;
  result.images_without_png = with_png ? split->size() - result.images : 0;
  if (distinct < kMinDistinctBatches * static_cast<int64_t>(o.batch_size)) {
    result.warning = "only " + std::to_string(distinct) + " distinct images (" + std::to_string(distinct / o.batch_size) +
                     " batches of " + std::to_string(o.batch_size) + "): the rates count re-reads of a set that stays "
                     "in every cache; measure on at least " + std::to_string(kMinDistinctBatches) + " batches of distinct films";
  }
  result.pack_image_size = split->image_size();
  const data::Preprocessor preprocessor(split->image_size(), o.preprocess);
  result.output_size = preprocessor.output_size();

  std::vector<int> worker_counts{1};
  if (o.workers != 1) worker_counts.push_back(o.workers);
  const int64_t warmup = std::min<int64_t>(result.images, 2 * o.batch_size);
  if (with_png) run_png_path(paths, rows, split->image_size(), preprocessor, o, o.workers, warmup, o.max_seconds);
  run_pack_path(split, rows, o, o.workers, warmup, o.max_seconds);

  nlohmann::json runs = nlohmann::json::array();
  for (int workers : worker_counts) {
    const Throughput pack = run_pack_path(split, rows, o, workers, o.max_images, o.max_seconds);
    const Throughput png = with_png ? run_png_path(paths, rows, split->image_size(), preprocessor, o, workers,
                                                   o.max_images, o.max_seconds)
                                    : Throughput{};
    LoaderBenchRun run;
    run.workers = workers;
    run.pack_images = pack.images;
    run.pack_seconds = pack.seconds;
    run.pack_images_per_s = pack.seconds > 0 ? static_cast<double>(pack.images) / pack.seconds : 0.0;
    run.png_images = png.images;
    run.png_seconds = png.seconds;
    run.png_images_per_s = png.seconds > 0 ? static_cast<double>(png.images) / png.seconds : 0.0;
    run.speedup = run.png_images_per_s > 0 ? run.pack_images_per_s / run.png_images_per_s : 0.0;
    result.runs.push_back(run);
    runs.push_back({{"workers", run.workers},
                    {"pack", {{"images", run.pack_images}, {"seconds", run.pack_seconds},
                              {"images_per_s", run.pack_images_per_s}}},
                    {"png", {{"images", run.png_images}, {"seconds", run.png_seconds},
                             {"images_per_s", run.png_images_per_s}}},
                    {"speedup", run.speedup}});
  }

  nlohmann::json j;
  j["benchmark"] = "loader";
  j["pack"] = o.pack_dir;
  j["split"] = o.split;
  j["png_root"] = o.png_root;
  j["images"] = result.images;
  j["distinct_images"] = result.images;
  j["warning"] = result.warning;
  j["images_without_png"] = result.images_without_png;
  j["pack_image_size"] = result.pack_image_size;
  j["output_size"] = result.output_size;
  j["batch_size"] = o.batch_size;
  j["augment"] = o.preprocess.augment;
  j["max_images"] = o.max_images;
  j["max_seconds"] = o.max_seconds;
  j["runs"] = runs;
  result.json = j.dump(2);
  return result;
}

}  // namespace cxr::launch
