// Work only rank 0 does (the Grad-CAM pass, the phantom a study synthesizes, the seed statistics) while the
// other ranks wait for it without spinning: an MPI barrier busy-polls a core that rank 0 needs, so they wait
// in a non-blocking all-reduce polled with sleeps.
#pragma once

#include <functional>

#include "comm/communicator.h"

namespace cxr::comm {

// Collective over `comm`: rank 0 runs `body`, then every rank returns. An exception on rank 0 propagates
// there without releasing the others (the caller's fail-fast, launch::run_or_abort, ends the job); on one
// rank this is just body().
void on_root_only(Communicator& comm, const std::function<void()>& body);

// The sum of `value` over the ranks, waiting without spinning: for ranks that may arrive long before the
// others (a seed group done while another still trains).
double all_reduce_sum_quietly(Communicator& comm, double value);

}  // namespace cxr::comm
