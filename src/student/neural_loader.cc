// The libtorch student kinds, from libweakdistill_neural.so (core/neural_plugin.h).
#include "kinds_internal.h"
#include "weakdistill/core/neural_plugin.h"

namespace weakdistill::student_internal {

std::unique_ptr<Student> make_neural(Task task, std::string_view kind,
                                     const nlohmann::json& options) {
  using MakeFn = Student* (*)(int, const char*, const nlohmann::json*);
  const auto make = reinterpret_cast<MakeFn>(neural_plugin_symbol("weakdistill_neural_make"));
  Student* s = make(static_cast<int>(task), std::string(kind).c_str(), &options);
  if (!s)
    throw std::logic_error("libweakdistill_neural.so has no student kind " + std::string(kind));
  return std::unique_ptr<Student>(s);
}

}  // namespace weakdistill::student_internal
