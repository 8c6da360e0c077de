// Loads libweakdistill_neural.so on first use (see src/CMakeLists.txt for why).
#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "kinds_internal.h"

namespace weakdistill::student_internal {
namespace {

using MakeFn = Student* (*)(int, const char*, const nlohmann::json*);
using MakeEmbedderFn = Embedder* (*)(const nlohmann::json*);

// The plugin's handle, loaded once.
void* load_plugin() {
  static std::once_flag once;
  static void* plugin = nullptr;
  static std::string error;
  std::call_once(once, [] {
    std::vector<std::string> candidates;
    if (const char* dir = std::getenv("WEAKDISTILL_PLUGIN_DIR")) {
      candidates.push_back(std::string(dir) + "/libweakdistill_neural.so");
    }
    // Beside libweakdistill.so, where the build and `make install` put it.
    Dl_info info;
    if (::dladdr(reinterpret_cast<void*>(&load_plugin), &info) && info.dli_fname) {
      candidates.push_back(
          (std::filesystem::path(info.dli_fname).parent_path() / "libweakdistill_neural.so")
              .string());
    }
    candidates.push_back("libweakdistill_neural.so");  // the loader's search path
    // OpenMP threads busy-wait by default, which on a loaded machine starves the
    // other threads (a 10x slower epoch measured on 2 shared cores). libgomp reads
    // this when it loads, so it must be set before libtorch is; a user's value wins.
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
    for (const std::string& path : candidates) {
      void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
      if (!handle) {
        error += "\n  " + path + ": " + ::dlerror();
        continue;
      }
      if (::dlsym(handle, "weakdistill_neural_make") &&
          ::dlsym(handle, "weakdistill_neural_make_embedder")) {
        plugin = handle;
        return;
      }
      error += "\n  " + path + ": not this weakdistill's plugin (an entry point is missing)";
    }
  });
  if (!plugin) {
    throw std::runtime_error(
        "the neural students need libweakdistill_neural.so (built with libtorch), which could not "
        "be loaded; set WEAKDISTILL_PLUGIN_DIR to its folder. Tried:" +
        error);
  }
  return plugin;
}

}  // namespace

std::unique_ptr<Student> make_neural(Task task, std::string_view kind,
                                     const nlohmann::json& options) {
  const auto make = reinterpret_cast<MakeFn>(::dlsym(load_plugin(), "weakdistill_neural_make"));
  Student* s = make(static_cast<int>(task), std::string(kind).c_str(), &options);
  if (!s)
    throw std::logic_error("libweakdistill_neural.so has no student kind " + std::string(kind));
  return std::unique_ptr<Student>(s);
}

std::unique_ptr<Embedder> make_neural_embedder(const nlohmann::json& config) {
  const auto make =
      reinterpret_cast<MakeEmbedderFn>(::dlsym(load_plugin(), "weakdistill_neural_make_embedder"));
  return std::unique_ptr<Embedder>(make(&config));
}

}  // namespace weakdistill::student_internal
