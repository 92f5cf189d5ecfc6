// Process-wide allocator settings for batch work, applied once at the start of `main`.
#pragma once

namespace visrec {

// glibc's malloc hands blocks above a moving threshold straight to mmap and gives freed memory at
// the top of the heap back to the kernel; a CNN forward pass frees and reallocates the same
// multi-megabyte activations every batch, so each batch faulted its pages in again: ResNet-50 bf16
// at batch 8 ran at half speed, with ~5x the page faults (tools/bench-extract.sh). This keeps
// blocks up to 32 MB (glibc's maximum) on the heap and stops trimming it. Does nothing when the
// user set GLIBC_TUNABLES (their choice wins) or off glibc. Returns whether it changed anything.
bool TuneAllocatorForBatchWork();

}  // namespace visrec
