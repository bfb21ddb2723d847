#include "engine/instrument_table.h"

#include <fmt/core.h>

#include <cstring>
#include <stdexcept>

namespace tickrt {

InstrumentTable::InstrumentTable(int capacity) : capacity_(capacity) {
  if (capacity < 1) throw std::runtime_error(fmt::format("--max-instruments must be >= 1, got {}", capacity));
  size_t n = 16;
  while (n < 2 * static_cast<size_t>(capacity)) n <<= 1;
  table_.assign(n, -1);
  symbols_.resize(capacity);
}

size_t InstrumentTable::probe_start(std::string_view s) const {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h & (table_.size() - 1);
}

int32_t InstrumentTable::lookup(std::string_view s, size_t* empty_pos) const {
  for (size_t i = probe_start(s);; i = (i + 1) & (table_.size() - 1)) {
    const int32_t slot = table_[i];
    if (slot < 0) {
      if (empty_pos) *empty_pos = i;
      return kFull;
    }
    const Key& k = symbols_[slot];
    if (k.length == s.size() && std::memcmp(k.bytes, s.data(), s.size()) == 0) return slot;
  }
}

int32_t InstrumentTable::find(std::string_view s) const {
  if (s.empty() || s.size() > kMaxSymbol) return kBadSymbol;
  return lookup(s, nullptr);
}

int32_t InstrumentTable::slot_for(std::string_view s) {
  if (s.empty() || s.size() > kMaxSymbol) return kBadSymbol;
  size_t empty = 0;
  const int32_t found = lookup(s, &empty);
  if (found >= 0) return found;
  if (size_ >= capacity_) return kFull;
  const int32_t slot = size_++;
  std::memcpy(symbols_[slot].bytes, s.data(), s.size());
  symbols_[slot].length = static_cast<uint8_t>(s.size());
  table_[empty] = slot;
  return slot;
}

void InstrumentTable::bind(std::string_view s, int32_t slot) {
  if (s.empty() || s.size() > kMaxSymbol)
    throw std::runtime_error(fmt::format("instrument symbol '{}' is empty or longer than {}", s, kMaxSymbol));
  if (slot != size_)
    throw std::runtime_error(fmt::format("instrument '{}' restored to slot {} out of order (next is {})", s, slot, size_));
  if (find(s) >= 0) throw std::runtime_error(fmt::format("instrument '{}' restored twice", s));
  if (slot_for(s) != slot) throw std::runtime_error(fmt::format("instrument '{}' does not fit the table", s));
}

}  // namespace tickrt
