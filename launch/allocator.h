// Process-wide heap settings for training. glibc's default malloc hands every large block (above a
// threshold that adapts, at most 32 MiB) back to the kernel on free and maps fresh zeroed pages on the
// next allocation, so each step pays page faults for every activation and gradient buffer; measured on
// ResNet-50, 128 px, batch 16, one thread: ~5 % of the step. Keeping freed memory in the heap avoids it.
#pragma once

namespace cxr::launch {

// Serve every allocation from the heap (no per-block mmap) and never shrink it: the peak memory of a
// training step stays mapped and is reused by the next step. Call once, before the model is built.
// glibc only; elsewhere a no-op. Returns false if glibc refused a setting.
bool use_training_heap();

}  // namespace cxr::launch
