// The libtorch student kinds, for the plugin entry point in plugin.cc.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>

#include "weakdistill/embed/embedder.h"
#include "weakdistill/student/student.h"

namespace weakdistill::neural {

std::unique_ptr<Student> make_bigru_crf(const nlohmann::json& options);
std::unique_ptr<Student> make_pointer_generator(const nlohmann::json& options);
std::unique_ptr<Student> make_textcnn(const nlohmann::json& options);
std::unique_ptr<Student> make_bert_cls(const nlohmann::json& options);
std::unique_ptr<Student> make_bert_ner(const nlohmann::json& options);
std::unique_ptr<Student> make_uie(const nlohmann::json& options);
std::unique_ptr<Student> make_seq2seq(const nlohmann::json& options);

// The `bge` embedder (bge_embedder.cc): `config` is the whole `embedder` section.
std::unique_ptr<Embedder> make_bge_embedder(const nlohmann::json& config);

}  // namespace weakdistill::neural
