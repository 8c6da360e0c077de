// Parameters under their Hugging Face names, as the pretrained encoders (bert.h) and
// encoder-decoders (seq2seq.h) list them for loading, saving and the optimizer's groups.
// Private to src/student/.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "weakdistill/core/safetensors.h"

namespace weakdistill::student_internal {

using HfTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Appends `name`.weight and `name`.bias.
void add_hf_linear(HfTensors& out, const std::string& name, const torch::nn::Linear& l);
void add_hf_norm(HfTensors& out, const std::string& name, const torch::nn::LayerNorm& n);

// Whether `name` is a LayerNorm's parameter in any of the spellings the checkpoints use
// ("LayerNorm" in BERT/ERNIE, "layer_norm" and "layernorm" in BART/Pegasus).
bool is_hf_layer_norm(const std::string& name);

// A float32 copy of `t` to write under `name` (write_safetensors).
SafetensorsWriteTensor to_write_tensor(const std::string& name, const torch::Tensor& t);

// Hugging Face's _init_weights: LayerNorm weights 1, biases 0, everything else normal(0, std).
// Random tests and heads a checkpoint lacks use it; pretrained weights overwrite the rest.
void init_hf_weights(const HfTensors& tensors, double std = 0.02);

}  // namespace weakdistill::student_internal
