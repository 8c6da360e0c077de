// The entry points of libweakdistill_neural.so (declared in kinds_internal.h).
#include <string_view>

#include "kinds_internal.h"
#include "neural_kinds.h"

extern "C" weakdistill::Student* weakdistill_neural_make(int task, const char* kind,
                                                         const nlohmann::json* options) {
  using weakdistill::Task;
  const std::string_view k(kind);
  const Task t = static_cast<Task>(task);
  if (t == Task::kClassification && k == "textcnn")
    return weakdistill::neural::make_textcnn(*options).release();
  if (t == Task::kNer && k == "bigru-crf")
    return weakdistill::neural::make_bigru_crf(*options).release();
  if (t == Task::kClassification && k == "bert-cls")
    return weakdistill::neural::make_bert_cls(*options).release();
  if (t == Task::kNer && k == "bert-ner")
    return weakdistill::neural::make_bert_ner(*options).release();
  if (t == Task::kSummarization && k == "seq2seq")
    return weakdistill::neural::make_seq2seq(*options).release();
  if (t == Task::kNer && k == "uie") return weakdistill::neural::make_uie(*options).release();
  if (t == Task::kSummarization && k == "pointer-generator")
    return weakdistill::neural::make_pointer_generator(*options).release();
  (void)t;
  (void)k;
  (void)options;
  return nullptr;
}

extern "C" weakdistill::Embedder* weakdistill_neural_make_embedder(const nlohmann::json* config) {
  return weakdistill::neural::make_bge_embedder(*config).release();
}
