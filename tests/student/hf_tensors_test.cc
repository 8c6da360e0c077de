// The Hugging Face parameter-naming helpers the pretrained models share: the LayerNorm spellings
// of BERT/ERNIE and BART/Pegasus, and _init_weights' rule (LayerNorm weights 1, biases 0, the
// rest normal(0, 0.02)).
#include "hf_tensors.h"

#include <gtest/gtest.h>

namespace weakdistill {
namespace {

using student_internal::HfTensors;

TEST(HfTensors, KnowsEveryLayerNormSpelling) {
  for (const char* name :
       {"embeddings.LayerNorm.weight", "encoder.layer.0.output.LayerNorm.bias",
        "encoder.layernorm_embedding.weight", "decoder.layers.1.encoder_attn_layer_norm.weight",
        "encoder.layer_norm.weight"}) {
    EXPECT_TRUE(student_internal::is_hf_layer_norm(name)) << name;
  }
  for (const char* name : {"encoder.layers.0.fc1.weight", "shared.weight",
                           "encoder.layer.0.attention.self.query.bias", "normalizer.weight"}) {
    EXPECT_FALSE(student_internal::is_hf_layer_norm(name)) << name;
  }
}

TEST(HfTensors, InitialisesAsHuggingFaceDoes) {
  torch::manual_seed(1);
  torch::nn::Linear fc(64, 256);
  torch::nn::LayerNorm norm(torch::nn::LayerNormOptions({64}));
  HfTensors t;
  student_internal::add_hf_linear(t, "layers.0.fc1", fc);
  student_internal::add_hf_norm(t, "layers.0.final_layer_norm", norm);
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].first, "layers.0.fc1.weight");
  EXPECT_EQ(t[3].first, "layers.0.final_layer_norm.bias");
  torch::NoGradGuard no_grad;
  norm->weight.fill_(5);
  norm->bias.fill_(5);
  fc->bias.fill_(5);
  student_internal::init_hf_weights(t);
  EXPECT_TRUE(torch::equal(norm->weight, torch::ones({64})));
  EXPECT_TRUE(torch::equal(norm->bias, torch::zeros({64})));
  EXPECT_TRUE(torch::equal(fc->bias, torch::zeros({256})));
  EXPECT_NEAR(fc->weight.mean().item<double>(), 0, 0.002);
  EXPECT_NEAR(fc->weight.std().item<double>(), 0.02, 0.001);  // 16,384 draws: within 5%
}

}  // namespace
}  // namespace weakdistill
