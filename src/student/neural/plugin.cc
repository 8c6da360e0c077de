// The entry point of libweakdistill_neural.so (declared in kinds_internal.h).
#include <string_view>

#include "kinds_internal.h"
#include "neural_kinds.h"

extern "C" weakdistill::Student* weakdistill_neural_make(int task, const char* kind,
                                                         const nlohmann::json* options) {
  using weakdistill::Task;
  const std::string_view k(kind);
  const Task t = static_cast<Task>(task);
  (void)t;
  (void)k;
  (void)options;
  return nullptr;
}
