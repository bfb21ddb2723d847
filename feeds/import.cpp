#include "feeds/import.h"

#include <flatbuffers/flatbuffers.h>
#include <fmt/core.h>

#include <algorithm>
#include <filesystem>
#include <queue>
#include <stdexcept>

#include "feeds/import_fxcm.h"
#include "feeds/journal_time.h"
#include "feeds/journal_writer.h"

namespace tickrt::import {

Format parse_format(std::string_view name) {
  if (name == "fxcm") return Format::Fxcm;
  if (name == "tardis-trades") return Format::TardisTrades;
  if (name == "tardis-quotes") return Format::TardisQuotes;
  if (name == "binance-raw") return Format::BinanceRaw;
  if (name == "csv") return Format::Csv;
  throw std::invalid_argument(
      fmt::format("format '{}': expected fxcm, tardis-trades, tardis-quotes, binance-raw or csv", name));
}

std::string_view format_name(Format f) {
  switch (f) {
    case Format::Fxcm:
      return "fxcm";
    case Format::TardisTrades:
      return "tardis-trades";
    case Format::TardisQuotes:
      return "tardis-quotes";
    case Format::BinanceRaw:
      return "binance-raw";
    case Format::Csv:
      return "csv";
  }
  return "?";
}

std::pair<Format, std::string> input_format(const std::string& input, std::optional<Format> fallback) {
  const size_t colon = input.find(':');
  if (colon != std::string::npos) {
    try {
      return {parse_format(std::string_view(input).substr(0, colon)), input.substr(colon + 1)};
    } catch (const std::invalid_argument&) {
      // not a format prefix: a path with a colon in it
    }
  }
  if (!fallback)
    throw std::runtime_error(fmt::format("{}: no format: give --format or prefix it as FMT:path", input));
  return {*fallback, input};
}

InputResult parse_input(const std::string& input, const ImportOptions& opts, SymbolTable& symbols) {
  const auto [format, path] = input_format(input, opts.format);
  switch (format) {
    case Format::Fxcm:
      return parse_fxcm(path, opts.parse, symbols);
    case Format::TardisTrades:
      return parse_csv(path, tardis_trades_spec(), opts.parse, symbols);
    case Format::TardisQuotes:
      return parse_csv(path, tardis_quotes_spec(), opts.parse, symbols);
    case Format::BinanceRaw:
      return parse_binance_raw(path, opts.binance_clock, opts.parse, symbols);
    case Format::Csv:
      return parse_csv(path, opts.csv, opts.parse, symbols);
  }
  throw std::logic_error("unknown import format");
}

std::vector<MergedRef> merge_by_time(std::vector<InputResult>& inputs, std::vector<uint64_t>& reordered) {
  auto by_time = [](const ImportedTick& a, const ImportedTick& b) { return a.event_ns < b.event_ns; };
  reordered.assign(inputs.size(), 0);
  size_t total = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto& ticks = inputs[i].ticks;
    if (ticks.size() > UINT32_MAX) throw std::runtime_error(fmt::format("{}: too many rows", inputs[i].path));
    for (size_t r = 1; r < ticks.size(); ++r) reordered[i] += ticks[r].event_ns < ticks[r - 1].event_ns;
    if (reordered[i] > 0) std::stable_sort(ticks.begin(), ticks.end(), by_time);
    total += ticks.size();
  }
  // k-way merge: a min-heap of each input's next row, ordered by (event time, input index).
  struct Head {
    int64_t event_ns;
    uint32_t input, row;
  };
  auto later = [](const Head& a, const Head& b) {
    return a.event_ns != b.event_ns ? a.event_ns > b.event_ns : a.input > b.input;
  };
  std::priority_queue<Head, std::vector<Head>, decltype(later)> heap(later);
  for (uint32_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].ticks.empty()) heap.push({inputs[i].ticks[0].event_ns, i, 0});
  std::vector<MergedRef> order;
  order.reserve(total);
  while (!heap.empty()) {
    const Head h = heap.top();
    heap.pop();
    order.push_back({h.input, h.row});
    const auto& ticks = inputs[h.input].ticks;
    if (h.row + 1 < ticks.size()) heap.push({ticks[h.row + 1].event_ns, h.input, h.row + 1});
  }
  return order;
}

ImportSummary import_files(const ImportOptions& opts) {
  if (opts.inputs.empty()) throw std::runtime_error("import: no input files");
  if (opts.out.empty()) throw std::runtime_error("import: no output file (--out)");
  SymbolTable symbols;
  ImportSummary summary;
  for (const auto& path : opts.inputs) summary.inputs.push_back(parse_input(path, opts, symbols));
  const std::vector<MergedRef> order = merge_by_time(summary.inputs, summary.reordered);

  // Written beside the target and renamed into place, so a failed import never leaves half a journal.
  const std::string tmp = opts.out + ".tmp";
  uint64_t seq = 0;
  std::vector<uint64_t> symbol_seq(symbols.size(), 0);  // [symbols] per-symbol sequence numbers so far
  try {
    journal::JournalWriter writer(tmp,
                                  journal::WriterOptions{.schema = journal::kTickSchema, .truncate = true});
    flatbuffers::FlatBufferBuilder fbb(256);  // reused: Clear() per record
    for (const MergedRef& ref : order) {
      const ImportedTick& t = summary.inputs[ref.input].ticks[ref.row];
      fbb.Clear();
      // send_time_ns stays 0: nothing has sent these ticks yet; replay stamps it.
      wire::FinishTickBuffer(fbb, wire::CreateTick(fbb, ++seq, t.event_ns, 0, t.kind, t.price, t.size, t.side,
                                                   t.bid_price, t.bid_size, t.ask_price, t.ask_size,
                                                   ++symbol_seq[t.symbol]));
      writer.append(t.recv_ns, symbols.name(t.symbol), {fbb.GetBufferPointer(), fbb.GetSize()});
      if (seq == 1) summary.first_event_ns = t.event_ns;
      summary.last_event_ns = t.event_ns;
    }
    writer.sync();
    writer.close();
    std::filesystem::rename(tmp, opts.out);
  } catch (const std::exception& e) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw std::runtime_error(fmt::format("{}: writing the journal failed: {}", opts.out, e.what()));
  }

  summary.written = seq;
  for (auto& in : summary.inputs) {
    summary.rows += in.rows;
    for (size_t r = 0; r < kSkipReasonCount; ++r) {
      summary.skipped[r] += in.skipped[r];
      summary.kept_bad[r] += in.kept_bad[r];
    }
    in.ticks = {};  // written: release the memory
  }
  for (size_t i = 0; i < symbols.size(); ++i)
    summary.symbols.push_back(symbols.name(static_cast<uint32_t>(i)));
  return summary;
}

std::string format_summary(const ImportSummary& s, size_t max_samples) {
  std::string out;
  auto reasons = [&out](const char* what, const std::array<uint64_t, kSkipReasonCount>& counts) {
    for (size_t r = 0; r < kSkipReasonCount; ++r)
      if (counts[r] > 0)
        out +=
            fmt::format("  {} {:>10}  {}\n", what, counts[r], skip_reason_name(static_cast<SkipReason>(r)));
  };
  for (size_t i = 0; i < s.inputs.size(); ++i) {
    const InputResult& in = s.inputs[i];
    uint64_t kept = 0;
    for (uint64_t k : in.kept_bad) kept += k;
    out += fmt::format("{}: {} rows, {} skipped, {} bad rows kept{}\n", in.path, in.rows, in.skipped_total(),
                       kept,
                       i < s.reordered.size() && s.reordered[i] > 0
                           ? fmt::format(", {} rows out of time order (sorted, stable)", s.reordered[i])
                           : "");
    for (const auto& note : in.notes) out += fmt::format("  note: {}\n", note);
  }
  size_t shown = 0;
  for (const auto& in : s.inputs)
    for (const auto& bad : in.samples)
      if (shown++ < max_samples)
        out += fmt::format("  {}:{}: {} ({}): {}\n", bad.path, bad.line, skip_reason_name(bad.reason),
                           bad.kept ? "kept" : "skipped", bad.text);
  out += fmt::format("rows read   {:>10}\nwritten     {:>10}\n", s.rows, s.written);
  reasons("skipped", s.skipped);
  reasons("kept   ", s.kept_bad);
  std::string syms;
  for (const auto& sym : s.symbols) syms += (syms.empty() ? "" : ", ") + sym;
  out += fmt::format("symbols     {}\n", syms);
  if (s.written > 0)
    out += fmt::format("event time  {} .. {}\n", journal::format_utc_ns(s.first_event_ns),
                       journal::format_utc_ns(s.last_event_ns));
  return out;
}

}  // namespace tickrt::import
