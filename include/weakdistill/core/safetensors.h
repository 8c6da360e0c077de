// Hugging Face safetensors files (https://huggingface.co/docs/safetensors):
// an 8-byte little-endian header length N, N bytes of JSON
// {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the tensors' bytes, little-endian, C order, offsets relative to the end
// of the header. Read by memory-mapping: opening a 1 GB model copies nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace weakdistill {

// The element types of the format. Only the float ones convert to float32.
enum class SafetensorsDtype {
  kBool,
  kU8,
  kI8,
  kI16,
  kU16,
  kF16,
  kBF16,
  kI32,
  kU32,
  kF32,
  kF64,
  kI64,
  kU64
};

// "F32", "BF16", ... as the header spells it.
const char* safetensors_dtype_name(SafetensorsDtype dtype);
std::size_t safetensors_dtype_size(SafetensorsDtype dtype);

struct SafetensorsTensor {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  std::vector<std::int64_t> shape;  // [] for a scalar
  std::size_t begin = 0, end = 0;   // byte offsets into the data section
  std::int64_t numel() const;
};

// A read-only, memory-mapped safetensors file. Opening validates everything the
// data will later be trusted for, and throws InputError naming the file and the
// problem on: a file shorter than 8 bytes or than its header, a header that is
// not a JSON object (or too big, > 100 MB), an entry without dtype/shape/
// data_offsets, an unknown dtype, a negative dimension, offsets that do not
// span exactly numel × element size, that run past the end of the file
// (a truncated download), or that overlap another tensor's.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // Every tensor, in name order.
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  // The tensor called `name`, or nullptr.
  const SafetensorsTensor* find(const std::string& name) const;
  // The "__metadata__" strings (empty when absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // The tensor's raw bytes (little-endian, C order) inside the mapping.
  const unsigned char* data(const SafetensorsTensor& tensor) const;
  // Its values as float32, converted from F32, F16, BF16 or F64 (F16/BF16
  // exactly, NaN and infinities kept). Throws InputError naming the file and
  // tensor for any other dtype.
  std::vector<float> to_f32(const SafetensorsTensor& tensor) const;
  void to_f32(const SafetensorsTensor& tensor, float* out) const;  // numel() floats

 private:
  std::string path_;
  void* map_ = nullptr;
  std::size_t size_ = 0;
  const unsigned char* data_begin_ = nullptr;  // start of the data section
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

// One tensor to write: float32 values converted to `dtype` (F32, F16 or BF16,
// rounding to nearest even).
struct SafetensorsWriteTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> values;  // numel values, C order
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
};

// Writes a safetensors file atomically (a temporary file renamed into place),
// tensors in name order, the header padded with spaces to a multiple of 8
// bytes as Hugging Face's writer does. Throws InputError on a duplicate name or
// a value count that does not match the shape.
void write_safetensors(const std::string& path, const std::vector<SafetensorsWriteTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// IEEE half and bfloat16 conversions (round to nearest even; NaN stays NaN).
float f16_to_f32(std::uint16_t h);
float bf16_to_f32(std::uint16_t b);
std::uint16_t f32_to_f16(float f);
std::uint16_t f32_to_bf16(float f);

}  // namespace weakdistill
