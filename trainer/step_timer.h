// Wall-clock accounting of one training step's phases (data wait, forward, backward, exposed
// communication, optimiser), summed over a logging interval. On CUDA the caller synchronises
// before reading the clock when exact phase times are wanted (bench), not in normal training.
#pragma once

#include <array>
#include <chrono>

namespace cxr::trainer {

enum class Phase { kData = 0, kForward, kBackward, kComm, kOptim, kCount };

class StepTimer {
 public:
  void start() { last_ = Clock::now(); }
  // Charges the time since the previous mark to `phase`.
  void mark(Phase phase) {
    auto now = Clock::now();
    ms_[static_cast<size_t>(phase)] += std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
  }
  double ms(Phase phase) const { return ms_[static_cast<size_t>(phase)]; }
  double total_ms() const {
    double t = 0;
    for (double v : ms_) t += v;
    return t;
  }
  void reset() { ms_.fill(0.0); }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point last_ = Clock::now();
  std::array<double, static_cast<size_t>(Phase::kCount)> ms_{};
};

}  // namespace cxr::trainer
