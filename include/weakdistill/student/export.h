// Exporting a saved student in a form other tools read (docs/EXPORT.md): bert-cls and bert-ner
// as Hugging Face transformers folders, fasttext as the .bin the fasttext library and command
// read.
#pragma once

#include <string>
#include <vector>

namespace weakdistill {

struct ExportOptions {
  // The foreign format; "hf" is the only one.
  std::string format = "hf";
  // Replace an existing, non-empty output folder instead of refusing to.
  bool force = false;
};

// Loads the model folder `model_dir` (written by save_student) and writes its export into
// `out_dir`, built beside it and renamed into place (never half-written). Returns the names of
// the files written, sorted. Throws UsageError for an unknown format, a kind without that form
// (naming the kinds that have one), or an existing non-empty `out_dir` without `force`;
// InputError when the model folder does not load or cannot be expressed in the format (e.g. a
// bert-cls pooling that transformers' class does not have).
std::vector<std::string> export_student(const std::string& model_dir, const std::string& out_dir,
                                        const ExportOptions& options = {});

}  // namespace weakdistill
