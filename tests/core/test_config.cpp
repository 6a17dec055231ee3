// Config: defaults, YAML, --set overrides, unknown keys naming the nearest key, YAML round trip.
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"

using cxr::Config;

TEST(Config, DefaultsValidate) {
  Config c;
  EXPECT_NO_THROW(cxr::validate(c));
  EXPECT_EQ(c.loader.tail, "drop");
}

TEST(Config, YamlAndOverridesApplyInOrder) {
  Config c;
  cxr::apply_yaml(c, "seed: 7\ndata:\n  image_size: 224\n  mean: 0.4\ntrain:\n  global_batch: 64\n", "test.yaml");
  EXPECT_EQ(c.seed, 7);
  EXPECT_EQ(c.data.image_size, 224);
  EXPECT_DOUBLE_EQ(c.data.mean, 0.4);
  EXPECT_EQ(c.train.global_batch, 64);
  cxr::apply_overrides(c, {"data.image_size=128", "log.all_ranks=true"});
  EXPECT_EQ(c.data.image_size, 128);
  EXPECT_TRUE(c.log.all_ranks);
}

TEST(Config, UnknownKeyNamesNearestValidKey) {
  Config c;
  try {
    cxr::apply_yaml(c, "data:\n  imag_size: 3\n", "run.yaml");
    FAIL() << "unknown key accepted";
  } catch (const cxr::UserError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("run.yaml"), std::string::npos) << msg;
    EXPECT_NE(msg.find("data.imag_size"), std::string::npos) << msg;
    EXPECT_NE(msg.find("did you mean 'data.image_size'"), std::string::npos) << msg;
  }
  EXPECT_THROW(cxr::apply_overrides(c, {"train.global_bach=3"}), cxr::UserError);
}

TEST(Config, BadValuesNameKeyAndValue) {
  Config c;
  try {
    cxr::apply_overrides(c, {"train.global_batch=lots"});
    FAIL();
  } catch (const cxr::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("'lots'"), std::string::npos);
  }
  EXPECT_THROW(cxr::apply_overrides(c, {"noequals"}), cxr::UserError);
  c.loader.tail = "sometimes";
  EXPECT_THROW(cxr::validate(c), cxr::UserError);
}

TEST(Config, ResolvedYamlRoundTrips) {
  Config c;
  cxr::apply_overrides(c, {"seed=42", "data.pack=/tmp/x y", "data.crop_fraction=0.875", "data.augment=light"});
  Config d;
  cxr::apply_yaml(d, cxr::to_yaml(c), "roundtrip");
  EXPECT_EQ(cxr::to_yaml(c), cxr::to_yaml(d));
  EXPECT_EQ(d.seed, 42);
  EXPECT_EQ(d.data.pack, "/tmp/x y");
  EXPECT_DOUBLE_EQ(d.data.crop_fraction, 0.875);
  EXPECT_EQ(d.data.augment, "light");
}

TEST(Config, EveryKeyIsSettable) {
  // Each key must be reachable through the parser (guards the field table against typos).
  for (const auto& key : cxr::config_keys()) {
    Config c;
    EXPECT_NO_THROW(cxr::apply_yaml(c, cxr::to_yaml(c), "all")) << key;
  }
  EXPECT_GE(cxr::config_keys().size(), 10u);
}
