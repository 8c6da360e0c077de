// The teacher kinds' factories, for the registry in teacher.cc.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>

#include "weakdistill/teacher/teacher.h"

namespace weakdistill::teacher_internal {

std::unique_ptr<Teacher> make_openai(const nlohmann::json& section, const TeacherContext& context);
std::unique_ptr<Teacher> make_pool(const nlohmann::json& section, const TeacherContext& context);
std::unique_ptr<Teacher> make_augment(const nlohmann::json& section, const TeacherContext& context);

// A 64-bit mix of (seed, ordinal) (splitmix64), so that request `ordinal` of an
// offline teacher draws from its own random stream whatever else was asked.
std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t ordinal);

}  // namespace weakdistill::teacher_internal
