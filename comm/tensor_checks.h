// Argument checks shared by every backend, so that a tensor a collective cannot take fails the same
// way at world size 1 as at world size 64: std::invalid_argument naming the operation and the problem.
#pragma once

#include <ATen/core/Tensor.h>

namespace cxr::comm {

// Defined, on the CPU (any device when !cpu_only), of a supported dtype (float32, float64, int64, int32, uint8).
void check_tensor(const at::Tensor& t, const char* op, bool cpu_only = true);
// check_tensor() and contiguous: for collectives that write into `t` in place.
void check_in_place_tensor(const at::Tensor& t, const char* op, bool cpu_only = true);

}  // namespace cxr::comm
