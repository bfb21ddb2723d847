// CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78): the checksum of every journal record.
// crc32c() uses the SSE4.2 crc32 instruction when the build targets it (__SSE4_2__), else slicing-by-8 tables.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tickrt {

// CRC-32C of `n` bytes. Chainable: crc32c(b, nb, crc32c(a, na)) == crc32c of a followed by b.
// Check value: crc32c("123456789", 9) == 0xE3069283.
uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0) noexcept;

// The portable slicing-by-8 path, always compiled (the tests compare it with the hardware path).
uint32_t crc32c_software(const void* data, size_t n, uint32_t crc = 0) noexcept;

// True when crc32c() runs on the SSE4.2 instruction.
bool crc32c_is_hardware() noexcept;

}  // namespace tickrt
