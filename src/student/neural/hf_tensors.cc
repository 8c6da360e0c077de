#include "hf_tensors.h"

namespace weakdistill::student_internal {

void add_hf_linear(HfTensors& out, const std::string& name, const torch::nn::Linear& l) {
  out.emplace_back(name + ".weight", l->weight);
  out.emplace_back(name + ".bias", l->bias);
}

void add_hf_norm(HfTensors& out, const std::string& name, const torch::nn::LayerNorm& n) {
  out.emplace_back(name + ".weight", n->weight);
  out.emplace_back(name + ".bias", n->bias);
}

SafetensorsWriteTensor to_write_tensor(const std::string& name, const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kFloat32).contiguous();
  SafetensorsWriteTensor w;
  w.name = name;
  w.shape = c.sizes().vec();
  w.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return w;
}

bool is_hf_layer_norm(const std::string& name) {
  for (const char* norm : {"LayerNorm", "layer_norm", "layernorm"}) {
    if (name.find(norm) != std::string::npos) return true;
  }
  return false;
}

void init_hf_weights(const HfTensors& tensors, double std) {
  torch::NoGradGuard no_grad;
  for (const auto& [name, t] : tensors) {
    torch::Tensor p = t;  // a handle: the fill goes to the parameter
    if (name.ends_with(".bias")) {
      p.zero_();
    } else if (is_hf_layer_norm(name)) {
      p.fill_(1);
    } else {
      p.normal_(0, std);
    }
  }
}

}  // namespace weakdistill::student_internal
