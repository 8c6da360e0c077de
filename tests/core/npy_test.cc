#include "weakdistill/core/npy.h"

#include <gtest/gtest.h>

#include <cstring>

#include "support/temp_dir.h"

namespace weakdistill {
namespace {

TEST(Npy, HeaderIsVersionOneAlignedTo64) {
  const std::string h = npy_header_f32(3, 2);
  // The dict as NumPy itself writes it for np.zeros((3, 2), np.float32).
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }";
  ASSERT_EQ(h.size() % 64, 0u);
  EXPECT_EQ(h.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const std::size_t len = static_cast<unsigned char>(h[8]) | static_cast<unsigned char>(h[9]) << 8;
  EXPECT_EQ(len, h.size() - 10);
  EXPECT_EQ(h.substr(10, dict.size()), dict);
  EXPECT_EQ(h.back(), '\n');
  for (std::size_t i = 10 + dict.size(); i + 1 < h.size(); ++i) EXPECT_EQ(h[i], ' ');
}

TEST(Npy, WritesHeaderThenRawFloats) {
  testing::TempDir dir;
  const float data[6] = {1, -2, 0.5f, 3, 4, 1e-3f};
  write_npy_f32(dir.file("v.npy"), data, 2, 3);
  const std::string bytes = testing::read_file(dir.file("v.npy"));
  const std::string h = npy_header_f32(2, 3);
  ASSERT_EQ(bytes.size(), h.size() + sizeof data);
  EXPECT_EQ(bytes.substr(0, h.size()), h);
  EXPECT_EQ(std::memcmp(bytes.data() + h.size(), data, sizeof data), 0);
}

}  // namespace
}  // namespace weakdistill
