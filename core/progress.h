// A thread-safe progress bar for long work: "[=====>   ] 1234/5000 24.7% 150.3 img/s ETA 0:25".
// On a terminal it redraws in place on stderr at most 10 times a second; otherwise (logs, CI) it
// prints a plain line every 10 %. Rates are measured from construction.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace cxr {

class ProgressBar {
 public:
  ProgressBar(int64_t total, std::string label, std::string unit = "img", bool enabled = true);
  ~ProgressBar();
  void advance(int64_t n = 1);
  void finish();  // draws the final state once
  double rate() const;  // units per second so far

 private:
  void draw(bool final);
  int64_t total_;
  std::string label_, unit_;
  bool enabled_, tty_;
  std::atomic<int64_t> done_{0};
  std::chrono::steady_clock::time_point start_, last_draw_;
  int last_decile_ = -1;
  bool finished_ = false;
  std::mutex mutex_;
};

}  // namespace cxr
