// Safetensors reader (mmap, validated header) and F32 writer; see safetensors.h for the format.
#include "engine/safetensors.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

namespace tickrt::safetensors {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian; so must the host be");

namespace {

// A header larger than this is refused before it is parsed (the reference implementation caps it at 100 MB too).
constexpr uint64_t kMaxHeaderBytes = 100u << 20;
// A dimension above this is refused so numel * 4 cannot overflow 64 bits.
constexpr int64_t kMaxDim = int64_t{1} << 40;

bool parse_dtype(const std::string& s, Dtype& out) {
  if (s == "F32") out = Dtype::F32;
  else if (s == "F16") out = Dtype::F16;
  else if (s == "BF16") out = Dtype::BF16;
  else return false;
  return true;
}

uint64_t read_u64_le(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Parses one non-metadata header entry; `data_bytes` is the size of the data section.
TensorEntry parse_entry(const std::string& file, const std::string& name, const nlohmann::json& j, uint64_t data_bytes) {
  auto fail = [&](const std::string& what) {
    return std::runtime_error(fmt::format("{}: tensor '{}': {}", file, name, what));
  };
  if (!j.is_object()) throw fail("header entry must be an object with dtype, shape and data_offsets, got " + j.dump());
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "dtype" && it.key() != "shape" && it.key() != "data_offsets")
      throw fail(fmt::format("unknown header field '{}'", it.key()));
  }
  TensorEntry e;
  e.name = name;
  auto dt = j.find("dtype");
  if (dt == j.end() || !dt->is_string()) throw fail("'dtype' must be a string");
  if (!parse_dtype(dt->get<std::string>(), e.dtype))
    throw fail(fmt::format("dtype {} is not supported (only F32, F16 and BF16)", dt->get<std::string>()));

  auto shape = j.find("shape");
  if (shape == j.end() || !shape->is_array()) throw fail("'shape' must be a list of non-negative integers");
  for (const auto& d : *shape) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0 || (d.is_number_unsigned() && d.get<uint64_t>() > uint64_t(kMaxDim)))
      throw fail("'shape' must be a list of non-negative integers, got " + shape->dump());
    if (d.get<int64_t>() > kMaxDim) throw fail("dimension too large in shape " + shape->dump());
    e.shape.push_back(d.get<int64_t>());
  }

  auto off = j.find("data_offsets");
  if (off == j.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned())
    throw fail("'data_offsets' must be [begin, end] with non-negative integers");
  e.begin = (*off)[0].get<uint64_t>();
  e.end = (*off)[1].get<uint64_t>();
  if (e.begin > e.end) throw fail(fmt::format("data_offsets [{}, {}] have begin > end", e.begin, e.end));
  if (e.end > data_bytes)
    throw fail(fmt::format("data_offsets [{}, {}] run past the end of the data section ({} bytes): truncated file?",
                           e.begin, e.end, data_bytes));

  // numel * size without overflow: at most rank dims, each <= 2^40, checked as we go.
  uint64_t bytes = dtype_size(e.dtype);
  for (int64_t d : e.shape) {
    if (d != 0 && bytes > std::numeric_limits<uint64_t>::max() / uint64_t(d))
      throw fail("shape " + shape->dump() + " is too large");
    bytes *= uint64_t(d);
  }
  if (e.end - e.begin != bytes)
    throw fail(fmt::format("data_offsets [{}, {}] hold {} bytes, but shape {} of {} needs {}", e.begin, e.end,
                           e.end - e.begin, shape->dump(), to_string(e.dtype), bytes));
  return e;
}

}  // namespace

const char* to_string(Dtype d) {
  switch (d) {
    case Dtype::F32: return "F32";
    case Dtype::F16: return "F16";
    case Dtype::BF16: return "BF16";
  }
  return "?";
}

std::size_t dtype_size(Dtype d) { return d == Dtype::F32 ? 4 : 2; }

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24 is exact in float32.
    float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);  // infinity, or NaN with its payload
  } else {
    bits = sign | ((exp + (127 - 15)) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(bits);
}

float bfloat16_to_float(uint16_t b) { return std::bit_cast<float>(uint32_t(b) << 16); }

int64_t TensorEntry::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

File::File(const std::filesystem::path& path) : path_(path) {
  const std::string file = path.string();
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(fmt::format("{}: cannot open: {}", file, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw std::runtime_error(fmt::format("{}: not a regular file", file));
  }
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ < 8) {
    ::close(fd);
    throw std::runtime_error(fmt::format("{}: {} bytes is too short for a safetensors file (8-byte header length)",
                                         file, size_));
  }
  void* m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);  // the mapping keeps the file alive
  if (m == MAP_FAILED) throw std::runtime_error(fmt::format("{}: mmap failed: {}", file, std::strerror(errno)));
  map_ = static_cast<const std::byte*>(m);

  try {
    const uint64_t header_len = read_u64_le(map_);
    if (header_len > size_ - 8)
      throw std::runtime_error(fmt::format("{}: header length {} runs past the end of the file ({} bytes)", file,
                                           header_len, size_));
    if (header_len > kMaxHeaderBytes)
      throw std::runtime_error(fmt::format("{}: header length {} exceeds the {} byte limit", file, header_len,
                                           kMaxHeaderBytes));
    data_start_ = 8 + static_cast<std::size_t>(header_len);
    const uint64_t data_bytes = size_ - data_start_;
    const char* text = reinterpret_cast<const char*>(map_ + 8);
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(text, text + header_len);
    } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for a number like 1e999
      throw std::runtime_error(fmt::format("{}: header is not valid JSON: {}", file, e.what()));
    }
    if (!header.is_object()) throw std::runtime_error(fmt::format("{}: header must be a JSON object", file));
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") {
        if (!it->is_object()) throw std::runtime_error(fmt::format("{}: __metadata__ must be an object", file));
        for (auto m2 = it->begin(); m2 != it->end(); ++m2) {
          if (!m2->is_string())
            throw std::runtime_error(fmt::format("{}: __metadata__ value '{}' must be a string", file, m2.key()));
          metadata_[m2.key()] = m2->get<std::string>();
        }
        continue;
      }
      entries_.push_back(parse_entry(file, it.key(), *it, data_bytes));
    }
    // Overlap check: sorted by begin, each non-empty tensor must start at or after the previous one's end.
    std::sort(entries_.begin(), entries_.end(), [](const TensorEntry& a, const TensorEntry& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    const TensorEntry* prev = nullptr;
    for (const TensorEntry& e : entries_) {
      if (e.begin == e.end) continue;  // empty tensors occupy no bytes
      if (prev && e.begin < prev->end)
        throw std::runtime_error(fmt::format("{}: tensor '{}' data_offsets [{}, {}] overlap tensor '{}' [{}, {}]", file,
                                             e.name, e.begin, e.end, prev->name, prev->begin, prev->end));
      prev = &e;
    }
  } catch (...) {
    ::munmap(const_cast<std::byte*>(map_), size_);
    map_ = nullptr;
    throw;
  }
}

File::~File() {
  if (map_) ::munmap(const_cast<std::byte*>(map_), size_);
}

File::File(File&& o) noexcept
    : path_(std::move(o.path_)),
      map_(std::exchange(o.map_, nullptr)),
      size_(o.size_),
      data_start_(o.data_start_),
      entries_(std::move(o.entries_)),
      metadata_(std::move(o.metadata_)) {}

const TensorEntry* File::find(const std::string& name) const {
  for (const TensorEntry& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

std::vector<float> File::read_f32(const TensorEntry& e) const {
  const std::byte* p = map_ + data_start_ + e.begin;  // not necessarily aligned: copy bytes
  const std::size_t n = static_cast<std::size_t>(e.numel());
  std::vector<float> out(n);
  switch (e.dtype) {
    case Dtype::F32:
      std::memcpy(out.data(), p, n * 4);
      break;
    case Dtype::F16:
    case Dtype::BF16:
      for (std::size_t i = 0; i < n; ++i) {
        uint16_t bits;
        std::memcpy(&bits, p + 2 * i, 2);
        out[i] = e.dtype == Dtype::F16 ? half_to_float(bits) : bfloat16_to_float(bits);
      }
      break;
  }
  return out;
}

void write_f32(const std::filesystem::path& path, const std::vector<std::pair<std::string, const Tensor*>>& tensors,
               const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__" || header.contains(name))
      throw std::runtime_error(fmt::format("{}: cannot write tensor name '{}' (reserved or repeated)", path.string(), name));
    if (static_cast<int64_t>(t->data.size()) != t->numel())
      throw std::runtime_error(fmt::format("{}: tensor '{}' holds {} values but its shape needs {}", path.string(), name,
                                           t->data.size(), t->numel()));
    const uint64_t bytes = t->data.size() * sizeof(float);
    header[name] = {{"dtype", "F32"}, {"shape", t->shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // pad so the data section starts 8-byte aligned

  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error(fmt::format("{}: cannot create", tmp.string()));
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(uint64_t(text.size()) >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& [name, t] : tensors)
      out.write(reinterpret_cast<const char*>(t->data.data()), static_cast<std::streamsize>(t->data.size() * sizeof(float)));
    out.flush();
    if (!out) throw std::runtime_error(fmt::format("{}: write failed", tmp.string()));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw std::runtime_error(fmt::format("{}: cannot rename from {}: {}", path.string(), tmp.string(), ec.message()));
}

}  // namespace tickrt::safetensors
