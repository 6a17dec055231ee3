// Loader: batches follow the sampler and carry the pack's pixels and labels (every test image is
// flat with value row % 251, so each image names its row), bounded memory over many epochs, restart
// mid-epoch, worker errors reaching the consumer, damaged packs, and the loader benchmark's two paths.
#include <gtest/gtest.h>

#include <hdf5.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "data/image_io.h"
#include "data/loader.h"
#include "data/manifest.h"
#include "data/pack_reader.h"
#include "data/pack_writer.h"
#include "launch/bench_loader.h"

namespace fs = std::filesystem;
using namespace cxr::data;

namespace {

std::string image_name(int64_t row) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08lld_000.png", static_cast<long long>(row));
  return buf;
}

uint8_t label_of(int64_t row, int c) { return static_cast<uint8_t>((row * 31 + c * 7) % 5 == 0); }

// Writes split "train" of a pack into `dir`. pixels(row, buffer) fills each image; by default the
// image is flat with value row % 251.
using PixelFn = std::function<void(int64_t, std::vector<uint8_t>&)>;
void write_pack(const fs::path& dir, int side, const std::vector<int64_t>& shard_rows, int compression = 0,
                const PixelFn& pixels = {}, const std::vector<std::string>& names = {}) {
  fs::create_directories(dir);
  Manifest m;
  m.schema = kPackSchema;
  m.source = "nih-cxr14";
  m.classes = class_names();
  m.image_size = side;
  SplitManifest sm;
  sm.name = "train";
  int64_t row = 0;
  std::vector<uint8_t> px(static_cast<size_t>(side) * side);
  for (size_t s = 0; s < shard_rows.size(); ++s) {
    const std::string file = shard_file_name("train", static_cast<int>(s), static_cast<int>(shard_rows.size()));
    ShardOptions so;
    so.split = "train";
    so.image_size = side;
    so.rows = shard_rows[s];
    so.compression = compression;
    ShardWriter writer((dir / file).string(), so);
    std::vector<SampleMeta> meta;
    for (int64_t i = 0; i < shard_rows[s]; ++i, ++row) {
      if (pixels) pixels(row, px);
      else std::fill(px.begin(), px.end(), static_cast<uint8_t>(row % 251));
      writer.write_image(i, px.data());
      SampleMeta meta_row;
      meta_row.image_index = names.empty() ? image_name(row) : names[static_cast<size_t>(row)];
      meta_row.patient_id = static_cast<int32_t>(row / 3);
      for (int c = 0; c < kNumClasses; ++c) {
        meta_row.labels[c] = label_of(row, c);
        sm.positives[c] += meta_row.labels[c];
      }
      meta.push_back(meta_row);
    }
    writer.finish(meta, {});
    sm.shards.push_back(file);
    sm.shard_rows.push_back(shard_rows[s]);
  }
  sm.count = row;
  sm.patients = (row + 2) / 3;
  m.splits.push_back(sm);
  cxr::atomic_write_file(dir / "manifest.json", manifest_json(m, ""));
}

float norm(int v, const LoaderOptions& o) {
  return (static_cast<float>(v) / 255.f - o.preprocess.mean) / o.preprocess.std;
}

SamplerOptions sampler_options(int64_t n, int world, int rank, int64_t b, TailPolicy tail, bool shuffle = true) {
  SamplerOptions s;
  s.dataset_size = n;
  s.world_size = world;
  s.rank = rank;
  s.batch_per_rank = b;
  s.tail = tail;
  s.shuffle = shuffle;
  s.seed = 3;
  return s;
}

int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

// Checks a batch against the pack: flat images of value row % 251, labels from label_of().
void expect_matches_pack(const Batch& b, const LoaderOptions& o, int side) {
  const int64_t n = b.index.size(0);
  ASSERT_EQ(b.images.sizes(), (std::vector<int64_t>{n, 1, side, side}));
  ASSERT_EQ(b.images.scalar_type(), torch::kFloat32);
  ASSERT_EQ(b.labels.sizes(), (std::vector<int64_t>{n, kNumClasses}));
  ASSERT_EQ(b.labels.scalar_type(), torch::kFloat32);
  ASSERT_EQ(b.index.scalar_type(), torch::kInt64);
  ASSERT_EQ(b.valid.scalar_type(), torch::kBool);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t row = b.index[i].item<int64_t>();
    const float expected = norm(static_cast<int>(row % 251), o);
    EXPECT_NEAR(b.images[i].min().item<float>(), expected, 1e-6) << "row " << row;
    EXPECT_NEAR(b.images[i].max().item<float>(), expected, 1e-6) << "row " << row;
    for (int c = 0; c < kNumClasses; ++c) EXPECT_EQ(b.labels[i][c].item<float>(), label_of(row, c)) << row;
  }
}

class LoaderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("cxr_loader_test_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    write_pack(root_ / "pack", kSide, {150, 130});
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  static std::shared_ptr<const PackSplit> open(const fs::path& dir) {
    return std::make_shared<const PackSplit>(dir.string(), "train");
  }

  static constexpr int kSide = 32;
  static constexpr int64_t kRows = 280;
  static inline fs::path root_;
};

}  // namespace

TEST_F(LoaderTest, BatchesFollowSamplerAndPack) {
  auto split = open(root_ / "pack");
  DistributedSampler sampler(sampler_options(kRows, /*world=*/3, /*rank=*/2, /*b=*/8, TailPolicy::Pad));
  LoaderOptions o;
  o.workers = 3;
  o.prefetch = 2;
  Loader loader(split, sampler, o);
  ASSERT_EQ(loader.batches_per_epoch(), 12);  // ceil(280 / 24)
  const int64_t epoch = 2;
  const EpochPlan plan = sampler.plan(epoch);
  loader.start_epoch(epoch);
  std::vector<int64_t> idx;
  std::vector<uint8_t> ok;
  int64_t invalid = 0;
  for (int64_t k = 0; k < plan.batches(); ++k) {
    auto b = loader.next();
    ASSERT_TRUE(b.has_value()) << "batch " << k;
    EXPECT_EQ(b->epoch, epoch);
    EXPECT_EQ(b->step_in_epoch, k);
    plan.batch(k, idx, ok);
    ASSERT_EQ(b->index.size(0), 8);
    for (int64_t i = 0; i < 8; ++i) {
      EXPECT_EQ(b->index[i].item<int64_t>(), idx[i]);
      EXPECT_EQ(b->valid[i].item<bool>(), ok[i] != 0);
      invalid += ok[i] == 0;
    }
    expect_matches_pack(*b, o, kSide);
  }
  EXPECT_EQ(invalid, 8);  // 288 positions for 280 rows: the last 8, all in rank 2's last slice
  EXPECT_FALSE(loader.next().has_value());
  EXPECT_FALSE(loader.next().has_value());
  const LoaderStats st = loader.stats();
  EXPECT_EQ(st.batches_consumed, 12);
  EXPECT_EQ(st.batches_produced, 12);
  EXPECT_EQ(st.images_produced, 96);
  EXPECT_GE(st.peak_queued, 1);
  EXPECT_LE(st.peak_queued, 2);
}

TEST_F(LoaderTest, CropsAndResizesToImageSize) {
  auto split = open(root_ / "pack");
  DistributedSampler sampler(sampler_options(kRows, 1, 0, 16, TailPolicy::Drop));
  LoaderOptions o;
  o.preprocess.output_size = 20;
  o.preprocess.crop_fraction = 0.75f;
  o.preprocess.mean = 0.5f;
  o.preprocess.std = 0.25f;
  o.workers = 2;
  Loader loader(split, sampler, o);
  EXPECT_EQ(loader.image_size(), 20);
  loader.start_epoch(0);
  int64_t batches = 0;
  while (auto b = loader.next()) {
    expect_matches_pack(*b, o, 20);
    EXPECT_TRUE(b->valid.all().item<bool>());
    ++batches;
  }
  EXPECT_EQ(batches, 17);  // floor(280 / 16)
}

TEST_F(LoaderTest, ThreadsDoNotChangeAugmentedBatches) {
  // The pack for this test has textured images so augmentation has something to move.
  const fs::path dir = root_ / "textured";
  write_pack(dir, 40, {60}, 0, [](int64_t row, std::vector<uint8_t>& px) {
    for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>((i * 37 + static_cast<size_t>(row) * 11) % 256);
  });
  auto split = open(dir);
  DistributedSampler sampler(sampler_options(60, 2, 0, 5, TailPolicy::Drop));
  auto run = [&](int workers, uint64_t seed, int64_t epoch) {
    LoaderOptions o;
    o.preprocess.output_size = 32;
    o.preprocess.augment = true;
    o.seed = seed;
    o.workers = workers;
    o.prefetch = 3;
    Loader loader(split, sampler, o);
    loader.start_epoch(epoch);
    std::vector<torch::Tensor> images;
    while (auto b = loader.next()) images.push_back(b->images);
    return torch::cat(images);
  };
  const torch::Tensor sync = run(0, 9, 1);
  EXPECT_EQ(sync.size(0), 30);
  EXPECT_TRUE(torch::equal(sync, run(4, 9, 1)));
  EXPECT_TRUE(torch::equal(sync, run(1, 9, 1)));
  EXPECT_FALSE(torch::equal(sync, run(4, 10, 1)));  // another loader seed augments differently
}

TEST_F(LoaderTest, RestartMidEpochGivesTheSameTail) {
  auto split = open(root_ / "pack");
  DistributedSampler sampler(sampler_options(kRows, 2, 1, 7, TailPolicy::Drop));
  LoaderOptions o;
  o.workers = 3;
  o.prefetch = 4;
  Loader loader(split, sampler, o);
  const int64_t epoch = 5;
  loader.start_epoch(epoch);
  std::vector<Batch> full;
  while (auto b = loader.next()) full.push_back(*b);
  ASSERT_EQ(static_cast<int64_t>(full.size()), loader.batches_per_epoch());
  ASSERT_EQ(full.size(), 20u);  // floor(280 / 14)

  // Abandon an epoch with batches queued and in flight, then resume the first one at batch 6.
  loader.start_epoch(epoch + 1);
  ASSERT_TRUE(loader.next().has_value());
  loader.start_epoch(epoch, 6);
  for (size_t k = 6; k < full.size(); ++k) {
    auto b = loader.next();
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(b->step_in_epoch, static_cast<int64_t>(k));
    EXPECT_TRUE(torch::equal(b->index, full[k].index)) << k;
    EXPECT_TRUE(torch::equal(b->images, full[k].images)) << k;
    EXPECT_TRUE(torch::equal(b->labels, full[k].labels)) << k;
  }
  EXPECT_FALSE(loader.next().has_value());
  loader.start_epoch(epoch, full.size());  // resuming exactly at the end is an empty remainder
  EXPECT_FALSE(loader.next().has_value());
  EXPECT_THROW(loader.start_epoch(epoch, full.size() + 1), std::out_of_range);
  loader.start_epoch(epoch + 2);  // destroyed mid-epoch with work in flight: must not hang
}

TEST_F(LoaderTest, MemoryStaysBoundedOverManyEpochs) {
  // 1500 images of 128 px (24 MB of pixels, 94 MB as float) vs prefetch 3 x 1 MB batches.
  const fs::path dir = root_ / "large";
  write_pack(dir, 128, {1500});
  auto split = open(dir);
  DistributedSampler sampler(sampler_options(1500, 1, 0, 16, TailPolicy::Drop));
  LoaderOptions o;
  o.workers = 2;
  o.prefetch = 3;
  Loader loader(split, sampler, o);
  int64_t after_warmup = 0;
  for (int64_t epoch = 0; epoch < 20; ++epoch) {
    loader.start_epoch(epoch);
    int64_t batches = 0;
    while (auto b = loader.next()) {
      if (batches == 0 && epoch % 5 == 0) expect_matches_pack(*b, o, 128);
      ++batches;
    }
    ASSERT_EQ(batches, 93);
    if (epoch == 1) after_warmup = resident_bytes();
  }
  const int64_t growth = resident_bytes() - after_warmup;
  EXPECT_LT(growth, 8 << 20) << "resident memory grew by " << growth / 1024 << " KiB over 18 epochs";
  const LoaderStats st = loader.stats();
  EXPECT_EQ(st.batches_consumed, 20 * 93);
  EXPECT_LE(st.peak_queued, 3);
  EXPECT_GE(st.wait_ms, 0.0);
}

TEST_F(LoaderTest, WorkerErrorReachesTheConsumer) {
  // A gzip pack whose chunk for row 9 is overwritten after packing: the reader fails on that row only.
  const fs::path dir = root_ / "corrupt";
  write_pack(dir, kSide, {40}, /*compression=*/4);
  const fs::path shard = dir / shard_file_name("train", 0, 1);
  haddr_t address = 0;
  hsize_t bytes = 0;
  {
    hid_t file = H5Fopen(shard.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    hid_t ds = H5Dopen2(file, "images", H5P_DEFAULT);
    ASSERT_GE(ds, 0);
    hsize_t offset[3] = {9, 0, 0};
    unsigned filter_mask = 0;
    ASSERT_GE(H5Dget_chunk_info_by_coord(ds, offset, &filter_mask, &address, &bytes), 0);
    H5Dclose(ds);
    H5Fclose(file);
  }
  ASSERT_GT(bytes, 0u);
  {
    std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(address));
    const std::string garbage(bytes, '\xff');
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  auto split = open(dir);  // metadata is intact, so opening succeeds
  DistributedSampler sampler(sampler_options(40, 1, 0, 4, TailPolicy::Drop, /*shuffle=*/false));
  for (int workers : {0, 3}) {
    SCOPED_TRACE("workers=" + std::to_string(workers));
    LoaderOptions o;
    o.workers = workers;
    o.prefetch = 3;
    Loader loader(split, sampler, o);
    loader.start_epoch(0);
    for (int k = 0; k < 2; ++k) {
      auto b = loader.next();  // batches before the damaged one arrive intact
      ASSERT_TRUE(b.has_value());
      expect_matches_pack(*b, o, kSide);
    }
    EXPECT_THROW(loader.next(), std::runtime_error);  // batch 2 holds row 9
    EXPECT_THROW(loader.next(), std::runtime_error);  // and keeps failing rather than skipping it
    loader.start_epoch(1);                            // a new epoch clears the error
    auto b = loader.next();
    ASSERT_TRUE(b.has_value());
    expect_matches_pack(*b, o, kSide);
  }
}

TEST_F(LoaderTest, DamagedPacksAreUserErrors) {
  const fs::path dir = root_ / "damaged";
  fs::copy(root_ / "pack", dir, fs::copy_options::recursive);
  const fs::path shard = dir / shard_file_name("train", 1, 2);
  fs::rename(shard, dir / "elsewhere.h5");
  EXPECT_THROW(open(dir), cxr::UserError);  // a shard named by the manifest is missing
  fs::rename(dir / "elsewhere.h5", shard);
  EXPECT_NO_THROW(open(dir));

  // The manifest disagrees with the shard's row count.
  Manifest m = read_manifest(dir.string());
  m.splits[0].shard_rows[1] = 131;
  m.splits[0].count = 281;
  cxr::atomic_write_file(dir / "manifest.json", manifest_json(m, ""));
  EXPECT_THROW(open(dir), cxr::UserError);
  EXPECT_THROW(open(root_ / "no-such-pack"), cxr::UserError);
}

TEST_F(LoaderTest, RejectsEmptyEpochsAndMisuse) {
  auto split = open(root_ / "pack");
  LoaderOptions o;
  o.workers = 1;
  {
    // 5 ranks x 64 = 320 > 280 rows: with tail=drop an epoch has no batches.
    Loader loader(split, DistributedSampler(sampler_options(kRows, 5, 0, 64, TailPolicy::Drop)), o);
    EXPECT_THROW(loader.next(), std::logic_error);  // before start_epoch
    EXPECT_THROW(loader.start_epoch(0), cxr::UserError);
  }
  EXPECT_THROW(Loader(split, DistributedSampler(sampler_options(kRows + 1, 1, 0, 4, TailPolicy::Drop)), o),
               std::invalid_argument);
  LoaderOptions bad = o;
  bad.prefetch = 0;
  EXPECT_THROW(Loader(split, DistributedSampler(sampler_options(kRows, 1, 0, 4, TailPolicy::Drop)), bad),
               cxr::UserError);
}

TEST_F(LoaderTest, ReadsARowSubset) {
  auto split = open(root_ / "pack");
  LoaderOptions o;
  o.workers = 2;
  o.rows = {5, 17, 200, 279, 150};
  Loader loader(split, DistributedSampler(sampler_options(5, 1, 0, 2, TailPolicy::Pad, /*shuffle=*/false)), o);
  loader.start_epoch(0);
  std::vector<int64_t> rows;
  std::vector<bool> valid;
  while (auto b = loader.next()) {
    expect_matches_pack(*b, o, kSide);
    for (int64_t i = 0; i < b->index.size(0); ++i) {
      rows.push_back(b->index[i].item<int64_t>());
      valid.push_back(b->valid[i].item<bool>());
    }
  }
  EXPECT_EQ(rows, (std::vector<int64_t>{5, 17, 200, 279, 150, 5}));
  EXPECT_EQ(valid, (std::vector<bool>{true, true, true, true, true, false}));
}

TEST_F(LoaderTest, BenchComparesTheSamePixelsBothWays) {
  // Source PNGs (300 px, textured) under png/a and decoys with the same names under png/b: the
  // benchmark must take png/a (first in sorted path order), and the PNG path must reproduce exactly
  // what the pack path reads for the same image.
  const fs::path png = root_ / "png";
  fs::create_directories(png / "a" / "deeper");
  fs::create_directories(png / "b");
  const int n = 12, source = 300, side = 64;
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    names.push_back(image_name(1000 + i));
    cv::Mat img(source, source, CV_8UC1);
    for (int y = 0; y < source; ++y)
      for (int x = 0; x < source; ++x) img.at<uint8_t>(y, x) = static_cast<uint8_t>((x * (i + 1) + y * 3) % 256);
    ASSERT_TRUE(cv::imwrite((png / (i % 2 ? "a/deeper" : "a") / names.back()).string(), img));
    ASSERT_TRUE(cv::imwrite((png / "b" / names.back()).string(), cv::Mat(source, source, CV_8UC1, cv::Scalar(7))));
  }
  const fs::path dir = root_ / "from_png";
  write_pack(dir, side, {n}, 0, [&](int64_t row, std::vector<uint8_t>& px) {
    const std::string path = (png / (row % 2 ? "a/deeper" : "a") / names[static_cast<size_t>(row)]).string();
    cv::Mat m = resize_square(decode_grey(path), side);
    std::copy(m.datastart, m.dataend, px.begin());
  }, names);

  auto found = cxr::launch::find_images_by_name(png.string(), {names.begin(), names.end()});
  ASSERT_EQ(found.size(), static_cast<size_t>(n));
  EXPECT_EQ(fs::path(found[names[3]]).parent_path().filename(), "deeper");
  EXPECT_EQ(fs::path(found[names[4]]).parent_path().filename(), "a");

  auto split = open(dir);
  LoaderOptions o;
  o.preprocess.output_size = 48;
  o.workers = 1;
  Loader loader(split, DistributedSampler(sampler_options(n, 1, 0, n, TailPolicy::Drop, false)), o);
  loader.start_epoch(0);
  const Batch b = *loader.next();
  PreprocessOptions po;
  po.output_size = 48;
  po.mean = o.preprocess.mean;
  po.std = o.preprocess.std;
  const Preprocessor pre(side, po);
  for (int i = 0; i < n; ++i) {
    torch::Tensor via_png = torch::empty({48, 48});
    cxr::launch::preprocess_png(found[names[i]], side, pre, via_png.data_ptr<float>());
    EXPECT_TRUE(torch::equal(via_png, b.images[i][0])) << names[i];
  }

  cxr::launch::LoaderBenchOptions bo;
  bo.pack_dir = dir.string();
  bo.png_root = png.string();
  bo.batch_size = 4;
  bo.workers = 2;
  bo.max_images = 40;
  bo.max_seconds = 5.0;
  const auto r = cxr::launch::run_loader_bench(bo);
  EXPECT_EQ(r.images, n);
  EXPECT_EQ(r.images_without_png, 0);
  EXPECT_EQ(r.pack_image_size, side);
  ASSERT_EQ(r.runs.size(), 2u);
  EXPECT_EQ(r.runs[0].workers, 1);
  EXPECT_EQ(r.runs[1].workers, 2);
  for (const auto& run : r.runs) {
    EXPECT_GE(run.pack_images, 40);  // whole batches, cycling the 12 images over epochs
    EXPECT_EQ(run.png_images, 40);
    EXPECT_GT(run.pack_images_per_s, 0.0);
    EXPECT_GT(run.png_images_per_s, 0.0);
    EXPECT_NEAR(run.speedup, run.pack_images_per_s / run.png_images_per_s, 1e-9);
  }
  const auto j = nlohmann::json::parse(r.json);
  EXPECT_EQ(j.at("images").get<int64_t>(), n);
  EXPECT_EQ(j.at("runs").size(), 2u);
  EXPECT_GT(j.at("runs")[1].at("png").at("images_per_s").get<double>(), 0.0);

  bo.png_root = (root_ / "nowhere").string();
  EXPECT_THROW(cxr::launch::run_loader_bench(bo), cxr::UserError);
  fs::create_directories(root_ / "empty_png");
  bo.png_root = (root_ / "empty_png").string();
  EXPECT_THROW(cxr::launch::run_loader_bench(bo), cxr::UserError);
}
