// Pack verification (see pack_verify.h). Shards are hashed and read on several threads; the first
// error (lowest shard, then row, for a reproducible message) is the one reported.
#include "data/pack_verify.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/progress.h"
#include "core/sha256.h"
#include "data/classes.h"
#include "data/pack_reader.h"
#include "data/pack_schema.h"

namespace cxr::data {

namespace fs = std::filesystem;

namespace {

// Runs body(i) for i in [0, n) on `threads` threads; rethrows the exception of the lowest failing i.
template <class F>
void parallel_for(int64_t n, int threads, F&& body) {
  std::atomic<int64_t> next{0};
  std::mutex mutex;
  int64_t failed_at = n;
  std::exception_ptr error;
  auto work = [&] {
    for (int64_t i = next++; i < n; i = next++) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (i > failed_at) return;
      }
      try {
        body(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (i < failed_at) {
          failed_at = i;
          error = std::current_exception();
        }
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace

bool verify_shard_digest(const std::string& pack_dir, const SplitManifest& split, size_t shard) {
  const std::string& want = split.shard_sha256.at(shard);
  if (want.empty()) return false;
  const std::string path = (fs::path(pack_dir) / split.shards.at(shard)).string();
  std::string got;
  try {
    got = sha256_file(path);
  } catch (const std::exception& e) {
    bad_pack(path, "", std::string("cannot be read: ") + e.what());
  }
  if (got != want)
    bad_pack(path, "", "has sha256 " + got + " but manifest.json recorded " + want + " when it was written: the file changed");
  return true;
}

PackVerifyReport verify_pack(const std::string& pack_dir, int threads, bool progress) {
  const auto t0 = std::chrono::steady_clock::now();
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const Manifest manifest = read_manifest(pack_dir);
  PackVerifyReport report;

  // 1. Bytes: each shard against its recorded digest.
  std::vector<std::pair<size_t, size_t>> shards;  // (split, shard)
  for (size_t s = 0; s < manifest.splits.size(); ++s)
    for (size_t k = 0; k < manifest.splits[s].shards.size(); ++k) shards.emplace_back(s, k);
  report.shards = static_cast<int64_t>(shards.size());
  std::atomic<int64_t> without_digest{0};
  {
    ProgressBar bar(report.shards, "sha256", "shard", progress);
    parallel_for(report.shards, threads, [&](int64_t i) {
      const auto [s, k] = shards[static_cast<size_t>(i)];
      if (!verify_shard_digest(pack_dir, manifest.splits[s], k)) ++without_digest;
      bar.advance();
    });
    bar.finish();
  }
  report.shards_without_digest = without_digest;

  // 2. Structure and values, 3. every chunk, 4. the manifest's summary numbers.
  for (const SplitManifest& sm : manifest.splits) {
    PackSplit split(pack_dir, sm.name);
    report.checksummed = report.checksummed && split.checksummed();
    const size_t side = static_cast<size_t>(split.image_size());
    ProgressBar bar(split.size(), "verify " + sm.name, "img", progress);
    parallel_for(split.size(), threads, [&](int64_t row) {
      thread_local std::vector<uint8_t> image;
      thread_local std::vector<uint16_t> mask;
      image.resize(side * side);
      split.read_image(row, image.data());
      if (split.has_lesion_mask()) {
        mask.resize(side * side);
        split.read_lesion_mask(row, mask.data());
        const uint16_t bad = static_cast<uint16_t>(~((1u << kNumClasses) - 1u));
        for (uint16_t v : mask)
          if (v & bad)
            throw UserError("pack " + pack_dir + ", split '" + sm.name + "', row " + std::to_string(row) +
                                ": dataset 'lesion_mask' sets bits beyond the 14 classes",
                            kBadPackHint);
      }
      bar.advance();
    });
    bar.finish();
    report.images += split.size();
    if (split.has_lesion_mask()) report.masks += split.size();

    std::array<int64_t, kNumClasses> positives{};
    std::set<int32_t> patients;
    for (const auto& m : split.meta()) {
      for (int c = 0; c < kNumClasses; ++c) positives[c] += m.labels[c];
      patients.insert(m.patient_id);
    }
    for (int c = 0; c < kNumClasses; ++c) {
      if (positives[c] != sm.positives[c])
        throw UserError(pack_dir + "/manifest.json: split '" + sm.name + "' says " + std::to_string(sm.positives[c]) +
                            " positives of " + kClassNames[c] + " but its shards' labels hold " +
                            std::to_string(positives[c]),
                        kBadPackHint);
    }
    if (static_cast<int64_t>(patients.size()) != sm.patients)
      throw UserError(pack_dir + "/manifest.json: split '" + sm.name + "' says " + std::to_string(sm.patients) +
                          " patients but its shards hold " + std::to_string(patients.size()),
                      kBadPackHint);
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace cxr::data
