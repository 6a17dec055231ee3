// The deadline wait under NCCL collectives, with fakes for the device and the library (issue 10): a
// collective that completes returns; a peer that dies mid-wait (an injected asynchronous error) aborts
// the communicator once and throws naming the cause; one that never answers is aborted at the deadline.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "comm/collective_wait.h"

using cxr::comm::CollectiveFailed;
using cxr::comm::wait_for_collective;

TEST(CollectiveWait, ReturnsWhenTheCollectiveCompletes) {
  int polls = 0, aborts = 0;
  wait_for_collective([&] { return ++polls == 50; }, [] { return std::string(); }, [&] { ++aborts; }, 5.0, "all_reduce");
  EXPECT_EQ(polls, 50);
  EXPECT_EQ(aborts, 0);
}

TEST(CollectiveWait, APeerThatDiesAbortsOnceAndNamesTheCause) {
  int polls = 0, aborts = 0;
  try {
    wait_for_collective([&] { ++polls; return false; },
                        [&] { return polls >= 20 ? std::string("remote process exited (injected)") : std::string(); },
                        [&] { ++aborts; }, 60.0, "NCCL all_reduce on rank 1");
    FAIL() << "a dead peer did not end the wait";
  } catch (const CollectiveFailed& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("NCCL all_reduce on rank 1 failed: remote process exited (injected)"), std::string::npos) << what;
    EXPECT_NE(what.find("aborted"), std::string::npos) << what;
  }
  EXPECT_EQ(polls, 20);
  EXPECT_EQ(aborts, 1);
}

TEST(CollectiveWait, ASilentPeerIsAbortedAtTheDeadline) {
  int aborts = 0;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(wait_for_collective([] { return false; }, [] { return std::string(); }, [&] { ++aborts; }, 0.2,
                                   "broadcast"),
               CollectiveFailed);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(aborts, 1);
  EXPECT_GE(waited, 0.2);
  EXPECT_LT(waited, 2.0);  // backs off to 1 ms polls, not to seconds
}
