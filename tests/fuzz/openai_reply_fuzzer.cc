// libFuzzer entry point of the openai_reply target; the checks are in openai_reply_target.h.
#include <cstddef>
#include <cstdint>

#include "fuzz/openai_reply_target.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return weakdistill::fuzz::run_fuzz_input(weakdistill::fuzz::openai_reply_target, data, size);
}
