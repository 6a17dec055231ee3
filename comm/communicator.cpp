// The plain-value conveniences of Communicator (see communicator.h), written once for every backend
// on top of its tensor collectives.
#include "comm/communicator.h"

#include <torch/torch.h>

#include <cstring>

namespace cxr::comm {

double Communicator::all_reduce_sum(double value) {
  at::Tensor t = torch::full({1}, value, torch::kFloat64);
  all_reduce_sum(t);
  return t.item<double>();
}

double Communicator::all_reduce_max(double value) {
  at::Tensor t = torch::full({1}, value, torch::kFloat64);
  all_reduce_max(t);
  return t.item<double>();
}

std::vector<double> Communicator::all_gather(double value) {
  at::Tensor gathered = all_gather(torch::full({1}, value, torch::kFloat64));
  const double* p = gathered.data_ptr<double>();
  return std::vector<double>(p, p + gathered.numel());
}

std::string Communicator::broadcast_string(const std::string& text, int root) {
  // Length first, so that non-root ranks can size their buffer.
  at::Tensor length = torch::full({1}, static_cast<int64_t>(text.size()), torch::kInt64);
  broadcast(length, root);
  at::Tensor bytes = torch::empty({length.item<int64_t>()}, torch::kUInt8);
  if (rank() == root && !text.empty()) std::memcpy(bytes.data_ptr<uint8_t>(), text.data(), text.size());
  broadcast(bytes, root);
  if (bytes.numel() == 0) return std::string();
  return std::string(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), static_cast<size_t>(bytes.numel()));
}

}  // namespace cxr::comm
