#include "weakdistill/core/utf8.h"

#include <gtest/gtest.h>

namespace weakdistill::utf8 {
namespace {

TEST(Utf8, FindsIllFormedSequences) {
  EXPECT_FALSE(find_invalid("plain ascii").has_value());
  EXPECT_FALSE(find_invalid("中文 and 𝄞").has_value());
  EXPECT_EQ(find_invalid("ab\xff"), 2u);            // invalid lead byte
  EXPECT_EQ(find_invalid("a\xe4\xb8"), 1u);         // truncated 3-byte sequence
  EXPECT_EQ(find_invalid("\xc0\xaf"), 0u);          // overlong '/'
  EXPECT_EQ(find_invalid("\xed\xa0\x80"), 0u);      // UTF-16 surrogate
  EXPECT_EQ(find_invalid("\xf4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_EQ(find_invalid("x\x80"), 1u);             // stray continuation byte
}

TEST(Utf8, DecodeEncodeRoundTrip) {
  const std::string s = "人民日报１９９８ A\u3000😀";
  const std::u32string cps = decode(s);
  EXPECT_EQ(cps.size(), 12u);
  EXPECT_EQ(cps[0], U'人');
  EXPECT_EQ(cps.back(), U'\U0001F600');
  EXPECT_EQ(encode(cps), s);
  EXPECT_EQ(length(s), 12u);
  EXPECT_THROW(decode("\xff"), std::invalid_argument);
}

TEST(Utf8, SpaceIsPythonIsspace) {
  // The exact set of Python 3's str.isspace().
  const char32_t spaces[] = {0x09,   0x0A,   0x0B,   0x0C,   0x0D,   0x1C,   0x1D,
                             0x1E,   0x1F,   0x20,   0x85,   0xA0,   0x1680, 0x2000,
                             0x2005, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000};
  for (char32_t c : spaces) EXPECT_TRUE(is_space(c)) << std::hex << static_cast<unsigned>(c);
  for (char32_t c : {char32_t{0x08}, char32_t{0x200B}, char32_t{0xFEFF}, char32_t{'a'},
                     char32_t{0x4E2D}, char32_t{0x180E}}) {
    EXPECT_FALSE(is_space(c)) << std::hex << static_cast<unsigned>(c);
  }
}

TEST(Utf8, StripBom) {
  EXPECT_EQ(strip_bom("\xEF\xBB\xBF{}"), "{}");
  EXPECT_EQ(strip_bom("{}"), "{}");
}

}  // namespace
}  // namespace weakdistill::utf8
