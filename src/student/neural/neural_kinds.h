// The libtorch student kinds, for the plugin entry point in plugin.cc.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>

#include "weakdistill/student/student.h"

namespace weakdistill::neural {

}  // namespace weakdistill::neural
