// libFuzzer entry point of the config target; the checks are in config_target.h.
#include <cstddef>
#include <cstdint>

#include "fuzz/config_target.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return weakdistill::fuzz::run_fuzz_input(weakdistill::fuzz::config_target, data, size);
}
