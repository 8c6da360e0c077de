// libweakdistill_neural.so: the libtorch part of weakdistill (students and the bge embedder),
// loaded with dlopen on first use, so that commands that need no libtorch start in milliseconds
// (src/CMakeLists.txt). Both the student and the embedder factories reach it through here.
#pragma once

namespace weakdistill {

// The address of `symbol` in the plugin, which is loaded once (thread-safe) from
// $WEAKDISTILL_PLUGIN_DIR, beside libweakdistill.so, then the loader's search path. Throws
// std::runtime_error saying where it was looked for when no loadable plugin with every entry
// point was found, or std::logic_error when the plugin lacks `symbol`.
void* neural_plugin_symbol(const char* symbol);

}  // namespace weakdistill
