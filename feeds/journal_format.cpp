#include "feeds/journal_format.h"

#include <cstring>

#include "feeds/crc32c.h"

namespace tickrt::journal {
namespace {

template <typename T>
T load(const uint8_t* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

template <typename T>
void store(uint8_t* p, T v) noexcept {
  std::memcpy(p, &v, sizeof(T));
}

uint32_t record_crc(const uint8_t* rec, size_t total) noexcept {
  uint32_t crc = crc32c(rec, 4);      // the length field
  return crc32c(rec + 8, total - 8, crc);  // everything after the crc field
}

}  // namespace

RecordStatus parse_record(const uint8_t* base, size_t size, size_t offset, RecordView& out) noexcept {
  if (offset + 4 > size) return RecordStatus::Torn;
  const uint8_t* rec = base + offset;
  const uint32_t length = load<uint32_t>(rec);
  const size_t total = size_t{4} + length;
  if (length > kMaxRecordLength || total < kRecordFixedSize || total % 8 != 0) return RecordStatus::Corrupt;
  if (offset + total > size) return RecordStatus::Torn;
  const uint32_t payload_len = load<uint32_t>(rec + 16);
  const uint16_t topic_len = load<uint16_t>(rec + 20);
  if (payload_len > kMaxRecordLength || record_size(topic_len, payload_len) != total) return RecordStatus::Corrupt;
  if (load<uint32_t>(rec + 4) != record_crc(rec, total)) return RecordStatus::Corrupt;
  out.recv_ns = load<int64_t>(rec + 8);
  out.topic = std::string_view(reinterpret_cast<const char*>(rec + kRecordFixedSize), topic_len);
  out.payload = std::span<const uint8_t>(rec + kRecordFixedSize + align8(topic_len), payload_len);
  out.offset = offset;
  return RecordStatus::Ok;
}

size_t find_next_valid_record(const uint8_t* base, size_t size, size_t from) noexcept {
  RecordView scratch;
  for (size_t off = align8(from + 1); off + kRecordFixedSize <= size; off += 8)
    if (parse_record(base, size, off, scratch) == RecordStatus::Ok) return off;
  return size;
}

size_t encode_record(uint8_t* dst, int64_t recv_ns, std::string_view topic, std::span<const uint8_t> payload) noexcept {
  const size_t total = record_size(topic.size(), payload.size());
  std::memset(dst, 0, total);  // zero padding and reserved fields
  store<uint32_t>(dst, static_cast<uint32_t>(total - 4));
  store<int64_t>(dst + 8, recv_ns);
  store<uint32_t>(dst + 16, static_cast<uint32_t>(payload.size()));
  store<uint16_t>(dst + 20, static_cast<uint16_t>(topic.size()));
  if (!topic.empty()) std::memcpy(dst + kRecordFixedSize, topic.data(), topic.size());
  if (!payload.empty()) std::memcpy(dst + kRecordFixedSize + align8(topic.size()), payload.data(), payload.size());
  store<uint32_t>(dst + 4, record_crc(dst, total));
  return total;
}

void encode_header(uint8_t* dst, SchemaId schema) noexcept {
  std::memset(dst, 0, kHeaderSize);
  std::memcpy(dst, kMagic.data(), kMagic.size());
  store<uint32_t>(dst + 8, kFormatVersion);
  std::memcpy(dst + 12, schema.data(), schema.size());
  store<uint32_t>(dst + 16, static_cast<uint32_t>(kHeaderSize));
}

std::string_view check_header(const uint8_t* data, size_t size, SchemaId& schema) noexcept {
  if (size < kHeaderSize) return "file is shorter than a journal header";
  if (std::memcmp(data, kMagic.data(), kMagic.size()) != 0) return "bad magic (not a tickrt journal)";
  if (load<uint32_t>(data + 8) != kFormatVersion) return "unsupported journal format version";
  if (load<uint32_t>(data + 16) != kHeaderSize) return "unexpected header size";
  std::memcpy(schema.data(), data + 12, schema.size());
  return {};
}

}  // namespace tickrt::journal
