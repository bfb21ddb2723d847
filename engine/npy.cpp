// .npy reading and writing (see npy.h). The header is a Python dict literal; only the three keys NumPy writes
// ('descr', 'fortran_order', 'shape') are read, with plain string scanning.
#include "engine/npy.h"

#include <fmt/core.h>

#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>

namespace tickrt {
namespace {

constexpr char kMagic[] = "\x93NUMPY";

[[noreturn]] void fail(const std::filesystem::path& file, const std::string& what) {
  throw std::runtime_error(fmt::format("{}: {}", file.string(), what));
}

// The value text after `'key':` in the header dict, up to the next top-level comma or closing brace.
std::string dict_value(const std::string& header, const std::string& key, const std::filesystem::path& file) {
  const auto at = header.find("'" + key + "'");
  if (at == std::string::npos) fail(file, "npy header has no '" + key + "'");
  auto pos = header.find(':', at);
  if (pos == std::string::npos) fail(file, "npy header is malformed near '" + key + "'");
  ++pos;
  while (pos < header.size() && header[pos] == ' ') ++pos;
  const bool tuple = pos < header.size() && header[pos] == '(';
  const auto end = tuple ? header.find(')', pos) + 1 : header.find_first_of(",}", pos);
  if (end == std::string::npos || end == 0) fail(file, "npy header is malformed near '" + key + "'");
  return header.substr(pos, end - pos);
}

std::vector<int64_t> parse_shape(const std::string& text, const std::filesystem::path& file) {
  std::vector<int64_t> shape;
  std::string num;
  for (char c : text.substr(1)) {
    if (c >= '0' && c <= '9') {
      num += c;
    } else if (c == ',' || c == ')') {
      if (!num.empty()) shape.push_back(std::stoll(num));
      num.clear();
    } else if (c != ' ') {
      fail(file, "npy shape is malformed: " + text);
    }
  }
  return shape;
}

void write_npy(const std::filesystem::path& file, const void* data, std::size_t elem, const char* descr,
               const std::vector<int64_t>& shape) {
  std::string dims;
  int64_t n = 1;
  for (auto d : shape) {
    dims += std::to_string(d) + ",";
    n *= d;
  }
  if (shape.size() > 1) dims.pop_back();
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", descr, dims);
  // Pad with spaces so that magic + version + length + header is a multiple of 64, ending in '\n'.
  const std::size_t unpadded = 6 + 2 + 2 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(file, std::ios::binary);
  if (!out) fail(file, "cannot open for writing");
  const uint16_t len = static_cast<uint16_t>(header.size());
  out.write(kMagic, 6);
  out.put(1);
  out.put(0);
  out.put(static_cast<char>(len & 0xff));
  out.put(static_cast<char>(len >> 8));
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n * elem));
  if (!out) fail(file, "write failed");
}

}  // namespace

NpyArray read_npy_f32(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(file, "cannot open");
  char magic[8] = {};
  in.read(magic, 8);
  if (!in || std::memcmp(magic, kMagic, 6) != 0) fail(file, "not a .npy file (bad magic)");
  const int major = static_cast<unsigned char>(magic[6]);
  uint32_t header_len = 0;
  if (major == 1) {
    unsigned char b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else if (major == 2 || major == 3) {
    unsigned char b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (uint32_t(b[3]) << 24);
  } else {
    fail(file, fmt::format("unsupported .npy version {}", major));
  }
  if (!in || header_len > (1u << 20)) fail(file, "truncated or oversized .npy header");
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  if (!in) fail(file, "truncated .npy header");
  const std::string descr = dict_value(header, "descr", file);
  if (dict_value(header, "fortran_order", file) != "False") fail(file, "Fortran-order arrays are not supported");
  NpyArray a;
  a.shape = parse_shape(dict_value(header, "shape", file), file);
  int64_t n = 1;
  for (auto d : a.shape) n *= d;
  a.data.resize(static_cast<std::size_t>(n));
  if (descr == "'<f4'") {
    in.read(reinterpret_cast<char*>(a.data.data()), static_cast<std::streamsize>(n * 4));
  } else if (descr == "'<f8'") {
    std::vector<double> d(static_cast<std::size_t>(n));
    in.read(reinterpret_cast<char*>(d.data()), static_cast<std::streamsize>(n * 8));
    for (int64_t i = 0; i < n; ++i) a.data[i] = static_cast<float>(d[i]);
  } else {
    fail(file, "dtype " + descr + " is not supported (expected '<f4' or '<f8')");
  }
  if (!in) fail(file, fmt::format("truncated data: expected {} values", n));
  return a;
}

void write_npy_f32(const std::filesystem::path& file, const float* data, const std::vector<int64_t>& shape) {
  write_npy(file, data, 4, "<f4", shape);
}

void write_npy_i64(const std::filesystem::path& file, const int64_t* data, const std::vector<int64_t>& shape) {
  write_npy(file, data, 8, "<i8", shape);
}

}  // namespace tickrt
