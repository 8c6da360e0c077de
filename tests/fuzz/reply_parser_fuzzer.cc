// libFuzzer entry point of the reply_parser target; the checks are in reply_parser_target.h.
#include <cstddef>
#include <cstdint>

#include "fuzz/reply_parser_target.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return weakdistill::fuzz::run_fuzz_input(weakdistill::fuzz::reply_parser_target, data, size);
}
