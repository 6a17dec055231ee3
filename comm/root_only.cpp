// Rank-0 work with quietly waiting peers (see root_only.h).
#include "comm/root_only.h"

#include <ATen/ATen.h>

#include <chrono>
#include <thread>

namespace cxr::comm {

namespace {

void wait_quietly(Work& work) {
  while (!work.is_completed()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  work.wait();
}

}  // namespace

void on_root_only(Communicator& comm, const std::function<void()>& body) {
  at::Tensor token = at::zeros({1}, at::kDouble);
  if (comm.rank() == 0) {
    body();  // on an exception the peers stay in their wait until the job is aborted
    if (comm.size() > 1) comm.all_reduce_sum_async(token)->wait();
    return;
  }
  wait_quietly(*comm.all_reduce_sum_async(token));
}

double all_reduce_sum_quietly(Communicator& comm, double value) {
  at::Tensor t = at::full({1}, value, at::kDouble);
  wait_quietly(*comm.all_reduce_sum_async(t));
  return t.item<double>();
}

}  // namespace cxr::comm
