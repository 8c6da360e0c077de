// The libtorch student kinds, for the plugin entry point in plugin.cc.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>

#include "weakdistill/student/student.h"

namespace weakdistill::neural {

std::unique_ptr<Student> make_bigru_crf(const nlohmann::json& options);
std::unique_ptr<Student> make_pointer_generator(const nlohmann::json& options);
std::unique_ptr<Student> make_textcnn(const nlohmann::json& options);

}  // namespace weakdistill::neural
