// libFuzzer entry point of the jsonl target; the checks are in jsonl_target.h.
#include <cstddef>
#include <cstdint>

#include "fuzz/jsonl_target.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return weakdistill::fuzz::run_fuzz_input(weakdistill::fuzz::jsonl_target, data, size);
}
