// Which engine owns an instrument when n engines share one feed (`tickrt run --shard i/n`).
//
// An instrument belongs to shard  fnv1a64(symbol) mod n  (FNV-1a 64 of the symbol's bytes, engine/hash.h):
// stable across processes, hosts, restarts and releases (never std::hash, which may differ between builds),
// so n engines started with --shard 0/n … (n-1)/n cover a feed exactly once, and an engine restarted with the
// same i/n owns the same instruments its snapshot holds. Changing n moves instruments between shards.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace tickrt {

// The shard a symbol belongs to among `count` shards: fnv1a64(symbol) % count. count >= 1.
int shard_of(std::string_view symbol, int count) noexcept;

// True when shard `index` of `count` owns `symbol`. count 1 owns everything. Allocation-free (the hot path).
bool owns(std::string_view symbol, int index, int count) noexcept;

struct ShardSpec {
  int index = 0;
  int count = 1;
};

// Parses "i/n" with 0 <= i < n. Throws std::runtime_error naming the value.
ShardSpec parse_shard(std::string_view spec);

// Reads a symbol list: one symbol per line; blank lines and lines starting with '#' are skipped, surrounding
// whitespace is trimmed. Throws std::runtime_error naming the file (missing, unreadable, empty, duplicates).
std::vector<std::string> read_symbols_file(const std::filesystem::path& file);

// Exact-match membership in a fixed symbol set, allocation-free after construction (a sorted vector searched
// with string_view keys). ZeroMQ's topic filter is a prefix match ("EUR" also lets "EURUSD" through), so the
// engine checks every tick against the exact list too.
class SymbolSet {
 public:
  SymbolSet() = default;
  explicit SymbolSet(std::vector<std::string> symbols);
  bool empty() const noexcept { return sorted_.empty(); }
  bool contains(std::string_view symbol) const noexcept;

 private:
  std::vector<std::string> sorted_;  // [symbols] ascending, unique
};

}  // namespace tickrt
