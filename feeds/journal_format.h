// The on-disk layout of a `.ticks` journal, shared by the writer, the reader and the inspector.
//
// All integers little-endian. Every record starts at an 8-byte aligned file offset, and so does its FlatBuffer,
// so a memory-mapped journal hands out FlatBuffers that verify and read in place without copying.
//
//   file header, 32 bytes
//     0  char[8]  magic "TICKRTJ\0"
//     8  u32      format version (1)
//    12  char[4]  schema identifier: the FlatBuffer file_identifier of every payload ("TICK", "SGNL", ...)
//    16  u32      header size (32; records start here)
//    20  u32      reserved, 0
//    24  u64      reserved, 0
//
//   record at offset R (R % 8 == 0), total size 4 + length (a multiple of 8)
//     0  u32      length: bytes after this field, padding included
//     4  u32      crc32c over bytes [0, 4) (the length field) and [8, 4 + length) (everything after the crc)
//     8  i64      receive timestamp, ns since the Unix epoch
//    16  u32      payload (FlatBuffer) length in bytes
//    20  u16      topic length in bytes
//    22  u16      reserved, 0
//    24  topic bytes, then zero padding to a multiple of 8
//    ..  payload bytes (starts 8-aligned), then zero padding to a multiple of 8
//
// A record is valid when its length is in range, its topic and payload lengths fill it exactly, it lies
// wholly inside the file, and its crc matches. Covering the length field by the crc means a flipped bit in
// the length cannot make a wrong span look valid.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace tickrt::journal {

inline constexpr std::array<char, 8> kMagic = {'T', 'I', 'C', 'K', 'R', 'T', 'J', '\0'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kHeaderSize = 32;
inline constexpr size_t kRecordFixedSize = 24;           // length, crc, recv_ns, payload_len, topic_len, reserved
inline constexpr size_t kMaxRecordLength = 16u << 20;  // larger length fields are treated as corruption
inline constexpr size_t kMaxTopicLength = 0xFFFF;

using SchemaId = std::array<char, 4>;
inline constexpr SchemaId kTickSchema = {'T', 'I', 'C', 'K'};
inline constexpr SchemaId kSignalSchema = {'S', 'G', 'N', 'L'};

constexpr size_t align8(size_t n) { return (n + 7) & ~size_t{7}; }

// Total bytes a record with these contents takes on disk, length field included.
constexpr size_t record_size(size_t topic_len, size_t payload_len) {
  return kRecordFixedSize + align8(topic_len) + align8(payload_len);
}

// One record as it lies in the mapped file: views into the mapping, valid while the reader lives.
struct RecordView {
  int64_t recv_ns = 0;
  std::string_view topic;
  std::span<const uint8_t> payload;  // the FlatBuffer, 8-byte aligned
  uint64_t offset = 0;               // file offset of the record's length field
};

enum class RecordStatus : uint8_t {
  Ok,       // a valid record
  Torn,     // the record runs past the end of the file: a write cut short
  Corrupt,  // bad length, inconsistent inner lengths or crc mismatch
};

// Parses the record at `offset` of a file image [base, base + size). On Ok fills `out`.
RecordStatus parse_record(const uint8_t* base, size_t size, size_t offset, RecordView& out) noexcept;

// The first 8-aligned offset after `from` where a valid record starts, or `size` when none does. Used to resynchronise after a corrupt record and to tell a corrupt middle from a corrupt tail.
size_t find_next_valid_record(const uint8_t* base, size_t size, size_t from) noexcept;

// Encodes the fixed part and the topic of a record into `dst` (room for record_size() bytes) and returns the
// record size; the payload is copied after the topic padding and the crc computed over the whole.
size_t encode_record(uint8_t* dst, int64_t recv_ns, std::string_view topic, std::span<const uint8_t> payload) noexcept;

// Encodes a file header for `schema` into `dst` [kHeaderSize].
void encode_header(uint8_t* dst, SchemaId schema) noexcept;

// Checks a header image; returns an empty string when valid, else what is wrong. Fills `schema` when valid.
std::string_view check_header(const uint8_t* data, size_t size, SchemaId& schema) noexcept;

inline std::string_view schema_name(const SchemaId& s) { return {s.data(), s.size()}; }

}  // namespace tickrt::journal
