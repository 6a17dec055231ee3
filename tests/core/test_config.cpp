// Config: defaults, YAML, --set overrides, unknown keys naming the nearest key, YAML round trip.
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"
#include "core/strings.h"

#include <limits>
#include <stdexcept>

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
  // Each key, one at a time, set to a value other than its default through --set: that key (and only
  // that key) must read back the new value. Catches a key bound to the wrong member, or to none.
  const auto defaults = cxr::config_values(Config{});
  ASSERT_GE(defaults.size(), 30u);
  for (size_t k = 0; k < defaults.size(); ++k) {
    const auto& [key, value] = defaults[k];
    std::string next;
    if (value == "true" || value == "false") {
      next = value == "true" ? "false" : "true";
    } else {
      try {
        next = std::to_string(cxr::parse_int(value) + 3);
      } catch (const std::invalid_argument&) {
        try {
          next = std::to_string(cxr::parse_double(value) * 0.5 + 0.25);
        } catch (const std::invalid_argument&) {
          next = value + "_other";
        }
      }
    }
    Config c;
    ASSERT_NO_THROW(cxr::apply_overrides(c, {key + "=" + next})) << key;
    const auto got = cxr::config_values(c);
    for (size_t j = 0; j < got.size(); ++j) {
      if (j != k) {
        EXPECT_EQ(got[j].second, defaults[j].second) << "setting " << key << " changed " << got[j].first;
      } else if (next.find_first_not_of("0123456789.-") == std::string::npos && next.find('.') != std::string::npos) {
        EXPECT_DOUBLE_EQ(cxr::parse_double(got[j].second), cxr::parse_double(next)) << key;
      } else {
        EXPECT_EQ(got[j].second, next) << key;
      }
    }
  }
}

TEST(Config, OverflowAndNonFiniteValuesAreRefusedNamingTheKey) {
  // Each of these once trained or failed later with a library's message (issue 9).
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"train.global_batch=4294967304", "outside the range of an integer of 32 bits"},
      {"train.lr=inf", "must be finite"},
      {"train.lr=nan", "must be finite"},
      {"data.mean=-inf", "must be finite"},
      {"train.weight_decay=NaN", "must be finite"},
      {"loader.workers=2147483648", "outside the range"},
      {"train.max_steps=99999999999999999999", "not an integer"},
      {"train.bucket_mb=1e308", "train.bucket_mb"},
      {"data.image_size=100000", "data.image_size"},
      {"train.global_batch=2000000000", "train.global_batch"},
  };
  for (const auto& [assignment, needle] : cases) {
    try {
      cxr::load_config("", {assignment});
      ADD_FAILURE() << assignment << " was accepted";
    } catch (const cxr::UserError& e) {
      const std::string what = e.what();
      const std::string key = assignment.substr(0, assignment.find('='));
      EXPECT_NE(what.find(key), std::string::npos) << what;
      EXPECT_NE(what.find(needle), std::string::npos) << what;
    }
  }
  Config c;
  c.train.lr = std::numeric_limits<double>::infinity();  // set in code, not parsed: validate() still refuses
  EXPECT_THROW(cxr::validate(c), cxr::UserError);
}
