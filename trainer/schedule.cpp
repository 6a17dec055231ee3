// Learning-rate schedule (see schedule.h).
#include "trainer/schedule.h"

#include <algorithm>
#include <cmath>

namespace cxr::trainer {

double learning_rate(double base_lr, const std::string& schedule, int64_t warmup_steps, int64_t total_steps,
                     int64_t step) {
  // step counts optimiser steps already taken; the rate applies to step + 1.
  if (warmup_steps > 0 && step < warmup_steps) return base_lr * double(step + 1) / double(warmup_steps);
  if (schedule != "cosine" || total_steps <= warmup_steps) return base_lr;
  const double t = std::clamp(double(step - warmup_steps) / double(total_steps - warmup_steps), 0.0, 1.0);
  return base_lr * 0.5 * (1.0 + std::cos(M_PI * t));
}

}  // namespace cxr::trainer
