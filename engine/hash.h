// FNV-1a, 64-bit (offset basis 0xcbf29ce484222325, prime 0x100000001b3): the model hash and other
// content fingerprints. Not cryptographic; it detects a changed or mismatched model (e.g. a snapshot restored
// against different weights), not a malicious one. Multi-byte values are hashed in little-endian order.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tickrt {

class Fnv1a64 {
 public:
  static constexpr uint64_t kOffsetBasis = 0xcbf29ce484222325ULL;
  static constexpr uint64_t kPrime = 0x100000001b3ULL;

  void update(const void* data, std::size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  void update_u64(uint64_t v);  // 8 bytes, little-endian
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = kOffsetBasis;
};

// One-shot FNV-1a 64 of a byte string.
uint64_t fnv1a64(std::string_view s);

}  // namespace tickrt
