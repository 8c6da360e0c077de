// libFuzzer entry point of the bio target; the checks are in bio_target.h.
#include <cstddef>
#include <cstdint>

#include "fuzz/bio_target.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return weakdistill::fuzz::run_fuzz_input(weakdistill::fuzz::bio_target, data, size);
}
