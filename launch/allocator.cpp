// Heap settings for training (see allocator.h).
#include "launch/allocator.h"

#include <climits>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace cxr::launch {

bool use_training_heap() {
#if defined(__GLIBC__)
  // M_MMAP_MAX = 0: no block gets its own mapping, whatever its size (an M_MMAP_THRESHOLD is capped
  // at 32 MiB, below a 256 px ResNet-50's activations). M_TRIM_THRESHOLD: the top of the heap is
  // returned to the kernel only beyond 2 GiB free, i.e. in practice never during training.
  const bool mmap_off = mallopt(M_MMAP_MAX, 0) == 1;
  const bool trim_off = mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1;
  return mmap_off && trim_off;
#else
  return true;
#endif
}

}  // namespace cxr::launch
