#include "torch_util.h"

#include <dlfcn.h>

#include <filesystem>
#include <thread>

#include "weakdistill/core/atomic_file.h"
#include "weakdistill/core/error.h"

namespace weakdistill::student_internal {

void set_torch_threads(const CommonOptions& common) {
  const int threads = common.threads > 0
                          ? common.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  // Looked up at run time: no link dependency on OpenBLAS when libtorch uses another BLAS.
  using SetThreads = void (*)(int);
  static const auto openblas =
      reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (openblas) openblas(threads);
}

void configure_torch(const CommonOptions& common) {
  set_torch_threads(common);
  torch::manual_seed(common.seed);
}

void save_module(const torch::nn::Module& module, const std::string& path) {
  torch::serialize::OutputArchive archive;
  module.save(archive);
  // Write beside and rename, like every other output.
  const std::string tmp = path + ".tmp";
  archive.save_to(tmp);
  std::filesystem::rename(tmp, path);
}

void load_module(torch::nn::Module& module, const std::string& path) {
  if (!std::filesystem::exists(path))
    throw InputError(path + ": missing (the model folder is incomplete)");
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    module.load(archive);
  } catch (const c10::Error& e) {
    throw InputError(path + ": does not fit this model (" + e.what_without_backtrace() + ")");
  }
}

torch::Tensor pad_batch(const std::vector<std::vector<std::int64_t>>& sequences, std::int64_t pad,
                        std::vector<std::int64_t>* lengths) {
  std::size_t max_len = 1;
  for (const auto& s : sequences) max_len = std::max(max_len, s.size());
  auto out =
      torch::full({static_cast<std::int64_t>(sequences.size()), static_cast<std::int64_t>(max_len)},
                  pad, torch::kInt64);
  auto acc = out.accessor<std::int64_t, 2>();
  if (lengths) lengths->clear();
  for (std::size_t i = 0; i < sequences.size(); ++i) {
    for (std::size_t j = 0; j < sequences[i].size(); ++j) acc[i][j] = sequences[i][j];
    if (lengths) lengths->push_back(static_cast<std::int64_t>(sequences[i].size()));
  }
  return out;
}

}  // namespace weakdistill::student_internal
