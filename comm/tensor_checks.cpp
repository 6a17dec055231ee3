// Tensor argument checks (see tensor_checks.h).
#include "comm/tensor_checks.h"

#include <torch/torch.h>

#include <stdexcept>
#include <string>

namespace cxr::comm {

void check_tensor(const at::Tensor& t, const char* op, bool cpu_only) {
  if (!t.defined()) throw std::invalid_argument(std::string(op) + ": the tensor is undefined");
  if (cpu_only && !t.device().is_cpu()) {
    throw std::invalid_argument(std::string(op) + ": the tensor is on " + t.device().str() +
                                "; this backend takes CPU tensors only");
  }
  switch (t.scalar_type()) {
    case at::kFloat: case at::kDouble: case at::kLong: case at::kInt: case at::kByte:
      return;
    default:
      throw std::invalid_argument(std::string(op) + ": dtype " + std::string(c10::toString(t.scalar_type())) +
                                  " is not supported (float32, float64, int64, int32, uint8 are)");
  }
}

void check_in_place_tensor(const at::Tensor& t, const char* op, bool cpu_only) {
  check_tensor(t, op, cpu_only);
  if (!t.is_contiguous()) {
    throw std::invalid_argument(std::string(op) +
                                ": the tensor is not contiguous; it is updated in place, so pass t.contiguous() "
                                "and read the result from that tensor");
  }
}

}  // namespace cxr::comm
