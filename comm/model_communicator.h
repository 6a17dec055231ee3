// Which communicator carries a model's tensors (gradients, parameters, BatchNorm buffers) for
// train.backend auto|mpi|nccl. Host values (losses, flags, gathered scores) always go over the world
// communicator; only the model's tensors follow the device.
#pragma once

#include <c10/core/Device.h>

#include <memory>
#include <string>

#include "comm/communicator.h"

namespace cxr::comm {

struct ModelCommunicator {
  Communicator* comm = nullptr;          // world itself, or `owned`
  std::unique_ptr<Communicator> owned;   // NCCL, or a device-agnostic local communicator
  std::string backend;                   // "mpi", "nccl" or "local", for logs and benchmark JSON
};

// CPU: `world` (MPI, or local at world size 1); "nccl" is refused. CUDA, "auto" or "nccl": NCCL over
// world's MPI communicator, collective on every rank, its waits bounded by `timeout_s`; "nccl" without an
// MPI launcher is refused (never a silent fall back), "auto" there gives a local communicator that accepts
// CUDA tensors. CUDA, "mpi": the world communicator with every tensor staged through host memory
// (host_staged_communicator.h). CUDA under MPI with "auto"/"nccl" in a build without NCCL is refused.
// Throws UserError naming the setting and what to do instead.
ModelCommunicator model_communicator(Communicator& world, const c10::Device& device, const std::string& backend,
                                     double timeout_s = 600.0);

}  // namespace cxr::comm
