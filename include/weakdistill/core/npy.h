// NumPy .npy files (format version 1.0), so that users can load weakdistill's
// vectors with numpy.load.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace weakdistill {

// The .npy header for a C-order little-endian float32 matrix of rows × cols:
// magic, version 1.0, header length, the dict, padded with spaces and ended by
// '\n' so that the data starts at a multiple of 64 bytes.
std::string npy_header_f32(std::size_t rows, std::size_t cols);

// Writes `data` (rows × cols floats, row-major) to `path` atomically.
void write_npy_f32(const std::string& path, const float* data, std::size_t rows, std::size_t cols);

}  // namespace weakdistill
