// Waiting for a collective that may never finish because a peer died or a link broke. The host polls
// done(); between polls it asks async_error() (non-empty: the library saw a failure). On an error, or
// once `timeout_s` has passed, it calls abort() once (which must cancel the collective so that nothing
// is left spinning on the device) and throws CollectiveFailed naming `what` and the cause, so that the
// job's fail-fast path (run_or_abort -> MPI_Abort) runs instead of a hang. Polls tightly at first, then
// backs off to 1 ms sleeps: a short wait adds no latency, a long one costs little CPU. No CUDA, NCCL or torch
// here, so the abort path is tested on any machine with fakes (tests/comm/test_collective_wait.cpp).
#pragma once

#include <functional>
#include <stdexcept>
#include <string>

namespace cxr::comm {

class CollectiveFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

void wait_for_collective(const std::function<bool()>& done, const std::function<std::string()>& async_error,
                         const std::function<void()>& abort, double timeout_s, const std::string& what);

}  // namespace cxr::comm
