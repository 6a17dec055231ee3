// Backend choice for model tensors (see model_communicator.h).
#include "comm/model_communicator.h"

#include "comm/host_staged_communicator.h"
#include "comm/local_communicator.h"
#include "comm/mpi_communicator.h"
#include "comm/nccl_communicator.h"
#include "core/error.h"

namespace cxr::comm {

ModelCommunicator model_communicator(Communicator& world, const c10::Device& device, const std::string& backend,
                                     double timeout_s) {
  auto* mpi = dynamic_cast<MpiCommunicator*>(&world);
  ModelCommunicator m;
  if (!device.is_cuda()) {
    if (backend == "nccl")
      throw UserError("train.backend=nccl needs CUDA tensors, but this job trains on the CPU",
                      "use train.backend=auto (MPI on CPU), or train.device=cuda on a GPU node");
    m.comm = &world;
    m.backend = mpi ? "mpi" : "local";
    return m;
  }
  if (backend == "mpi") {
    m.owned = std::make_unique<HostStagedCommunicator>(world);
    m.comm = m.owned.get();
    m.backend = mpi ? "mpi (host-staged)" : "local";
    return m;
  }
  if (!mpi && backend == "nccl")
    throw UserError("train.backend=nccl needs an MPI launcher (mpirun or srun), and this process was started "
                    "without one",
                    "start it with `mpirun -np N cxrtrain ...` (or -np 1), or use train.backend=auto for a single GPU");
  if (!mpi) {  // one process without mpirun: nothing to communicate with
    m.owned = std::make_unique<LocalCommunicator>(/*any_device=*/true);
    m.comm = m.owned.get();
    m.backend = "local";
    return m;
  }
  if (!nccl_backend_available())
    throw UserError("training on " + device.str() + " under MPI needs the NCCL backend, which this build lacks",
                    "rebuild with -DCXR_WITH_NCCL=ON against a CUDA LibTorch and NCCL (NCCL_ROOT)");
  m.owned = make_nccl_communicator(mpi->handle(), device.index(), timeout_s);
  m.comm = m.owned.get();
  m.backend = "nccl";
  return m;
}

}  // namespace cxr::comm
