// From the feed's decoded tick (feeds::TickEvent) to what the pipeline and the features read. One place, so
// the live engine, the backtest and `tickrt features` interpret a tick identically.
#pragma once
#include "engine/features.h"
#include "engine/pipeline.h"
#include "feeds/tick_codec.h"

namespace tickrt {

inline MarketTick to_market_tick(const feeds::TickEvent& e) {
  MarketTick m;
  m.event_time_ns = e.event_time_ns;
  m.is_trade = e.kind == feeds::TickKind::Trade;
  m.price = e.price;
  m.size = e.size;
  m.side = e.side == feeds::Side::Buy ? 1 : e.side == feeds::Side::Sell ? -1 : 0;
  m.bid = e.bid_price;
  m.bid_size = e.bid_size;
  m.ask = e.ask_price;
  m.ask_size = e.ask_size;
  return m;
}

inline TickIn to_tick_in(const feeds::TickEvent& e, int64_t decoded_ns) {
  TickIn in;
  in.symbol = e.symbol;
  in.seq = e.seq;
  in.symbol_seq = e.symbol_seq;
  in.send_ns = e.send_time_ns;
  in.recv_ns = e.recv_time_ns;
  in.decoded_ns = decoded_ns;
  in.tick = to_market_tick(e);
  return in;
}

}  // namespace tickrt
