// run_ordered(): produce items on worker threads, consume them on the calling thread strictly in
// index order, through a fixed ring of slots (so memory does not grow with the item count). Used by
// `pack` (decode PNGs -> write shards) and `synth` (render films -> write shards), whose writers
// must see rows in order while the expensive part runs in parallel.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace cxr::data {

// Calls produce(i, slot) for every i in [0, n) on `jobs` threads and consume(i, slot) on this thread
// in order i = 0, 1, ...; slot = slots[i % slots.size()], so at most slots.size() items are in flight
// and a slot's buffers are reused. The first exception thrown by either side stops the workers and is
// rethrown here once they have joined.
template <class Slot, class Produce, class Consume>
void run_ordered(size_t n, int jobs, std::vector<Slot>& slots, Produce&& produce, Consume&& consume) {
  const size_t window = slots.size();
  std::vector<char> ready(window, 0);
  std::mutex mu;
  std::condition_variable cv_ready, cv_space;
  size_t consumed = 0;
  std::atomic<size_t> next{0};
  std::atomic<bool> abort{false};
  std::exception_ptr error;
  auto fail = [&](std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(mu);
    if (!error) error = e;
    abort = true;
  };
  auto worker = [&] {
    while (!abort) {
      const size_t i = next++;
      if (i >= n) return;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv_space.wait(lock, [&] { return abort || i < consumed + window; });
        if (abort) return;
      }
      try {
        // The slot is ours: item i - window has been consumed and no other worker holds index i.
        produce(i, slots[i % window]);
        std::lock_guard<std::mutex> lock(mu);
        ready[i % window] = 1;
      } catch (...) {
        fail(std::current_exception());
      }
      cv_ready.notify_all();
    }
  };
  std::vector<std::thread> threads;
  for (int j = 0; j < jobs; ++j) threads.emplace_back(worker);
  try {
    for (size_t i = 0; i < n; ++i) {
      {
        std::unique_lock<std::mutex> lock(mu);
        cv_ready.wait(lock, [&] { return abort.load() || ready[i % window]; });
        if (abort) break;
      }
      consume(i, slots[i % window]);
      {
        std::lock_guard<std::mutex> lock(mu);
        ready[i % window] = 0;
        ++consumed;
      }
      cv_space.notify_all();
    }
  } catch (...) {
    fail(std::current_exception());
  }
  cv_space.notify_all();
  cv_ready.notify_all();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace cxr::data
