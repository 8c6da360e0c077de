// Four float lanes as GCC and Clang vector extensions: SSE on any x86-64, NEON on arm64, for the
// hand-written kernels (cached_attention.cc, fused_adamw.cc). Explicit lanes vectorize without
// -O3, -ffast-math (a float reduction) or -fno-math-errno (std::sqrt), none of which the build
// sets. Private to src/student/.
#pragma once

#if defined(__SSE__)
#include <xmmintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

#include <cmath>

namespace weakdistill::student_internal {

typedef float Lanes __attribute__((vector_size(16)));

// Unaligned load and store of 4 floats.
inline Lanes load_lanes(const float* p) {
  Lanes v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
inline void store_lanes(float* p, Lanes v) { __builtin_memcpy(p, &v, sizeof v); }

inline Lanes splat(float x) { return Lanes{x, x, x, x}; }

inline Lanes lanes_sqrt(Lanes x) {
#if defined(__SSE__)
  return (Lanes)_mm_sqrt_ps((__m128)x);
#elif defined(__aarch64__)
  return (Lanes)vsqrtq_f32((float32x4_t)x);
#else
  for (int l = 0; l < 4; ++l) x[l] = std::sqrt(x[l]);
  return x;
#endif
}

}  // namespace weakdistill::student_internal
