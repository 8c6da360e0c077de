// The constructors of each student kind, for the factory in student.cc.
// Adding a kind: a .cc file under src/student/, a line here, a line in student.cc.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "weakdistill/core/options.h"
#include "weakdistill/embed/embedder.h"
#include "weakdistill/student/student.h"

namespace weakdistill::student_internal {

// Reads `seed` and `threads` (shared by every kind).
CommonOptions read_common(OptionReader& reader);

// The label set of a classifier's training samples, in name order. Throws
// InputError prefixed "<kind>: " when there are no samples, a sample has no
// label, or all share one label.
std::set<std::string> training_labels(const std::vector<Sample>& train, std::string_view kind);

// The task's set metric E of predictions against gold (accuracy, entity F1,
// ROUGE-L F1) and its name, for epoch reports.
std::pair<double, std::string> dev_metric(Task task, const std::vector<Sample>& gold,
                                          const std::vector<Prediction>& predictions);

std::unique_ptr<Student> make_lead(const nlohmann::json& options);
std::unique_ptr<Student> make_fasttext(const nlohmann::json& options);
std::unique_ptr<Student> make_command(Task task, std::string_view kind,
                                      const nlohmann::json& options);

// A libtorch student from libweakdistill_neural.so, loaded on first use
// (core/neural_plugin.h). Throws std::runtime_error saying where the library was looked for.
std::unique_ptr<Student> make_neural(Task task, std::string_view kind,
                                     const nlohmann::json& options);

}  // namespace weakdistill::student_internal

// The symbols libweakdistill_neural.so exports: a new student of `kind`
// (nullptr when the library has no such kind), and a new `bge` embedder.
// Exceptions propagate.
extern "C" weakdistill::Student* weakdistill_neural_make(int task, const char* kind,
                                                         const nlohmann::json* options);
extern "C" weakdistill::Embedder* weakdistill_neural_make_embedder(const nlohmann::json* config);

namespace weakdistill::student_internal {}  // namespace weakdistill::student_internal
