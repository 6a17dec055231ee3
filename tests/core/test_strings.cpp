// String helpers: edit distance against hand-computed values, nearest-key choice, strict parsing.
#include <gtest/gtest.h>

#include "core/strings.h"

TEST(Strings, EditDistanceKnownValues) {
  EXPECT_EQ(cxr::edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(cxr::edit_distance("", "abc"), 3u);
  EXPECT_EQ(cxr::edit_distance("flaw", "lawn"), 2u);
  EXPECT_EQ(cxr::nearest("Infiltrate", {"Infiltration", "Effusion", "Mass"}), "Infiltration");
}

TEST(Strings, SplitKeepsEmptyFields) {
  auto parts = cxr::split("a,,b,", ',');
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_EQ(parts[1], "");
  EXPECT_EQ(parts[3], "");
}

TEST(Strings, SplitListTrimsAndDropsBlankItems) {
  EXPECT_EQ(cxr::split_list(" a, b ,,c ,"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(cxr::split_list("contrast=1.05"), (std::vector<std::string>{"contrast=1.05"}));
  EXPECT_TRUE(cxr::split_list(" , ").empty());
  EXPECT_EQ(cxr::split_list("x;y", ';'), (std::vector<std::string>{"x", "y"}));
}

TEST(Strings, StrictNumberParsing) {
  EXPECT_EQ(cxr::parse_int(" 42 "), 42);
  EXPECT_THROW(cxr::parse_int("42x"), std::invalid_argument);
  EXPECT_THROW(cxr::parse_int(""), std::invalid_argument);
  EXPECT_DOUBLE_EQ(cxr::parse_double("0.14300000000000002"), 0.14300000000000002);
  EXPECT_THROW(cxr::parse_double("1.2.3"), std::invalid_argument);
}
