// CRC-32C: the published check value, and the hardware and table paths agreeing on every length/alignment.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "feeds/crc32c.h"

using tickrt::crc32c;
using tickrt::crc32c_software;

TEST_CASE("journal: crc32c check value 123456789", "[journal][crc32c]") {
  const std::string check = "123456789";
  CHECK(crc32c(check.data(), check.size()) == 0xE3069283u);
  CHECK(crc32c_software(check.data(), check.size()) == 0xE3069283u);
  CHECK(crc32c(check.data(), 0) == 0u);
  // RFC 3720 B.4: 32 bytes of zeros.
  const std::vector<uint8_t> zeros(32, 0);
  CHECK(crc32c(zeros.data(), zeros.size()) == 0x8A9136AAu);
  CHECK(crc32c_software(zeros.data(), zeros.size()) == 0x8A9136AAu);
}

TEST_CASE("journal: crc32c hardware and software paths agree and chain", "[journal][crc32c]") {
  std::mt19937 rng(7);
  std::vector<uint8_t> data(1000);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  for (size_t start = 0; start < 9; ++start) {
    for (size_t len : {0u, 1u, 7u, 8u, 9u, 63u, 64u, 65u, 500u, 991u}) {
      const uint32_t hw = crc32c(data.data() + start, len);
      REQUIRE(hw == crc32c_software(data.data() + start, len));
      for (size_t split : {size_t{0}, len / 3, len}) {
        const uint32_t a = crc32c(data.data() + start, split);
        REQUIRE(crc32c(data.data() + start + split, len - split, a) == hw);
      }
    }
  }
  // A single flipped bit always changes the checksum.
  const uint32_t before = crc32c(data.data(), data.size());
  data[321] ^= 0x10;
  CHECK(crc32c(data.data(), data.size()) != before);
}
