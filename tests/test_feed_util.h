// A deterministic generated feed held in memory, shared by the socket tests (engine, scale-out).
#pragma once
#include <string>
#include <vector>

#include "feeds/generator.h"

namespace tickrt::test {

struct Feed {
  std::vector<feeds::TickEvent> ticks;
  std::vector<std::string> symbols;  // storage for the views in ticks[i].symbol
};

inline Feed make_feed(int instruments, int count, uint64_t seed) {
  feeds::GeneratorConfig gc;
  gc.instruments = instruments;
  gc.rate = 5000;
  gc.seed = seed;
  feeds::TickGenerator gen(gc);
  Feed f;
  f.symbols.reserve(count);
  for (int i = 0; i < count; ++i) {
    feeds::TickEvent e;
    gen.next(e);
    f.symbols.emplace_back(e.symbol);
    f.ticks.push_back(e);
  }
  for (int i = 0; i < count; ++i) f.ticks[i].symbol = f.symbols[i];
  return f;
}

}  // namespace tickrt::test
