#include "weakdistill/core/npy.h"

#include <bit>
#include <cstdint>
#include <stdexcept>

#include "weakdistill/core/atomic_file.h"

namespace weakdistill {

std::string npy_header_f32(std::size_t rows, std::size_t cols) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) +
                     ", " + std::to_string(cols) + "), }";
  // magic (6) + version (2) + length (2) + dict + padding + '\n' ≡ 0 (mod 64)
  const std::size_t unpadded = 10 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  if (dict.size() > 65535) throw std::length_error("npy header too long");
  std::string h("\x93NUMPY\x01\x00", 8);
  h += static_cast<char>(dict.size() & 0xff);
  h += static_cast<char>(dict.size() >> 8);
  return h + dict;
}

void write_npy_f32(const std::string& path, const float* data, std::size_t rows, std::size_t cols) {
  static_assert(std::endian::native == std::endian::little, "npy '<f4' is written as is");
  AtomicFile out(path);
  out.stream() << npy_header_f32(rows, cols);
  out.stream().write(reinterpret_cast<const char*>(data),
                     static_cast<std::streamsize>(rows * cols * sizeof(float)));
  out.commit();
}

}  // namespace weakdistill
