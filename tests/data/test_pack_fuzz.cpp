// Seeded fuzz of the pack reader (issue 9): 400 copies of a small phantom pack, each damaged in one to
// three random ways (truncation, flipped bytes anywhere or in the metadata, datasets rewritten with
// other types, shapes or chunking, deleted datasets, out-of-range values, changed attributes, lying
// manifests, missing or foreign shards), then opened, read in full and verified. Every case must end in
// a cxr::UserError (verify_pack at the latest: every damage changes a shard's bytes or the manifest);
// any other exception, a crash, a hang or a sanitizer report fails. A case with one damage must also be
// refused no later than that damage allows: anything the schema forbids (a type, shape, chunking,
// attribute, out-of-range value, missing dataset or shard, a manifest that lies about structure) when a
// split is opened or read, not only by the sha256 of verify_pack. Runs under ASan/UBSan in CI.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <algorithm>
#include <random>

#include "core/error.h"
#include "data/classes.h"
#include "data/pack_reader.h"
#include "data/pack_verify.h"
#include "pack_damage.h"

namespace fs = std::filesystem;
using namespace cxr::data;
using namespace cxr::test;

namespace {

constexpr int kCases = 400;
constexpr int kSide = 32;

const std::vector<std::string> kDatasets = {"images", "lesion_mask", "labels", "image_index", "patient_id", "age",
                                            "sex", "view", "follow_up", "orig_size", "pixel_spacing", "shortcut"};

// The latest stage at which a damage must be refused: when a split is opened or read (it breaks the
// schema), or only by verify_pack (the bytes changed, the structure and values are still valid).
enum Stage { kOpenOrRead = 1, kVerify = 2 };

struct Damage {
  std::string what;
  Stage latest;
};

// A value written with HDF5's conversion (out-of-range values clip to the type's limits).
long long clipped(long long v, long long lo, long long hi) { return v < lo ? lo : v > hi ? hi : v; }

// Whether `value` poked into dataset `name` breaks the schema's value rules (pack_schema.cpp).
bool poke_breaks_schema(const std::string& name, long long value) {
  if (name == "labels") return clipped(value, 0, 255) > 1;
  if (name == "sex" || name == "view") {
    const long long v = clipped(value, -128, 127);
    return v < -1 || v > 1;
  }
  if (name == "age") {
    const long long v = clipped(value, -32768, 32767);
    return v < -1 || v > 150;
  }
  return value < 0;  // patient_id, follow_up
}

// The schema type of each dataset kind the fuzz rewrites (pack_schema.h).
H5Type schema_type(const std::string& ds) {
  if (ds == "images" || ds == "labels" || ds == "shortcut") return H5Type::kU8;
  if (ds == "lesion_mask") return H5Type::kU16;
  if (ds == "age") return H5Type::kI16;
  if (ds == "sex" || ds == "view") return H5Type::kI8;
  if (ds == "pixel_spacing") return H5Type::kF32;
  if (ds == "image_index") return H5Type::kVarString;  // stands for "a string": never the fixed 16 bytes
  return H5Type::kI32;
}

// One random damage of the pack at `dir`.
Damage damage(const std::string& dir, std::mt19937_64& rng) {
  const auto shards = shard_files(dir);
  const std::string shard = shards[rng() % shards.size()];
  const std::string name = fs::path(shard).filename().string();
  const uint64_t size = fs::file_size(shard);
  const std::string ds = kDatasets[rng() % kDatasets.size()];
  const uint64_t rows = dataset_dims(shard, "labels").at(0);
  switch (rng() % 12) {
    case 0: {
      const uint64_t keep = rng() % size;
      truncate_file(shard, keep);
      return {name + " truncated to " + std::to_string(keep), kOpenOrRead};
    }
    case 1: {
      const int n = 1 + static_cast<int>(rng() % 200);
      flip_bytes(shard, n, rng);
      return {name + ": " + std::to_string(n) + " bytes flipped", kVerify};
    }
    case 2: {
      const int n = 1 + static_cast<int>(rng() % 8);
      flip_bytes(shard, n, rng, 0, std::min<uint64_t>(size, 4096));
      return {name + ": " + std::to_string(n) + " bytes flipped in the first 4 KiB", kVerify};
    }
    case 3: {
      const H5Type types[] = {H5Type::kU8, H5Type::kU16, H5Type::kI8, H5Type::kI16, H5Type::kI32,
                              H5Type::kI64, H5Type::kF32, H5Type::kF64, H5Type::kVarString, H5Type::kString8};
      const H5Type t = types[rng() % 10];
      replace_dataset(shard, ds, t, dataset_dims(shard, ds), {}, 1);
      // Contiguous frames break the schema whatever their type; other datasets when the type differs.
      const bool breaks = ds == "images" || ds == "lesion_mask" || t != schema_type(ds);
      return {name + ": " + ds + " rewritten with type #" + std::to_string(static_cast<int>(t)),
              breaks ? kOpenOrRead : kVerify};
    }
    case 4: {
      auto dims = dataset_dims(shard, ds);
      const int how = static_cast<int>(rng() % 4);
      if (how == 0) dims[0] += 1 + rng() % 3;
      if (how == 1) dims[0] = dims[0] > 0 ? dims[0] - 1 : 1;
      if (how == 2) dims.push_back(2);
      if (how == 3) dims.back() += 1;
      const H5Type t = ds == "images" || ds == "labels" || ds == "shortcut" ? H5Type::kU8
                       : ds == "lesion_mask"                                 ? H5Type::kU16
                       : ds == "image_index"                                 ? H5Type::kString8
                                                                             : H5Type::kI32;
      replace_dataset(shard, ds, t, dims, {}, 0);
      return {name + ": " + ds + " reshaped", kOpenOrRead};
    }
    case 5: {
      const std::string frames = rng() % 2 ? "images" : "lesion_mask";
      const H5Type t = frames == "images" ? H5Type::kU8 : H5Type::kU16;
      std::vector<uint64_t> chunk;
      if (rng() % 2) chunk = {1 + rng() % 3, 1 + rng() % kSide, kSide};
      replace_dataset(shard, frames, t, {rows, kSide, kSide}, chunk, 3);
      const bool one_frame = chunk == std::vector<uint64_t>{1, kSide, kSide};
      return {name + ": " + frames + " rechunked", one_frame ? kVerify : kOpenOrRead};
    }
    case 6: {
      delete_dataset(shard, ds);
      // An optional dataset deleted from a split's only shard leaves a valid split without it.
      const bool optional = ds == "lesion_mask" || ds == "shortcut";
      const bool only_shard = name.find("-of-00001.h5") != std::string::npos;
      return {name + ": " + ds + " deleted", optional && only_shard ? kVerify : kOpenOrRead};
    }
    case 7: {
      const std::string targets[] = {"labels", "sex", "view", "age", "patient_id", "follow_up"};
      const std::string t = targets[rng() % 6];
      const long long values[] = {7, -2, 2, 151, -1, -5, 1000000};
      const uint64_t n = t == "labels" ? rows * kNumClasses : rows;
      if (n == 0) return {name + ": empty", kVerify};
      const long long value = values[rng() % 7];
      poke_value(shard, t, rng() % n, value);
      return {name + ": " + std::to_string(value) + " written into " + t,
              poke_breaks_schema(t, value) ? kOpenOrRead : kVerify};
    }
    case 8: {
      const int which = static_cast<int>(rng() % 5);
      if (which == 0) set_string_attr(shard, "schema", "cxrtrain.pack/0");
      if (which == 1) set_string_attr(shard, "split", "nonsense");
      if (which == 2) {
        std::vector<std::string> c = class_names();
        std::swap(c[rng() % c.size()], c[rng() % c.size()]);
        if (c == class_names()) c.pop_back();
        set_string_array_attr(shard, "classes", c);
      }
      if (which == 3) set_int_attr(shard, "image_size", kSide + 1 + static_cast<long long>(rng() % 5));
      if (which == 4) set_string_attr(shard, "classes", "Atelectasis");
      return {name + ": root attribute changed", kOpenOrRead};
    }
    case 9: {
      const std::pair<const char*, const char*> lies[] = {
          {"/image_size", "16"},           {"/image_size", "64"},
          {"/image_size", "-3"},           {"/image_size", "100000000"},
          {"/image_size", "\"32\""},       {"/splits/train/count", "1"},
          {"/splits/train/shards/0/rows", "0"}, {"/splits/train/shards/0/file", "\"nope.h5\""},
          {"/splits/train/shards/0/sha256", "\"00\""},
          {"/splits/train/shards/0/sha256", "\"0000000000000000000000000000000000000000000000000000000000000000\""},
          {"/splits/train/positives/Hernia", "9999"}, {"/splits/val/patients", "0"},
          {"/classes/0", "\"Hernia\""},   {"/classes", "[]"},
          {"/splits/test/count", "18446744073709551615"}, {"/splits", "[]"},
          {"/image_size", ""},             {"/splits/train/positives", ""}};
      const auto& [ptr, value] = lies[rng() % (sizeof lies / sizeof lies[0])];
      patch_manifest(dir, ptr, value);
      // A well-formed digest, or a patient count in range, are lies only the bytes reveal.
      const std::string v = value;
      const bool structural = !(v.size() == 66 || std::string(ptr) == "/splits/val/patients");
      return {std::string("manifest.json ") + ptr + " := " + (*value ? value : "(removed)"),
              structural ? kOpenOrRead : kVerify};
    }
    case 10: {
      fs::remove(shard);
      return {name + " deleted", kOpenOrRead};
    }
    default: {
      const std::string other = shards[rng() % shards.size()];
      if (other == shard) {
        truncate_file(shard, 0);
        return {name + " emptied", kOpenOrRead};
      }
      // Another split's shard, or a duplicate of its split's rows (image names repeat): both structural.
      fs::copy_file(other, shard, fs::copy_options::overwrite_existing);
      return {name + " replaced by " + fs::path(other).filename().string(), kOpenOrRead};
    }
  }
}

// Opens every split, reads every image and mask, then verifies; returns the stage that refused, or
// "accepted". Only UserError counts as a refusal; anything else propagates and fails the test.
std::string exercise(const std::string& dir) {
  std::string stage = "open";
  try {
    for (const char* split : {"train", "val", "test"}) {
      stage = std::string("open ") + split;
      PackSplit s(dir, split);
      stage = std::string("read ") + split;
      std::vector<uint8_t> img(static_cast<size_t>(s.image_size()) * static_cast<size_t>(s.image_size()));
      std::vector<uint16_t> mask(img.size());
      for (int64_t r = 0; r < s.size(); ++r) {
        s.read_image(r, img.data());
        if (s.has_lesion_mask()) s.read_lesion_mask(r, mask.data());
      }
    }
    stage = "verify";
    verify_pack(dir, 1, false);
  } catch (const cxr::UserError&) {
    return stage;
  }
  return "accepted";
}

}  // namespace

TEST(PackFuzz, EveryDamagedPackEndsInAUserError) {
  const fs::path root = fs::temp_directory_path() / ("cxr_packfuzz_" + std::to_string(::getpid()));
  fs::remove_all(root);
  const std::string pristine = (root / "pristine").string();
  make_small_pack(pristine, 50, kSide, 9);
  ASSERT_EQ(exercise(pristine), "accepted");

  std::map<std::string, int> refused_at;
  int strict = 0;
  for (int c = 0; c < kCases; ++c) {
    std::mt19937_64 rng(1000 + static_cast<uint64_t>(c));
    const std::string dir = (root / ("case" + std::to_string(c))).string();
    copy_pack(pristine, dir);
    std::string what;
    Stage latest = kVerify;
    int applied = 0;
    const int n = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < n; ++k) {
      try {
        const Damage d = damage(dir, rng);
        what += (k ? "; " : "") + d.what;
        latest = std::min(latest, d.latest);
        ++applied;
      } catch (const std::exception& e) {
        // The damage helper itself could not apply a change to an already damaged file: keep the rest.
        what += std::string(k ? "; " : "") + "(skipped: " + e.what() + ")";
      }
    }
    if (applied == 0) continue;  // nothing was changed
    std::string stage;
    try {
      stage = exercise(dir);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "case " << c << " (" << what << "): not a UserError: " << e.what();
      continue;
    }
    EXPECT_NE(stage, "accepted") << "case " << c << " (" << what << ") was accepted";
    // One damage: its stage is known. (Several can undo each other, e.g. a reshaped dataset rewritten
    // later with the right shape, so only "refused" is required of them.)
    if (n == 1 && applied == 1 && latest == kOpenOrRead) {
      ++strict;
      EXPECT_NE(stage, "verify") << "case " << c << " (" << what << ") breaks the schema but only the sha256 caught it";
    }
    ++refused_at[stage];
    fs::remove_all(dir);
  }
  EXPECT_GE(strict, 60) << "too few single structural damages to check their stage";
  std::string summary;
  for (const auto& [stage, n] : refused_at) summary += stage + ": " + std::to_string(n) + "  ";
  std::printf("refused at: %s (%d single structural damages refused before verify)\n", summary.c_str(), strict);
  fs::remove_all(root);
}
