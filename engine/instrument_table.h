// Symbol -> slot, with a fixed capacity set at start-up. A symbol beyond capacity is rejected (and counted by
// the caller), never evicting anyone: an instrument's slot is its for the engine's lifetime.
//
// Open addressing over a power-of-two table of fixed-size keys, so lookups allocate nothing and the hot path
// never touches the heap; symbols longer than kMaxSymbol are rejected.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tickrt {

class InstrumentTable {
 public:
  static constexpr size_t kMaxSymbol = 31;
  static constexpr int32_t kFull = -1;      // capacity reached: the symbol has no slot
  static constexpr int32_t kBadSymbol = -2;  // empty or longer than kMaxSymbol

  explicit InstrumentTable(int capacity);

  // The slot of `symbol`, assigning the next free one on first sight. Allocates nothing.
  int32_t slot_for(std::string_view symbol);
  // The slot of `symbol` if it has one, else kFull. Allocates nothing.
  int32_t find(std::string_view symbol) const;
  // Binds `symbol` to `slot` (snapshot restore); setup code, throws on conflicts.
  void bind(std::string_view symbol, int32_t slot);

  int capacity() const { return capacity_; }
  int size() const { return size_; }
  std::string_view symbol(int32_t slot) const { return {symbols_[slot].bytes, symbols_[slot].length}; }

 private:
  struct Key {
    char bytes[kMaxSymbol + 1] = {};
    uint8_t length = 0;
  };
  size_t probe_start(std::string_view s) const;
  int32_t lookup(std::string_view s, size_t* empty_pos) const;

  int capacity_;
  int size_ = 0;
  std::vector<int32_t> table_;  // [pow2 >= 2 * capacity]: slot or -1 (empty)
  std::vector<Key> symbols_;    // [capacity]: symbol of each slot
};

}  // namespace tickrt
