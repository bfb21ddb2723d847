#include <catch2/catch.hpp>

#include <fmt/core.h>

#include "engine/instrument_table.h"

using tickrt::InstrumentTable;

TEST_CASE("instruments: slots are stable, capacity rejects without eviction", "[engine]") {
  InstrumentTable t(3);
  CHECK(t.slot_for("EURUSD") == 0);
  CHECK(t.slot_for("NZDUSD") == 1);
  CHECK(t.slot_for("EURUSD") == 0);
  CHECK(t.slot_for("BTCUSDT") == 2);
  CHECK(t.slot_for("ETHUSDT") == InstrumentTable::kFull);
  CHECK(t.slot_for("ETHUSDT") == InstrumentTable::kFull);
  CHECK(t.find("NZDUSD") == 1);
  CHECK(t.symbol(2) == "BTCUSDT");
  CHECK(t.size() == 3);
  CHECK(t.slot_for("") == InstrumentTable::kBadSymbol);
  CHECK(t.slot_for(std::string(40, 'X')) == InstrumentTable::kBadSymbol);
}

TEST_CASE("instruments: many symbols, prefixes and collisions", "[engine]") {
  InstrumentTable t(1000);
  for (int i = 0; i < 1000; ++i) REQUIRE(t.slot_for(fmt::format("SYM{:04}", i)) == i);
  for (int i = 0; i < 1000; ++i) REQUIRE(t.find(fmt::format("SYM{:04}", i)) == i);
  CHECK(t.find("SYM") == InstrumentTable::kFull);
  CHECK(t.find("SYM00000") == InstrumentTable::kFull);
  CHECK(t.slot_for("SYM1000") == InstrumentTable::kFull);
}

TEST_CASE("instruments: bind restores slots in order", "[engine]") {
  InstrumentTable t(4);
  t.bind("A", 0);
  t.bind("B", 1);
  CHECK_THROWS_WITH(t.bind("C", 3), Catch::Contains("out of order"));
  CHECK_THROWS_WITH(t.bind("A", 2), Catch::Contains("twice"));
  CHECK(t.slot_for("C") == 2);
}
