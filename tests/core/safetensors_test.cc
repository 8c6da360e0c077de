#include "weakdistill/core/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>

#include "support/temp_dir.h"
#include "weakdistill/core/error.h"

namespace weakdistill {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::uint32_t bits(float f) { return std::bit_cast<std::uint32_t>(f); }
float from_bits(std::uint32_t u) { return std::bit_cast<float>(u); }

// A safetensors file assembled byte by byte, independently of write_safetensors: the 8-byte
// little-endian length of `header`, `header`, then `data`.
std::string file_bytes(const std::string& header, const std::string& data,
                       std::uint64_t header_len = std::numeric_limits<std::uint64_t>::max()) {
  if (header_len == std::numeric_limits<std::uint64_t>::max()) header_len = header.size();
  std::string out;
  for (int i = 0; i < 8; ++i) out += static_cast<char>((header_len >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string le16(std::uint16_t v) {
  return {static_cast<char>(v & 0xff), static_cast<char>(v >> 8)};
}
std::string le32(std::uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// The message of the InputError that opening `path` throws ("" if none).
std::string open_error(const std::string& path) {
  try {
    SafetensorsFile f(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// ---- conversions, values checked by hand ----

TEST(F16, DecodesHandCheckedValues) {
  EXPECT_EQ(f16_to_f32(0x3C00), 1.0f);      // exponent 15 (bias 15), mantissa 0
  EXPECT_EQ(f16_to_f32(0xC000), -2.0f);     // sign, exponent 16
  EXPECT_EQ(f16_to_f32(0x7BFF), 65504.0f);  // 2^15 × (1 + 1023/1024), the largest half
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));     // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x03FF), std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(f16_to_f32(0x0400), std::ldexp(1.0f, -14));     // smallest normal
  EXPECT_EQ(f16_to_f32(0x3555), 0.333251953125f);           // 2^-2 × (1 + 341/1024) = 1365/4096
  EXPECT_EQ(bits(f16_to_f32(0x0000)), 0x00000000u);
  EXPECT_EQ(bits(f16_to_f32(0x8000)), 0x80000000u);  // -0 keeps its sign
  EXPECT_EQ(f16_to_f32(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(f16_to_f32(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7E00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7C01)));  // a signalling NaN stays a NaN
  EXPECT_TRUE(std::signbit(f16_to_f32(0xFE00)));
}

TEST(F16, EncodesRoundingToNearestEven) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xC000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7BFF);
  // 0.1 = 1.6 × 2^-4: exponent 11 -> 0x2C00; mantissa 0.6 × 1024 = 614.4 -> 614 = 0x266.
  EXPECT_EQ(f32_to_f16(0.1f), 0x2E66);
  // Half spacing at 1 is 2^-10. 1 + 2^-11 is halfway between 0x3C00 (even) and 0x3C01: down.
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  // 1 + 3·2^-11 is halfway between 0x3C01 (odd) and 0x3C02 (even): up.
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  // Just above the first halfway point: up.
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3C01);
  // Just below 65520 (halfway between 65504 and 65536) stays finite; 65520 itself ties to the
  // even neighbour, which is 2^16 = infinity (65504 has the odd mantissa 0x3FF).
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);
  EXPECT_EQ(f32_to_f16(1e10f), 0x7C00);
  EXPECT_EQ(f32_to_f16(-1e10f), 0xFC00);
  // Subnormals, in units of 2^-24.
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);     // half a unit: tie to even 0
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0001f, -25)), 0x0001);  // a bit more: up
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);     // 1.5 units: tie to even 2
  EXPECT_EQ(f32_to_f16(std::ldexp(5.0f, -25)), 0x0002);     // 2.5 units: tie to even 2
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -26)), 0x0000);
  // 1023.5 units: tie between 0x03FF (odd) and 0x0400, the smallest normal.
  EXPECT_EQ(f32_to_f16(std::ldexp(2047.0f, -25)), 0x0400);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::infinity()), 0xFC00);
  const std::uint16_t nan = f32_to_f16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7C00, 0x7C00);
  EXPECT_NE(nan & 0x03FF, 0);
  // A NaN whose payload lies only in the 13 dropped bits must not become infinity.
  EXPECT_NE(f32_to_f16(from_bits(0x7F800001)) & 0x03FF, 0);
}

TEST(Bf16, DecodesHandCheckedValues) {
  EXPECT_EQ(bf16_to_f32(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xC000), -2.0f);
  EXPECT_EQ(bf16_to_f32(0x4049), 3.140625f);               // 2 × (1 + 73/128)
  EXPECT_EQ(bf16_to_f32(0x0001), std::ldexp(1.0f, -133));  // smallest subnormal: 2^-126 × 2^-7
  EXPECT_EQ(bf16_to_f32(0x7F80), std::numeric_limits<float>::infinity());
  EXPECT_EQ(bf16_to_f32(0xFF80), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(bf16_to_f32(0x7FC0)));
  EXPECT_EQ(bits(bf16_to_f32(0x8000)), 0x80000000u);
}

TEST(Bf16, EncodesRoundingToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(f32_to_bf16(3.140625f), 0x4049);
  // 0.1f = 0x3DCCCCCD: the dropped half 0xCCCD > 0x8000, so up to 0x3DCD.
  EXPECT_EQ(f32_to_bf16(0.1f), 0x3DCD);
  // bf16 spacing at 1 is 2^-7. 1 + 2^-8 ties to 0x3F80 (even); 1 + 3·2^-8 ties to 0x3F82.
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 0x3F81);
  // FLT_MAX = (2 - 2^-23)·2^127 is past the halfway point (2 - 2^-8)·2^127 above the largest
  // bf16 (2 - 2^-7)·2^127: infinity.
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7F80);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  // A NaN whose payload lies only in the 16 dropped bits must stay a NaN.
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(from_bits(0x7F800001)))));
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(from_bits(0xFF800001)))));
}

// A brute-force oracle: the representable neighbours of `f` (decoded with the hand-checked
// decoders above), the nearest one in double arithmetic, ties to the even bit pattern.
template <typename Decode>
std::uint16_t nearest_even(float f, Decode decode, std::uint16_t inf_bits) {
  const double x = std::fabs(static_cast<double>(f));
  // The largest non-negative pattern whose value is <= x, by binary search.
  std::uint32_t lo = 0, hi = inf_bits;  // decode(hi) = inf > x
  while (hi - lo > 1) {
    const std::uint32_t mid = (lo + hi) / 2;
    (static_cast<double>(decode(static_cast<std::uint16_t>(mid))) <= x ? lo : hi) = mid;
  }
  const double below = decode(static_cast<std::uint16_t>(lo));
  // Past the largest finite value, the value it would have with an unbounded exponent.
  const double above = hi == inf_bits ? below + (below - decode(static_cast<std::uint16_t>(lo - 1)))
                                      : decode(static_cast<std::uint16_t>(hi));
  std::uint32_t pick;
  if (x - below < above - x) {
    pick = lo;
  } else if (x - below > above - x) {
    pick = hi;
  } else {
    pick = (lo % 2 == 0) ? lo : hi;
  }
  return static_cast<std::uint16_t>(pick | (std::signbit(f) ? 0x8000u : 0u));
}

// Random floats around the half range: every exponent from far below the subnormals to past the
// largest half, random mantissas, and a share of exact ties.
std::vector<float> random_floats(std::size_t n, int min_exp, int max_exp, int dropped_bits) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> exp(min_exp, max_exp);
  std::uniform_int_distribution<std::uint32_t> mant(0, 0x7fffff);
  std::vector<float> v;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t m = mant(rng);
    if (i % 4 == 0) m = (m & ~((1u << dropped_bits) - 1)) | (1u << (dropped_bits - 1));  // a tie
    const std::uint32_t sign = (i % 3 == 0) ? 0x80000000u : 0u;
    v.push_back(from_bits(sign | std::uint32_t(exp(rng)) << 23 | m));
  }
  return v;
}

TEST(F16, EncodesAsTheBruteForceNearestEven) {
  // Biased float exponents 95..145: 2^-32 (rounds to 0) .. 2^18 (infinity).
  for (const float f : random_floats(20000, 95, 145, 13)) {
    ASSERT_EQ(f32_to_f16(f), nearest_even(f, f16_to_f32, 0x7C00)) << f << " bits " << bits(f);
  }
}

TEST(Bf16, EncodesAsTheBruteForceNearestEven) {
  for (const float f : random_floats(20000, 0, 254, 16)) {
    ASSERT_EQ(f32_to_bf16(f), nearest_even(f, bf16_to_f32, 0x7F80)) << f << " bits " << bits(f);
  }
}

// numpy's float16 as an independent implementation: f32 -> f16 on random values (ties
// included), and f16 -> f32 on all 65,536 patterns.
TEST(F16, AgreesWithNumpy) {
  const char* python = "/usr/bin/python3";
  if (std::system((std::string(python) + " -c 'import numpy' 2>/dev/null").c_str()) != 0) {
    GTEST_SKIP() << python << " with numpy is not available (scripts/setup.sh installs it)";
  }
  testing::TempDir dir;
  std::vector<float> in = random_floats(100000, 95, 145, 13);
  for (const float f : {0.0f, -0.0f, 65504.0f, 65520.0f, 1e-8f, std::numeric_limits<float>::max(),
                        std::numeric_limits<float>::infinity()}) {
    in.push_back(f);
  }
  {
    std::ofstream out(dir.file("in.f32"), std::ios::binary);
    out.write(reinterpret_cast<const char*>(in.data()),
              static_cast<std::streamsize>(in.size() * 4));
  }
  const std::string script =
      "import sys, numpy as np\n"
      "with np.errstate(all='ignore'):\n"
      "    np.fromfile(sys.argv[1], dtype='<f4').astype('<f2').tofile(sys.argv[2])\n"
      "    np.arange(65536, dtype='<u2').view('<f2').astype('<f4').tofile(sys.argv[3])\n";
  const std::string script_path = dir.write("convert.py", script);
  const std::string cmd = std::string(python) + " '" + script_path + "' '" + dir.file("in.f32") +
                          "' '" + dir.file("out.f16") + "' '" + dir.file("all.f32") + "'";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd;

  const std::string f16 = testing::read_file(dir.file("out.f16"));
  ASSERT_EQ(f16.size(), in.size() * 2);
  for (std::size_t i = 0; i < in.size(); ++i) {
    std::uint16_t want;
    std::memcpy(&want, f16.data() + 2 * i, 2);
    ASSERT_EQ(f32_to_f16(in[i]), want) << "f32 " << in[i] << " (bits " << bits(in[i]) << ")";
  }
  const std::string all = testing::read_file(dir.file("all.f32"));
  ASSERT_EQ(all.size(), 65536u * 4);
  for (std::uint32_t h = 0; h < 65536; ++h) {
    float want;
    std::memcpy(&want, all.data() + 4 * h, 4);
    const float got = f16_to_f32(static_cast<std::uint16_t>(h));
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got)) << "f16 " << h;  // payload bits may differ (hardware quieting)
    } else {
      ASSERT_EQ(bits(got), bits(want)) << "f16 " << h;
    }
  }
}

// ---- reading ----

TEST(Safetensors, DtypeNamesAndSizes) {
  EXPECT_STREQ(safetensors_dtype_name(SafetensorsDtype::kBF16), "BF16");
  EXPECT_STREQ(safetensors_dtype_name(SafetensorsDtype::kBool), "BOOL");
  EXPECT_EQ(safetensors_dtype_size(SafetensorsDtype::kF16), 2u);
  EXPECT_EQ(safetensors_dtype_size(SafetensorsDtype::kF64), 8u);
  EXPECT_EQ(safetensors_dtype_size(SafetensorsDtype::kBool), 1u);
}

TEST(Safetensors, ReadsAFileAssembledByHand) {
  testing::TempDir dir;
  // The data section: a F16 [2] at 0..4 (1.0, -2.0), a BF16 scalar at 4..6 (1.0), a F32 [1, 2]
  // at the unaligned offset 6..14 (0.5, -3), an I32 [1] at 14..18, a F64 [1] at 18..26.
  const std::string header = R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
                             R"("__metadata__":{"format":"pt","note":"hand"},)"
                             R"("b":{"dtype":"BF16","shape":[],"data_offsets":[4,6]},)"
                             R"("c":{"dtype":"F32","shape":[1,2],"data_offsets":[6,14]},)"
                             R"("i":{"dtype":"I32","shape":[1],"data_offsets":[14,18]},)"
                             R"("d":{"dtype":"F64","shape":[1],"data_offsets":[18,26]},)"
                             R"("empty":{"dtype":"F32","shape":[0,3],"data_offsets":[26,26]}})";
  std::string data =
      le16(0x3C00) + le16(0xC000) + le16(0x3F80) + le32(0x3F000000) + le32(0xC0400000) + le32(7);
  // 0.25 as a double: exponent 1021 = 0x3FD -> 0x3FD0000000000000.
  data += std::string("\0\0\0\0\0\0\xd0\x3f", 8);
  const std::string path = dir.write("m.safetensors", file_bytes(header, data));

  SafetensorsFile f(path);
  EXPECT_EQ(f.path(), path);
  ASSERT_EQ(f.tensors().size(), 6u);
  std::vector<std::string> names;
  for (const auto& t : f.tensors()) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c", "d", "empty", "i"}));
  EXPECT_EQ(f.metadata(), (std::map<std::string, std::string>{{"format", "pt"}, {"note", "hand"}}));
  EXPECT_EQ(f.find("zzz"), nullptr);

  const auto* a = f.find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, SafetensorsDtype::kF16);
  EXPECT_EQ(a->shape, (std::vector<std::int64_t>{2}));
  EXPECT_EQ(a->begin, 0u);
  EXPECT_EQ(a->end, 4u);
  EXPECT_EQ(f.to_f32(*a), (std::vector<float>{1.0f, -2.0f}));
  const auto* b = f.find("b");
  EXPECT_EQ(b->numel(), 1);
  EXPECT_EQ(f.to_f32(*b), (std::vector<float>{1.0f}));
  EXPECT_EQ(f.to_f32(*f.find("c")), (std::vector<float>{0.5f, -3.0f}));
  EXPECT_EQ(f.to_f32(*f.find("d")), (std::vector<float>{0.25f}));
  EXPECT_EQ(f.find("empty")->numel(), 0);
  EXPECT_TRUE(f.to_f32(*f.find("empty")).empty());
  const auto* i = f.find("i");
  std::int32_t seven;
  std::memcpy(&seven, f.data(*i), 4);
  EXPECT_EQ(seven, 7);
  try {
    f.to_f32(*i);
    FAIL() << "I32 converted to float";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr(path), HasSubstr("\"i\""), HasSubstr("I32")));
  }
}

TEST(Safetensors, RoundTripsF32F16Bf16) {
  testing::TempDir dir;
  const std::string path = dir.file("out.safetensors");
  const std::vector<float> exact = {0.0f, 1.0f, -2.0f, 0.5f, 65504.0f, -0.25f};
  const std::vector<float> inexact = {0.1f, 3.14159265f, -1e-5f, 1e4f, 12345.678f, 7e-8f};
  write_safetensors(path,
                    {{"z.f32", {2, 3}, inexact, SafetensorsDtype::kF32},
                     {"a.f16", {6}, exact, SafetensorsDtype::kF16},
                     {"m.bf16", {3, 2}, inexact, SafetensorsDtype::kBF16},
                     {"b.f16", {1, 6}, inexact, SafetensorsDtype::kF16},
                     {"s", {}, {42.0f}, SafetensorsDtype::kF32},
                     {"e", {0}, {}, SafetensorsDtype::kF16}},
                    {{"format", "pt"}});
  const std::string bytes = testing::read_file(path);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(n % 8, 0u) << "header not padded to 8 bytes";
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.front(), '{');
  EXPECT_EQ(header.find_last_not_of(' '), header.rfind('}'));
  // 6·2 + 6·2 + 0 + 6·2 + 1·4 + 6·4 bytes of data.
  EXPECT_EQ(bytes.size(), 8 + n + 12 + 12 + 12 + 4 + 24);

  SafetensorsFile f(path);
  std::vector<std::string> names;
  for (const auto& t : f.tensors()) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a.f16", "b.f16", "e", "m.bf16", "s", "z.f32"}));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  // Data laid out in name order, back to back.
  EXPECT_EQ(f.find("a.f16")->begin, 0u);
  EXPECT_EQ(f.find("b.f16")->begin, 12u);
  EXPECT_EQ(f.find("m.bf16")->begin, 24u);
  EXPECT_EQ(f.find("m.bf16")->shape, (std::vector<std::int64_t>{3, 2}));
  EXPECT_EQ(f.find("s")->shape, std::vector<std::int64_t>{});

  EXPECT_EQ(f.to_f32(*f.find("a.f16")), exact);
  EXPECT_EQ(f.to_f32(*f.find("z.f32")), inexact);
  EXPECT_EQ(f.to_f32(*f.find("s")), std::vector<float>{42.0f});
  EXPECT_TRUE(f.to_f32(*f.find("e")).empty());
  const auto f16 = f.to_f32(*f.find("b.f16"));
  const auto bf16 = f.to_f32(*f.find("m.bf16"));
  for (std::size_t i = 0; i < inexact.size(); ++i) {
    EXPECT_EQ(f16[i], f16_to_f32(f32_to_f16(inexact[i])));
    EXPECT_EQ(bf16[i], bf16_to_f32(f32_to_bf16(inexact[i])));
    EXPECT_NEAR(f16[i], inexact[i], std::fabs(inexact[i]) * 1e-3 + 6e-8);
    EXPECT_NEAR(bf16[i], inexact[i], std::fabs(inexact[i]) * 8e-3);
  }
  std::vector<float> out(6);
  f.to_f32(*f.find("m.bf16"), out.data());
  EXPECT_EQ(out, bf16);

  // Overwriting replaces the file whole.
  write_safetensors(path, {{"only", {1}, {2.0f}, SafetensorsDtype::kBF16}});
  SafetensorsFile g(path);
  ASSERT_EQ(g.tensors().size(), 1u);
  EXPECT_TRUE(g.metadata().empty());
  EXPECT_EQ(g.to_f32(g.tensors()[0]), std::vector<float>{2.0f});
}

TEST(Safetensors, KeepsInfinitiesAndNan) {
  testing::TempDir dir;
  const std::string path = dir.file("x.safetensors");
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> v = {inf, -inf, std::numeric_limits<float>::quiet_NaN(), 1e6f};
  write_safetensors(
      path, {{"h", {4}, v, SafetensorsDtype::kF16}, {"b", {4}, v, SafetensorsDtype::kBF16}});
  SafetensorsFile f(path);
  const auto h = f.to_f32(*f.find("h"));
  EXPECT_EQ(h[0], inf);
  EXPECT_EQ(h[1], -inf);
  EXPECT_TRUE(std::isnan(h[2]));
  EXPECT_EQ(h[3], inf);  // 1e6 is past the largest half
  const auto b = f.to_f32(*f.find("b"));
  EXPECT_EQ(b[0], inf);
  EXPECT_EQ(b[1], -inf);
  EXPECT_TRUE(std::isnan(b[2]));
  EXPECT_EQ(b[3], 999424.0f);  // 1e6 = 0x49742400 -> 0x4974 (0x2400 < 0x8000): 2^19 × 1.90625
}

TEST(Safetensors, WriterRejectsDuplicatesAndCountMismatches) {
  testing::TempDir dir;
  const std::string path = dir.file("w.safetensors");
  try {
    write_safetensors(path, {{"x", {1}, {1.0f}}, {"x", {1}, {2.0f}}});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr(path), HasSubstr("duplicate"), HasSubstr("\"x\"")));
  }
  try {
    write_safetensors(path, {{"y", {2, 2}, {1.0f, 2.0f, 3.0f}}});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr(path), HasSubstr("\"y\""), HasSubstr("3 values"),
                                HasSubstr("[2, 2]")));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

// ---- validation: one test per problem; each message names the file and the problem ----

class SafetensorsInvalid : public ::testing::Test {
 protected:
  std::string error_for(const std::string& bytes) {
    path_ = dir_.write("bad.safetensors", bytes);
    return open_error(path_);
  }
  std::string tensor(const std::string& body) { return R"({"t":)" + body + "}"; }
  testing::TempDir dir_;
  std::string path_;
};

TEST_F(SafetensorsInvalid, MissingFile) {
  const std::string path = dir_.file("absent.safetensors");
  EXPECT_THAT(open_error(path), AllOf(HasSubstr(path), HasSubstr("cannot open")));
}

TEST_F(SafetensorsInvalid, ShorterThanTheLength) {
  EXPECT_THAT(error_for("abc"),
              AllOf(HasSubstr(path_), HasSubstr("truncated"), HasSubstr("3 bytes")));
  EXPECT_THAT(error_for(""), AllOf(HasSubstr(path_), HasSubstr("0 bytes")));
}

TEST_F(SafetensorsInvalid, HeaderLengthPastTheEnd) {
  EXPECT_THAT(error_for(file_bytes("{}", "", 100)),
              AllOf(HasSubstr(path_), HasSubstr("header length 100 runs past the end"),
                    HasSubstr("10 bytes")));
}

TEST_F(SafetensorsInvalid, HeaderTooLarge) {
  EXPECT_THAT(error_for(file_bytes("{}", "", 1ull << 40)),
              AllOf(HasSubstr(path_), HasSubstr("exceeds the limit")));
}

TEST_F(SafetensorsInvalid, HeaderNotJson) {
  EXPECT_THAT(error_for(file_bytes("{not json", "")),
              AllOf(HasSubstr(path_), HasSubstr("header is not valid JSON")));
}

TEST_F(SafetensorsInvalid, HeaderNotAnObject) {
  EXPECT_THAT(error_for(file_bytes("[1, 2]", "")),
              AllOf(HasSubstr(path_), HasSubstr("header is not a JSON object")));
  EXPECT_THAT(error_for(file_bytes(R"({"t": 3})", "")),
              AllOf(HasSubstr(path_), HasSubstr("tensor \"t\": entry is not a JSON object")));
}

TEST_F(SafetensorsInvalid, MissingFields) {
  EXPECT_THAT(error_for(file_bytes(tensor(R"({"shape":[1],"data_offsets":[0,4]})"), "abcd")),
              AllOf(HasSubstr(path_), HasSubstr("tensor \"t\": missing field \"dtype\"")));
  EXPECT_THAT(error_for(file_bytes(tensor(R"({"dtype":"F32","data_offsets":[0,4]})"), "abcd")),
              AllOf(HasSubstr(path_), HasSubstr("tensor \"t\": missing field \"shape\"")));
  EXPECT_THAT(error_for(file_bytes(tensor(R"({"dtype":"F32","shape":[1]})"), "abcd")),
              AllOf(HasSubstr(path_), HasSubstr("tensor \"t\": missing field \"data_offsets\"")));
}

TEST_F(SafetensorsInvalid, UnknownDtype) {
  EXPECT_THAT(
      error_for(file_bytes(tensor(R"({"dtype":"Q4","shape":[1],"data_offsets":[0,1]})"), "a")),
      AllOf(HasSubstr(path_), HasSubstr("tensor \"t\": unknown dtype \"Q4\"")));
}

TEST_F(SafetensorsInvalid, NegativeDimension) {
  EXPECT_THAT(
      error_for(file_bytes(tensor(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})"), "abcd")),
      AllOf(HasSubstr(path_), HasSubstr("tensor \"t\": negative dimension")));
}

TEST_F(SafetensorsInvalid, OffsetsDoNotMatchTheShape) {
  // [3] of F32 needs 12 bytes, the offsets span 8.
  EXPECT_THAT(error_for(file_bytes(tensor(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})"),
                                   std::string(12, 'x'))),
              AllOf(HasSubstr(path_), HasSubstr("tensor \"t\""), HasSubstr("span 8 bytes"),
                    HasSubstr("needs 12")));
  // end before begin.
  EXPECT_THAT(error_for(file_bytes(tensor(R"({"dtype":"U8","shape":[2],"data_offsets":[4,2]})"),
                                   std::string(4, 'x'))),
              AllOf(HasSubstr(path_), HasSubstr("negative number of bytes")));
  EXPECT_THAT(error_for(file_bytes(tensor(R"({"dtype":"U8","shape":[2],"data_offsets":[0]})"),
                                   std::string(4, 'x'))),
              AllOf(HasSubstr(path_), HasSubstr("\"data_offsets\" is not [begin, end]")));
}

TEST_F(SafetensorsInvalid, TensorsOverlap) {
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  EXPECT_THAT(error_for(file_bytes(header, std::string(12, 'x'))),
              AllOf(HasSubstr(path_), HasSubstr("\"a\" [0, 8)"), HasSubstr("\"b\" [4, 12)"),
                    HasSubstr("overlap")));
}

TEST_F(SafetensorsInvalid, DataPastTheEnd) {
  // A truncated download: the header promises 16 bytes, 8 arrived.
  EXPECT_THAT(error_for(file_bytes(tensor(R"({"dtype":"F32","shape":[4],"data_offsets":[0,16]})"),
                                   std::string(8, 'x'))),
              AllOf(HasSubstr(path_), HasSubstr("tensor \"t\""),
                    HasSubstr("run past the end of the file"), HasSubstr("has 8 bytes")));
}

TEST_F(SafetensorsInvalid, MetadataNotStrings) {
  EXPECT_THAT(error_for(file_bytes(R"({"__metadata__":{"k":1}})", "")),
              AllOf(HasSubstr(path_), HasSubstr("\"__metadata__\" value of \"k\"")));
}

}  // namespace
}  // namespace weakdistill
