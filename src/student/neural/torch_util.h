// Shared plumbing of the libtorch students: threads and seeds, module
// save/load, padding. Private to src/student/.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "weakdistill/student/student.h"

namespace weakdistill::student_internal {

// Sets libtorch's intra-op threads (0 = all cores) and seeds its generator, so
// that one thread and one seed give the same weights and predictions.
void configure_torch(const CommonOptions& common);

// Sets the threads only (for prediction, which must not reseed): libtorch's
// intra-op pool and, when libtorch runs on OpenBLAS, OpenBLAS's own pool,
// which at::set_num_threads() leaves at all cores (its idle threads spin beside
// ours: epochs up to 2.5x slower on a loaded 2-core machine).
void set_torch_threads(const CommonOptions& common);

// Saves / loads a module's parameters and buffers. load throws InputError
// naming the file when it is missing or does not fit the module.
void save_module(const torch::nn::Module& module, const std::string& path);
void load_module(torch::nn::Module& module, const std::string& path);

// Pads id sequences to the longest: returns a [batch, max_len] int64 tensor
// filled with `pad`, and writes each length to `lengths` when given.
torch::Tensor pad_batch(const std::vector<std::vector<std::int64_t>>& sequences, std::int64_t pad,
                        std::vector<std::int64_t>* lengths = nullptr);

}  // namespace weakdistill::student_internal
