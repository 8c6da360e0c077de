#include "weakdistill/student/export.h"

#include <algorithm>
#include <filesystem>

#include "weakdistill/core/atomic_file.h"
#include "weakdistill/core/error.h"
#include "weakdistill/student/student.h"

namespace weakdistill {

namespace fs = std::filesystem;

std::vector<std::string> export_student(const std::string& model_dir, const std::string& out_dir,
                                        const ExportOptions& options) {
  if (options.format != "hf") {
    throw UsageError("export: unknown format '" + options.format + "' (known: hf)");
  }
  std::error_code ec;
  if (fs::exists(out_dir, ec)) {
    if (!fs::is_directory(out_dir, ec)) {
      throw UsageError("export: " + out_dir + " exists and is not a folder");
    }
    if (!fs::is_empty(out_dir, ec) && !options.force) {
      throw UsageError("export: " + out_dir +
                       " exists and is not empty; remove it, or pass --force to replace it");
    }
  }
  if (fs::weakly_canonical(model_dir) == fs::weakly_canonical(out_dir)) {
    throw UsageError("export: the output folder is the model folder " + model_dir);
  }
  const std::unique_ptr<Student> student = load_student(model_dir);
  std::vector<std::string> files;
  build_folder_atomically(out_dir, [&](const std::string& tmp) {
    student->export_files(options.format, tmp);
    for (const auto& e : fs::directory_iterator(tmp)) files.push_back(e.path().filename());
  });
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace weakdistill
