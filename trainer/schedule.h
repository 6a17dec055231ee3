// Learning-rate schedule: linear warmup over warmup_steps, then constant or cosine decay to 0 at
// total_steps. A pure function of the step, so a resumed run continues on the same curve.
#pragma once

#include <cstdint>
#include <string>

namespace cxr::trainer {

double learning_rate(double base_lr, const std::string& schedule, int64_t warmup_steps, int64_t total_steps,
                     int64_t step);

}  // namespace cxr::trainer
