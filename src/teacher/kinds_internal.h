// The teacher kinds' factories, for the registry in teacher.cc.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>

#include "weakdistill/teacher/teacher.h"

namespace weakdistill::teacher_internal {

std::unique_ptr<Teacher> make_openai(const nlohmann::json& section, const TeacherContext& context);
std::unique_ptr<Teacher> make_pool(const nlohmann::json& section, const TeacherContext& context);
std::unique_ptr<Teacher> make_augment(const nlohmann::json& section, const TeacherContext& context);

}  // namespace weakdistill::teacher_internal
