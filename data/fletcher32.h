// HDF5's Fletcher-32 checksum (the H5Z_FILTER_FLETCHER32 filter), so the raw-chunk reader can check
// a chunk itself: HDF5 stores checksum(data) as 4 little-endian bytes after the chunk's data. Same
// value as HDF5's H5_checksum_fletcher32 (big-endian 16-bit words, sums folded to 16 bits, an odd
// last byte as the high byte of a word); tests compare it with the bytes HDF5 itself writes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cxr::data {

uint32_t fletcher32(const void* data, size_t bytes);

// True when the last 4 bytes of `chunk` (size >= 4) are the checksum of the bytes before them, in
// either byte order HDF5 accepts (it also accepts the word-swapped value written before 1.6.3).
bool fletcher32_chunk_ok(const uint8_t* chunk, size_t size);

}  // namespace cxr::data
