#include "engine/shard.h"

#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <stdexcept>

#include "engine/hash.h"

namespace tickrt {

int shard_of(std::string_view symbol, int count) noexcept {
  return static_cast<int>(fnv1a64(symbol) % static_cast<uint64_t>(count));
}

bool owns(std::string_view symbol, int index, int count) noexcept {
  return count <= 1 || shard_of(symbol, count) == index;
}

ShardSpec parse_shard(std::string_view spec) {
  const auto fail = [&] {
    return std::runtime_error(fmt::format("--shard '{}': expected i/n with 0 <= i < n (e.g. 0/3)", spec));
  };
  const size_t slash = spec.find('/');
  if (slash == std::string_view::npos) throw fail();
  ShardSpec s;
  const auto parse = [](std::string_view text, int& out) {
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size() && !text.empty();
  };
  if (!parse(spec.substr(0, slash), s.index) || !parse(spec.substr(slash + 1), s.count)) throw fail();
  if (s.count < 1 || s.index < 0 || s.index >= s.count) throw fail();
  return s;
}

std::vector<std::string> read_symbols_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open the symbol list", file.string()));
  std::vector<std::string> symbols;
  std::set<std::string> seen;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    const size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    const size_t e = line.find_last_not_of(" \t\r");
    std::string sym = line.substr(b, e - b + 1);
    if (!seen.insert(sym).second)
      throw std::runtime_error(fmt::format("{}:{}: symbol '{}' listed twice", file.string(), n, sym));
    symbols.push_back(std::move(sym));
  }
  if (symbols.empty()) throw std::runtime_error(fmt::format("{}: the symbol list is empty", file.string()));
  return symbols;
}

SymbolSet::SymbolSet(std::vector<std::string> symbols) : sorted_(std::move(symbols)) {
  std::sort(sorted_.begin(), sorted_.end());
  sorted_.erase(std::unique(sorted_.begin(), sorted_.end()), sorted_.end());
}

bool SymbolSet::contains(std::string_view symbol) const noexcept {
  const auto it = std::lower_bound(sorted_.begin(), sorted_.end(), symbol,
                                   [](const std::string& a, std::string_view b) { return std::string_view(a) < b; });
  return it != sorted_.end() && std::string_view(*it) == symbol;
}

}  // namespace tickrt
