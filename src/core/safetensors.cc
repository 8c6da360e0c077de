#include "weakdistill/core/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "weakdistill/core/atomic_file.h"
#include "weakdistill/core/error.h"

namespace weakdistill {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host would need byte swaps");

namespace {

constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;  // as Hugging Face's reader

struct DtypeInfo {
  SafetensorsDtype dtype;
  const char* name;
  std::size_t size;
};

constexpr DtypeInfo kDtypes[] = {
    {SafetensorsDtype::kBool, "BOOL", 1}, {SafetensorsDtype::kU8, "U8", 1},
    {SafetensorsDtype::kI8, "I8", 1},     {SafetensorsDtype::kI16, "I16", 2},
    {SafetensorsDtype::kU16, "U16", 2},   {SafetensorsDtype::kF16, "F16", 2},
    {SafetensorsDtype::kBF16, "BF16", 2}, {SafetensorsDtype::kI32, "I32", 4},
    {SafetensorsDtype::kU32, "U32", 4},   {SafetensorsDtype::kF32, "F32", 4},
    {SafetensorsDtype::kF64, "F64", 8},   {SafetensorsDtype::kI64, "I64", 8},
    {SafetensorsDtype::kU64, "U64", 8},
};

const DtypeInfo& info(SafetensorsDtype dtype) {
  for (const auto& d : kDtypes) {
    if (d.dtype == dtype) return d;
  }
  throw std::invalid_argument("unknown SafetensorsDtype");
}

std::uint32_t float_bits(float f) { return std::bit_cast<std::uint32_t>(f); }
float bits_float(std::uint32_t u) { return std::bit_cast<float>(u); }

// numel of `shape`, or -1 when a dimension is negative or the product overflows.
std::int64_t checked_numel(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (const std::int64_t d : shape) {
    if (d < 0) return -1;
    if (d != 0 && n > std::numeric_limits<std::int64_t>::max() / d) return -1;
    n *= d;
  }
  return n;
}

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

const char* safetensors_dtype_name(SafetensorsDtype dtype) { return info(dtype).name; }
std::size_t safetensors_dtype_size(SafetensorsDtype dtype) { return info(dtype).size; }

std::int64_t SafetensorsTensor::numel() const {
  std::int64_t n = 1;
  for (const std::int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  const auto fail = [&](const std::string& message) -> InputError {
    return InputError(at(path_, 0, message));
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    throw fail("cannot stat: " + reason);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw fail("not a regular file");
  }
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ < 8) {
    ::close(fd);
    throw fail("truncated: " + std::to_string(size_) +
               " bytes, shorter than the 8-byte header length of a safetensors file");
  }
  void* map = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  const int mmap_errno = errno;
  ::close(fd);  // the mapping keeps the file's pages reachable
  if (map == MAP_FAILED) throw fail(std::string("cannot mmap: ") + std::strerror(mmap_errno));
  map_ = map;

  // From here on, a throw must unmap: the destructor does not run for a throwing constructor.
  try {
    const auto* bytes = static_cast<const unsigned char*>(map_);
    std::uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = header_len << 8 | bytes[i];
    if (header_len > kMaxHeaderBytes) {
      throw fail("header length " + std::to_string(header_len) + " bytes exceeds the limit of " +
                 std::to_string(kMaxHeaderBytes) + " (not a safetensors file?)");
    }
    if (header_len > size_ - 8) {
      throw fail("truncated: the header length " + std::to_string(header_len) +
                 " runs past the end of the file (" + std::to_string(size_) + " bytes)");
    }
    const char* header_begin = reinterpret_cast<const char*>(bytes + 8);
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(header_begin, header_begin + header_len);
    } catch (const nlohmann::json::parse_error& e) {
      throw fail(std::string("header is not valid JSON: ") + e.what());
    }
    if (!header.is_object()) {
      throw fail(std::string("header is not a JSON object but a ") + header.type_name());
    }
    data_begin_ = bytes + 8 + header_len;
    const std::size_t data_size = size_ - 8 - static_cast<std::size_t>(header_len);

    for (const auto& [name, entry] : header.items()) {
      if (name == "__metadata__") {
        if (!entry.is_object()) throw fail("\"__metadata__\" is not a JSON object");
        for (const auto& [key, value] : entry.items()) {
          if (!value.is_string()) {
            throw fail("\"__metadata__\" value of \"" + key + "\" is not a string");
          }
          metadata_[key] = value.get<std::string>();
        }
        continue;
      }
      const std::string where = "tensor \"" + name + "\": ";
      if (!entry.is_object()) throw fail(where + "entry is not a JSON object");
      for (const char* field : {"dtype", "shape", "data_offsets"}) {
        if (!entry.contains(field)) throw fail(where + "missing field \"" + field + "\"");
      }
      SafetensorsTensor t;
      t.name = name;
      const auto& dtype = entry["dtype"];
      if (!dtype.is_string()) throw fail(where + "\"dtype\" is not a string");
      const auto* found = std::find_if(std::begin(kDtypes), std::end(kDtypes), [&](const auto& d) {
        return dtype.get_ref<const std::string&>() == d.name;
      });
      if (found == std::end(kDtypes)) {
        throw fail(where + "unknown dtype \"" + dtype.get<std::string>() + "\"");
      }
      t.dtype = found->dtype;
      const auto& shape = entry["shape"];
      if (!shape.is_array()) throw fail(where + "\"shape\" is not an array");
      for (const auto& d : shape) {
        if (!d.is_number_integer()) throw fail(where + "\"shape\" holds a non-integer " + d.dump());
        if (d.is_number_unsigned() &&
            d.get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max())) {
          throw fail(where + "dimension " + d.dump() + " is too large");
        }
        t.shape.push_back(d.get<std::int64_t>());
        if (t.shape.back() < 0) throw fail(where + "negative dimension in shape " + shape.dump());
      }
      const auto& offsets = entry["data_offsets"];
      if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
          !offsets[1].is_number_unsigned()) {
        throw fail(where + "\"data_offsets\" is not [begin, end] with non-negative integers: " +
                   offsets.dump());
      }
      const std::uint64_t begin = offsets[0].get<std::uint64_t>();
      const std::uint64_t end = offsets[1].get<std::uint64_t>();
      const std::int64_t numel = checked_numel(t.shape);
      const std::uint64_t elem = found->size;
      if (numel < 0 || std::uint64_t(numel) > std::numeric_limits<std::uint64_t>::max() / elem) {
        throw fail(where + "shape " + shape_string(t.shape) + " is too large");
      }
      const std::uint64_t expected = std::uint64_t(numel) * elem;
      if (end < begin || end - begin != expected) {
        throw fail(where + "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                   "] span " +
                   (end < begin ? "a negative number of" : std::to_string(end - begin)) +
                   " bytes, but shape " + shape_string(t.shape) + " of " + found->name + " needs " +
                   std::to_string(expected));
      }
      if (end > data_size) {
        throw fail(where + "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                   "] run past the end of the file (the data section has " +
                   std::to_string(data_size) + " bytes): truncated download?");
      }
      t.begin = static_cast<std::size_t>(begin);
      t.end = static_cast<std::size_t>(end);
      tensors_.push_back(std::move(t));
    }

    // Overlaps: in order of begin, each non-empty tensor must start at or after the furthest end
    // seen so far.
    std::vector<const SafetensorsTensor*> by_offset;
    for (const auto& t : tensors_) {
      if (t.end > t.begin) by_offset.push_back(&t);
    }
    std::sort(by_offset.begin(), by_offset.end(), [](const auto* a, const auto* b) {
      return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    for (std::size_t i = 1; i < by_offset.size(); ++i) {
      const auto* prev = by_offset[i - 1];
      const auto* cur = by_offset[i];
      if (cur->begin < prev->end) {
        throw fail("tensors \"" + prev->name + "\" [" + std::to_string(prev->begin) + ", " +
                   std::to_string(prev->end) + ") and \"" + cur->name + "\" [" +
                   std::to_string(cur->begin) + ", " + std::to_string(cur->end) + ") overlap");
      }
    }
    std::sort(tensors_.begin(), tensors_.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
  } catch (...) {
    ::munmap(map_, size_);
    map_ = nullptr;
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(map_, size_);
}

const SafetensorsTensor* SafetensorsFile::find(const std::string& name) const {
  const auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                                   [](const auto& t, const std::string& n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

const unsigned char* SafetensorsFile::data(const SafetensorsTensor& tensor) const {
  return data_begin_ + tensor.begin;
}

std::vector<float> SafetensorsFile::to_f32(const SafetensorsTensor& tensor) const {
  std::vector<float> out(static_cast<std::size_t>(tensor.numel()));
  to_f32(tensor, out.data());
  return out;
}

void SafetensorsFile::to_f32(const SafetensorsTensor& tensor, float* out) const {
  const std::size_t n = static_cast<std::size_t>(tensor.numel());
  const unsigned char* p = data(tensor);
  // memcpy for every element: the data section need not be aligned.
  switch (tensor.dtype) {
    case SafetensorsDtype::kF32:
      if (n > 0) std::memcpy(out, p, n * 4);  // `out` may be null when n is 0
      return;
    case SafetensorsDtype::kF16:
    case SafetensorsDtype::kBF16: {
      const bool half = tensor.dtype == SafetensorsDtype::kF16;
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t v;
        std::memcpy(&v, p + 2 * i, 2);
        out[i] = half ? f16_to_f32(v) : bf16_to_f32(v);
      }
      return;
    }
    case SafetensorsDtype::kF64:
      for (std::size_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, p + 8 * i, 8);
        out[i] = static_cast<float>(v);
      }
      return;
    default:
      throw InputError(at(path_, 0,
                          "tensor \"" + tensor.name + "\" has dtype " +
                              safetensors_dtype_name(tensor.dtype) +
                              ", which does not convert to float32 (F32, F16, BF16 or F64 do)"));
  }
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsWriteTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const SafetensorsWriteTensor*> sorted;
  for (const auto& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->name < b->name; });

  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::size_t offset = 0;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const auto& t = *sorted[i];
    const std::string where = "tensor \"" + t.name + "\": ";
    if (i > 0 && sorted[i - 1]->name == t.name) {
      throw InputError(at(path, 0, "cannot write: duplicate tensor name \"" + t.name + "\""));
    }
    if (t.name == "__metadata__") {
      throw InputError(at(path, 0, "cannot write: \"__metadata__\" is not a valid tensor name"));
    }
    if (t.dtype != SafetensorsDtype::kF32 && t.dtype != SafetensorsDtype::kF16 &&
        t.dtype != SafetensorsDtype::kBF16) {
      throw InputError(at(path, 0,
                          "cannot write " + where + "dtype " + safetensors_dtype_name(t.dtype) +
                              " (only F32, F16 and BF16 are written)"));
    }
    const std::int64_t numel = checked_numel(t.shape);
    if (numel < 0 || static_cast<std::uint64_t>(numel) != t.values.size()) {
      throw InputError(at(path, 0,
                          "cannot write " + where + std::to_string(t.values.size()) +
                              " values do not fill shape " + shape_string(t.shape)));
    }
    const std::size_t bytes = t.values.size() * safetensors_dtype_size(t.dtype);
    header[t.name] = {{"dtype", safetensors_dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string json = header.dump();
  // Hugging Face's writer pads with spaces so that the data section starts 8-byte aligned.
  json.append((8 - json.size() % 8) % 8, ' ');

  AtomicFile file(path);
  std::ostream& out = file.stream();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i)
    len[i] = static_cast<unsigned char>(std::uint64_t(json.size()) >> (8 * i));
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(json.data(), static_cast<std::streamsize>(json.size()));
  std::vector<unsigned char> buf;
  for (const auto* t : sorted) {
    const std::size_t n = t->values.size();
    if (t->dtype == SafetensorsDtype::kF32) {
      out.write(reinterpret_cast<const char*>(t->values.data()),
                static_cast<std::streamsize>(n * 4));
      continue;
    }
    buf.resize(n * 2);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint16_t v =
          t->dtype == SafetensorsDtype::kF16 ? f32_to_f16(t->values[i]) : f32_to_bf16(t->values[i]);
      buf[2 * i] = static_cast<unsigned char>(v);
      buf[2 * i + 1] = static_cast<unsigned char>(v >> 8);
    }
    out.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(buf.size()));
  }
  file.commit();
}

float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1f;
  std::uint32_t mant = h & 0x3ff;
  if (exp == 0x1f) return bits_float(sign | 0x7f800000 | mant << 13);  // inf, NaN (payload kept)
  if (exp != 0) return bits_float(sign | (exp + 112) << 23 | mant << 13);
  if (mant == 0) return bits_float(sign);
  // Subnormal: mant × 2^-24, exactly representable as a normal float.
  int e = 113;  // float biased exponent of 2^-14
  while ((mant & 0x400) == 0) {
    mant <<= 1;
    --e;
  }
  return bits_float(sign | std::uint32_t(e) << 23 | (mant & 0x3ff) << 13);
}

float bf16_to_f32(std::uint16_t b) { return bits_float(std::uint32_t(b) << 16); }

std::uint16_t f32_to_f16(float f) {
  const std::uint32_t x = float_bits(f);
  const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000);
  const std::uint32_t abs = x & 0x7fffffff;
  if (abs > 0x7f800000) {
    // NaN: keep the top payload bits, as numpy does; never let it turn into infinity.
    std::uint16_t h = static_cast<std::uint16_t>(0x7c00 | ((abs & 0x7fffff) >> 13));
    if (h == 0x7c00) h |= 1;
    return sign | h;
  }
  if (abs >= 0x47800000) return sign | 0x7c00;  // >= 2^16 (and inf): infinity
  const std::uint32_t e = abs >> 23;
  if (e < 113) {
    // Below 2^-14: a subnormal half, a multiple of 2^-24.
    if (e < 102) return sign;  // < 2^-25: rounds to zero
    const std::uint32_t m = (abs & 0x7fffff) | 0x800000;
    const std::uint32_t shift = 126 - e;  // 14..24
    std::uint32_t h = m >> shift;
    const std::uint32_t rem = m & ((1u << shift) - 1);
    const std::uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (h & 1))) ++h;  // may carry into the smallest normal
    return sign | static_cast<std::uint16_t>(h);
  }
  std::uint32_t h = (abs >> 13) - (112u << 10);
  const std::uint32_t rem = abs & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // a carry may reach infinity: correct
  return sign | static_cast<std::uint16_t>(h);
}

std::uint16_t f32_to_bf16(float f) {
  const std::uint32_t x = float_bits(f);
  if ((x & 0x7fffffff) > 0x7f800000) {
    // NaN: truncate, and keep it a NaN if the payload was all in the dropped bits.
    std::uint16_t b = static_cast<std::uint16_t>(x >> 16);
    if ((b & 0x7f) == 0) b |= 0x40;
    return b;
  }
  // Round to nearest even; the carry turns values past the largest bf16 into infinity.
  return static_cast<std::uint16_t>((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

}  // namespace weakdistill
