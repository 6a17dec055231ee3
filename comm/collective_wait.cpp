// Deadline wait for collectives (see collective_wait.h).
#include "comm/collective_wait.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

namespace cxr::comm {

void wait_for_collective(const std::function<bool()>& done, const std::function<std::string()>& async_error,
                         const std::function<void()>& abort, double timeout_s, const std::string& what) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto pause = std::chrono::microseconds(0);
  for (;;) {
    if (done()) return;
    const std::string error = async_error();
    if (!error.empty()) {
      abort();
      throw CollectiveFailed(what + " failed: " + error +
                             " (a peer process died or the network failed); the communicator was aborted");
    }
    const double waited = std::chrono::duration<double>(Clock::now() - start).count();
    if (waited > timeout_s) {
      abort();
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%.0f", waited);
      throw CollectiveFailed(what + " did not complete within " + seconds +
                             " s (train.collective_timeout_s): a peer is probably dead or stuck; the communicator "
                             "was aborted");
    }
    // Exponential back-off from 1 us to 1 ms between polls.
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(std::chrono::microseconds(1000),
                                                pause + std::chrono::microseconds(pause.count() > 0 ? pause.count() : 1));
  }
}

}  // namespace cxr::comm
