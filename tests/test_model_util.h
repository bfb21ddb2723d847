// Helpers for the model tests: small configs and hand-built safetensors files (including broken ones).
#pragma once
#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/model.h"

namespace tickrt::test {

// A small hybrid config using every layer type and ffn kind.
inline nlohmann::json small_hybrid_config() {
  using nlohmann::json;
  return json{{"format", "tickrt-model/1"},
              {"n_features", 5},
              {"d_model", 16},
              {"outputs", {"ret_1", "ret_10"}},
              {"mamba", {{"d_state", 4}}},
              {"attention", {{"n_heads", 2}, {"window", 8}, {"refresh_every", 2}, {"refresh_lag", 1}}},
              {"moe", {{"n_experts", 3}}},
              {"megalodon", {{"n_heads", 2}, {"cema_ndim", 2}, {"chunk_size", 4}}},
              {"layers", json::array({{{"type", "mamba"}, {"ffn", "mlp"}},
                                      {{"type", "attention"}, {"ffn", "moe"}},
                                      {{"type", "megalodon"}}})}};
}

// Writes a safetensors file byte by byte: the 8-byte length, `header` verbatim, then `data`.
// `declared_len` overrides the length field (to forge a broken file).
inline void write_raw_safetensors(const std::string& path, const std::string& header, const std::vector<uint8_t>& data,
                                  int64_t declared_len = -1) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  uint64_t n = declared_len >= 0 ? uint64_t(declared_len) : header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

// Little-endian bytes of float32 values.
inline std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// Little-endian bytes of 16-bit patterns (F16 or BF16).
inline std::vector<uint8_t> u16_bytes(const std::vector<uint16_t>& v) {
  std::vector<uint8_t> b(v.size() * 2);
  for (std::size_t i = 0; i < v.size(); ++i) {
    b[2 * i] = static_cast<uint8_t>(v[i] & 0xff);
    b[2 * i + 1] = static_cast<uint8_t>(v[i] >> 8);
  }
  return b;
}

}  // namespace tickrt::test
