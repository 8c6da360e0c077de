#include "weakdistill/core/neural_plugin.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace weakdistill {
namespace {

// The entry points a plugin of this weakdistill has (src/student/neural/plugin.cc).
constexpr const char* kEntryPoints[] = {"weakdistill_neural_make",
                                        "weakdistill_neural_make_embedder"};

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
      bool complete = true;
      for (const char* entry : kEntryPoints) complete = complete && ::dlsym(handle, entry);
      if (complete) {
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

void* neural_plugin_symbol(const char* symbol) {
  void* address = ::dlsym(load_plugin(), symbol);
  if (address == nullptr) {
    throw std::logic_error(std::string("libweakdistill_neural.so has no entry point ") + symbol);
  }
  return address;
}

}  // namespace weakdistill
