// SHA-256 against the FIPS 180-4 test vectors and the digests recorded in ../shared/data/MANIFEST.csv.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/sha256.h"
#include "core/strings.h"

TEST(Sha256, FipsVectors) {
  EXPECT_EQ(cxr::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(cxr::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(cxr::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(cxr::sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, MatchesSharedDataManifest) {
  std::ifstream in(std::string(CXR_SHARED_DATA_DIR) + "/MANIFEST.csv");
  ASSERT_TRUE(in) << "needs ../shared/data";
  std::string line;
  std::getline(in, line);  // header: path,bytes,sha256,...
  int checked = 0;
  while (std::getline(in, line) && checked < 5) {
    auto fields = cxr::split(line, ',');
    if (!cxr::ends_with(fields[0], ".png")) continue;
    EXPECT_EQ(cxr::sha256_file(std::string(CXR_SHARED_DATA_DIR) + "/" + fields[0]), fields[2]) << fields[0];
    ++checked;
  }
  EXPECT_EQ(checked, 5);
}
