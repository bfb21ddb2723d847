// The fuzz target bodies (see fuzz_targets.h). Loaders that take a path get the bytes through one scratch file
// per target in a per-process directory (/dev/shm when writable, else the temp dir), rewritten on every call.
#include "fuzz/fuzz_targets.h"

#include <fmt/core.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/feature_spec.h"
#include "engine/hash.h"
#include "engine/model.h"
#include "engine/model_config.h"
#include "engine/safetensors.h"
#include "engine/snapshot.h"
#include "feeds/crc32c.h"
#include "feeds/import.h"
#include "feeds/import_binance.h"
#include "feeds/import_csv.h"
#include "feeds/import_fxcm.h"
#include "feeds/journal_format.h"
#include "feeds/journal_reader.h"
#include "feeds/tick_codec.h"

namespace tickrt::fuzz {
namespace {

namespace fs = std::filesystem;

// Everything a target reads goes into this sum, so the reads cannot be optimised away.
volatile double g_sink = 0;
void touch(double v) { g_sink = g_sink + v; }
void touch(std::string_view s) {
  uint64_t h = 0;
  for (char c : s) h = h * 31 + static_cast<unsigned char>(c);
  touch(static_cast<double>(h & 0xffff));
}

// A broken invariant: print it and abort, which libFuzzer reports as a crash with the input saved.
[[noreturn]] void violated(std::string_view what) {
  std::fprintf(stderr, "fuzz invariant violated: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

// A loader's error must name the file it was given.
void require_names_file(const std::runtime_error& e, const std::string& path) {
  if (std::string_view(e.what()).find(path) == std::string_view::npos)
    violated(fmt::format("error does not name the file {}: {}", path, e.what()));
}

// The per-process scratch directory, removed at exit.
class ScratchDir {
 public:
  ScratchDir() {
    const char* shm = "/dev/shm";
    const fs::path base = ::access(shm, W_OK) == 0 ? fs::path(shm) : fs::temp_directory_path();
    std::string templ = (base / "tickrt-fuzz-XXXXXX").string();
    if (!::mkdtemp(templ.data())) violated(fmt::format("mkdtemp {} failed", templ));
    dir_ = templ;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // Writes the bytes to `name` in the scratch directory and returns its path.
  std::string write(const std::string& name, const void* data, size_t size) const {
    const std::string path = (dir_ / name).string();
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f || (size > 0 && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0)
      violated(fmt::format("cannot write scratch file {}", path));
    return path;
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

 private:
  fs::path dir_;
};

const ScratchDir& scratch() {
  static const ScratchDir dir;
  return dir;
}

// Reads back what was just written from an accepted input: an error here is a broken invariant, not a rejection.
template <class F>
auto read_back(F f) {
  try {
    return f();
  } catch (const std::runtime_error& e) {
    violated(fmt::format("an accepted input cannot be read back once written: {}", e.what()));
  }
}

// Accepted ticks are finite in every field; -0.0 comes back as 0.0 (FlatBuffers omits a field equal to its
// default), so values are compared, not bits.
bool same_value(double a, double b) { return a == b; }

// Reads every field of a decoded event.
void touch(const feeds::Decoded& d) {
  if (!d.ok) {
    touch(static_cast<double>(d.reason));
    touch(feeds::reject_reason_name(d.reason));
    return;
  }
  if (d.kind == feeds::PayloadKind::Tick) {
    const feeds::TickEvent& t = d.tick;
    touch(t.symbol);
    touch(static_cast<double>(t.seq) + static_cast<double>(t.event_time_ns) + static_cast<double>(t.send_time_ns));
    touch(static_cast<double>(t.kind) + static_cast<double>(t.side));
    touch(t.price + t.size + t.bid_price + t.bid_size + t.ask_price + t.ask_size);
  } else {
    const feeds::SignalEvent& s = d.signal;
    touch(s.symbol);
    touch(static_cast<double>(s.seq) + static_cast<double>(s.event_time_ns) + static_cast<double>(s.recv_time_ns) +
          static_cast<double>(s.publish_time_ns));
    for (uint32_t i = 0; i < s.prediction_count; ++i) touch(s.prediction[i]);
    touch(static_cast<double>(s.context_age) + static_cast<double>(s.model_hash) + static_cast<double>(s.flags));
  }
}

// An accepted message, built again and decoded again, must come back bit for bit.
void check_round_trip(const feeds::Decoded& d, std::string_view topic) {
  static feeds::MessageBuilder builder;
  static feeds::MessageDecoder decoder;
  if (d.kind == feeds::PayloadKind::Tick) {
    const feeds::TickEvent& a = d.tick;
    const feeds::Decoded again = decoder.decode(topic, builder.build_tick(a));
    const feeds::TickEvent& b = again.tick;
    if (!again.ok || again.kind != feeds::PayloadKind::Tick || b.symbol != a.symbol || b.seq != a.seq ||
        b.symbol_seq != a.symbol_seq || b.event_time_ns != a.event_time_ns || b.send_time_ns != a.send_time_ns ||
        b.kind != a.kind || b.side != a.side || !same_value(b.price, a.price) || !same_value(b.size, a.size) ||
        !same_value(b.bid_price, a.bid_price) || !same_value(b.bid_size, a.bid_size) ||
        !same_value(b.ask_price, a.ask_price) || !same_value(b.ask_size, a.ask_size))
      violated("an accepted tick does not survive build_tick + decode");
  } else {
    const feeds::SignalEvent& a = d.signal;
    const std::vector<float> prediction(a.prediction, a.prediction + a.prediction_count);  // [H]
    feeds::SignalEvent copy = a;
    copy.prediction = prediction.data();
    const feeds::Decoded again = decoder.decode(topic, builder.build_signal(copy));
    const feeds::SignalEvent& b = again.signal;
    if (!again.ok || again.kind != feeds::PayloadKind::Signal || b.seq != a.seq ||
        b.event_time_ns != a.event_time_ns || b.recv_time_ns != a.recv_time_ns ||
        b.publish_time_ns != a.publish_time_ns || b.prediction_count != a.prediction_count ||
        b.context_age != a.context_age || b.model_hash != a.model_hash || b.flags != a.flags ||
        (a.prediction_count > 0 &&
         std::memcmp(b.prediction, prediction.data(), prediction.size() * sizeof(float)) != 0))
      violated("an accepted signal does not survive build_signal + decode");
  }
}

int decode_message(const uint8_t* data, size_t size, const char identifier[4]) {
  static feeds::MessageDecoder decoder;
  if (size == 0) return kRejected;
  const size_t topic_len = std::min<size_t>(data[0] % 80, size - 1);
  const std::string_view topic(reinterpret_cast<const char*>(data + 1), topic_len);
  // The payload in its own heap block of exactly its size, so a read past its end is an ASan error.
  std::vector<uint8_t> payload(data + 1 + topic_len, data + size);
  if (payload.size() >= feeds::kMinPayloadBytes) std::memcpy(payload.data() + 4, identifier, 4);
  const feeds::Decoded d = decoder.decode(topic, payload);
  touch(d);
  if (!d.ok) return kRejected;
  check_round_trip(d, topic);
  return kAccepted;
}

// ---- journal ------------------------------------------------------------------------------------------------

uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Writes the right crc into every record reachable by following length fields from the first record.
void fix_record_crcs(std::vector<uint8_t>& file) {
  size_t pos = journal::kHeaderSize;
  while (pos + journal::kRecordFixedSize <= file.size()) {
    const size_t total = size_t{4} + load_u32(file.data() + pos);
    if (total < journal::kRecordFixedSize || total % 8 != 0 || total > file.size() - pos) break;
    uint32_t crc = crc32c(file.data() + pos, 4);
    crc = crc32c(file.data() + pos + 8, total - 8, crc);
    std::memcpy(file.data() + pos + 4, &crc, 4);
    pos += total;
  }
}

void touch(const journal::RecordView& r) {
  static feeds::MessageDecoder decoder;
  touch(static_cast<double>(r.recv_ns) + static_cast<double>(r.offset));
  touch(r.topic);
  for (uint8_t b : r.payload) touch(b);
  touch(decoder.decode(r.topic, r.payload));
}

}  // namespace

int tick_decoder(const uint8_t* data, size_t size) { return decode_message(data, size, "TICK"); }
int signal_decoder(const uint8_t* data, size_t size) { return decode_message(data, size, "SGNL"); }

int journal_reader(const uint8_t* data, size_t size) {
  if (size == 0) return kRejected;
  const uint8_t mode = data[0];
  std::vector<uint8_t> file(data + 1, data + size);  // the journal image, exactly its size on the heap
  if (mode & 1) fix_record_crcs(file);

  // The in-memory core on the heap image, where ASan sees any read past the end.
  journal::SchemaId schema{};
  if (journal::check_header(file.data(), file.size(), schema).empty()) {
    size_t pos = journal::kHeaderSize;
    while (pos < file.size()) {
      journal::RecordView r;
      if (journal::parse_record(file.data(), file.size(), pos, r) == journal::RecordStatus::Ok) {
        touch(r);
        pos += journal::record_size(r.topic.size(), r.payload.size());
      } else {
        const size_t next = journal::find_next_valid_record(file.data(), file.size(), pos);
        if (next <= pos) violated("find_next_valid_record did not move forward");
        pos = next;
      }
    }
  }

  // The reader as the engine and `tickrt replay` use it, on a real (mapped) file.
  const std::string path = scratch().write("fuzz.ticks", file.data(), file.size());
  try {
    journal::ReaderOptions options;
    options.skip_corrupt = (mode & 2) != 0;
    journal::JournalReader reader(path, options);
    for (int pass = 0; pass < 2; ++pass) {  // the second pass after rewind() must see the same
      journal::RecordView r;
      uint64_t record_bytes = 0;
      while (reader.next(r)) {
        touch(r);
        record_bytes += journal::record_size(r.topic.size(), r.payload.size());
      }
      const journal::ReadStats& st = reader.stats();
      if (record_bytes + st.bytes_skipped != reader.file_size() - journal::kHeaderSize)
        violated(fmt::format("journal stats: {} record bytes + {} skipped != {} bytes after the header",
                             record_bytes, st.bytes_skipped, reader.file_size() - journal::kHeaderSize));
      if (st.tail_bytes > st.bytes_skipped || st.end_offset > reader.file_size())
        violated("journal stats: tail or end offset beyond the file");
      reader.rewind();
    }
    return kAccepted;
  } catch (const std::runtime_error& e) {
    require_names_file(e, path);
    return kRejected;
  }
}

int safetensors(const uint8_t* data, size_t size) {
  const std::string path = scratch().write("model.safetensors", data, size);
  try {
    const safetensors::File file(path);
    for (const auto& [key, value] : file.metadata()) touch(key), touch(value);
    for (const safetensors::TensorEntry& e : file.entries()) {
      const std::vector<float> values = file.read_f32(e);  // [numel]
      if (static_cast<int64_t>(values.size()) != e.numel())
        violated(fmt::format("tensor {}: read {} values, numel {}", e.name, values.size(), e.numel()));
      for (float v : values) touch(v);
      if (file.find(e.name) == nullptr) violated("find() misses an entry");
    }
    return kAccepted;
  } catch (const std::runtime_error& e) {
    require_names_file(e, path);
    return kRejected;
  }
}

int model_config(const uint8_t* data, size_t size) {
  const std::string path = scratch().write("config.json", data, size);
  try {
    const ModelConfig cfg = ModelConfig::load(path);
    // What the loader would then ask of model.safetensors: every tensor's shape.
    for (const TensorSpec& t : expected_tensors(cfg)) {
      touch(t.name);
      for (int64_t d : t.shape) touch(static_cast<double>(d));
    }
    const nlohmann::json canonical = cfg.to_json();
    if (read_back([&] { return ModelConfig::from_json(canonical, path).to_json(); }) != canonical)
      violated("an accepted config.json does not survive to_json + from_json");
    return kAccepted;
  } catch (const std::runtime_error& e) {
    require_names_file(e, path);
    return kRejected;
  }
}

int feature_spec(const uint8_t* data, size_t size) {
  const std::string path = scratch().write("features.json", data, size);
  try {
    const FeatureSpec spec = FeatureSpec::load(path);
    std::array<float, kFeatureCount> raw{};  // [kFeatureCount]
    for (int i = 0; i < kFeatureCount; ++i) raw[static_cast<size_t>(i)] = static_cast<float>(i) - 9.5f;
    std::vector<float> x(static_cast<size_t>(spec.n_features()));  // [F]
    spec.normalise(raw.data(), x.data());
    for (float v : x) touch(v);
    for (const OutputSpec& o : spec.outputs) touch(o.name), touch(o.horizon);
    const nlohmann::json canonical = spec.to_json();
    if (read_back([&] { return FeatureSpec::from_json(canonical, path).to_json(); }) != canonical)
      violated("an accepted features.json does not survive to_json + from_json");
    return kAccepted;
  } catch (const std::runtime_error& e) {
    require_names_file(e, path);
    return kRejected;
  }
}

int snapshot(const uint8_t* data, size_t size) {
  std::vector<uint8_t> file(data, data + size);
  const uint64_t hash = fnv1a64(std::string_view(reinterpret_cast<const char*>(data), size));
  for (int i = 0; i < 8; ++i) file.push_back(static_cast<uint8_t>(hash >> (8 * i)));
  const std::string path = scratch().write("state.snap", file.data(), file.size());
  try {
    const Snapshot s = read_snapshot(path);
    for (const SnapshotInstrument& in : s.instruments) {
      touch(static_cast<double>(in.slot) + static_cast<double>(in.journal_position.value_or(0)));
      touch(in.symbol);
      if (in.state.size() != s.state_bytes) violated("snapshot instrument state size differs from state_bytes");
      for (std::byte b : in.state) touch(static_cast<double>(b));
      for (std::byte b : in.engine_state) touch(static_cast<double>(b));
    }
    const std::string copy = scratch().path("state-copy.snap");
    const Snapshot again = read_back([&] {
      write_snapshot(copy, s);
      return read_snapshot(copy);
    });
    bool same = again.model_hash == s.model_hash && again.state_bytes == s.state_bytes &&
                again.instruments.size() == s.instruments.size();
    for (size_t i = 0; same && i < s.instruments.size(); ++i) {
      const SnapshotInstrument &a = s.instruments[i], &b = again.instruments[i];
      same = a.slot == b.slot && a.symbol == b.symbol && a.journal_position == b.journal_position &&
             a.state == b.state && a.engine_state == b.engine_state;
    }
    if (!same) violated("an accepted snapshot does not survive write_snapshot + read_snapshot");
    return kAccepted;
  } catch (const std::runtime_error& e) {
    require_names_file(e, path);
    return kRejected;
  }
}

// ---- importers ----------------------------------------------------------------------------------------------
namespace {

import::ParseOptions parse_options(uint8_t control) {
  import::ParseOptions opts;
  static constexpr import::BadRowPolicy kPolicies[] = {import::BadRowPolicy::Skip, import::BadRowPolicy::Keep,
                                                       import::BadRowPolicy::Fail, import::BadRowPolicy::Keep};
  opts.bad_rows = kPolicies[control & 3];
  return opts;
}

// Reads every row of a parsed input, then merges it as `tickrt import` does.
void touch_and_merge(import::InputResult& result, const import::SymbolTable& symbols) {
  touch(static_cast<double>(result.rows) + static_cast<double>(result.skipped_total()));
  for (const import::ImportedTick& t : result.ticks) {
    if (t.symbol >= symbols.size()) violated("imported tick with a symbol index outside the table");
    touch(symbols.name(t.symbol));
    touch(static_cast<double>(t.event_ns) + static_cast<double>(t.recv_ns));
    touch(static_cast<double>(t.kind) + static_cast<double>(t.side));
    touch(t.price + t.size + t.bid_price + t.bid_size + t.ask_price + t.ask_size);
  }
  for (const import::BadRow& b : result.samples) touch(b.text), touch(static_cast<double>(b.line));
  for (const std::string& n : result.notes) touch(n);
  const size_t ticks = result.ticks.size();
  std::vector<import::InputResult> inputs;
  inputs.push_back(std::move(result));
  std::vector<uint64_t> reordered;
  const std::vector<import::MergedRef> merged = import::merge_by_time(inputs, reordered);
  if (merged.size() != ticks) violated("merge_by_time lost or invented rows");
  for (size_t i = 1; i < merged.size(); ++i)
    if (inputs[0].ticks[merged[i].row].event_ns < inputs[0].ticks[merged[i - 1].row].event_ns)
      violated("merge_by_time output is not in event-time order");
}

template <class Parse>
int run_importer(const uint8_t* data, size_t size, const std::string& file_name, Parse parse) {
  if (size == 0) return kRejected;
  const std::string path = scratch().write(file_name, data + 1, size - 1);
  try {
    import::SymbolTable symbols;
    import::InputResult result = parse(path, data[0], symbols);
    touch_and_merge(result, symbols);
    return kAccepted;
  } catch (const std::runtime_error& e) {
    require_names_file(e, path);
    return kRejected;
  }
}

}  // namespace

// Control bit 2: the file name's day (YYYYMMDD) is the next 8 input bytes, each taken as the digit (b + 2) % 10
// (ASCII digits stand for themselves), so that the day parsing is fuzzed too; else the day is 20140505.
int import_fxcm(const uint8_t* data, size_t size) {
  std::string day = "20140505";
  if (size >= 9 && (data[0] & 4)) {
    for (size_t i = 0; i < 8; ++i) day[i] = static_cast<char>('0' + (data[1 + i] + 2) % 10);
    std::vector<uint8_t> rest(data, data + size);  // the control byte, then the file without the day bytes
    rest.erase(rest.begin() + 1, rest.begin() + 9);
    return run_importer(rest.data(), rest.size(), "fxcm_eurusd_" + day + "_quote.csv",
                        [](const std::string& path, uint8_t control, import::SymbolTable& symbols) {
                          return import::parse_fxcm(path, parse_options(control), symbols);
                        });
  }
  return run_importer(data, size, "fxcm_eurusd_" + day + "_quote.csv",
                      [](const std::string& path, uint8_t control, import::SymbolTable& symbols) {
                        return import::parse_fxcm(path, parse_options(control), symbols);
                      });
}

int import_tardis_trades(const uint8_t* data, size_t size) {
  return run_importer(data, size, "tardis_trades.csv",
                      [](const std::string& path, uint8_t control, import::SymbolTable& symbols) {
                        return import::parse_csv(path, import::tardis_trades_spec(), parse_options(control), symbols);
                      });
}

int import_tardis_quotes(const uint8_t* data, size_t size) {
  return run_importer(data, size, "tardis_quotes.csv",
                      [](const std::string& path, uint8_t control, import::SymbolTable& symbols) {
                        return import::parse_csv(path, import::tardis_quotes_spec(), parse_options(control), symbols);
                      });
}

int import_binance_raw(const uint8_t* data, size_t size) {
  return run_importer(data, size, "binance_raw.txt",
                      [](const std::string& path, uint8_t control, import::SymbolTable& symbols) {
                        const auto clock = (control & 4) ? import::BinanceClock::Exchange : import::BinanceClock::Local;
                        return import::parse_binance_raw(path, clock, parse_options(control), symbols);
                      });
}

// Strings are move-assigned ("t"s): assigning a short literal inlines into a memcpy that GCC 12 misreports under
// -Wrestrict (GCC bug 105329).
using namespace std::string_literals;

// The generic csv importer with a fixed set of column names: t (time), r (receive time), p, q, side (trades),
// b, a, bs, as (quotes), sym. Control bits: 0-1 policy, 2 trade/quote, 3-4 time unit, 5 ';' separator,
// 6 symbol from --symbol instead of the sym column, 7 also name the optional columns (r, q, side, bs, as).
int import_csv(const uint8_t* data, size_t size) {
  return run_importer(data, size, "generic.csv",
                      [](const std::string& path, uint8_t control, import::SymbolTable& symbols) {
                        import::CsvSpec spec;
                        spec.kind = (control & 4) ? wire::TickKind::Trade : wire::TickKind::Quote;
                        static constexpr import::TimeUnit kUnits[] = {import::TimeUnit::S, import::TimeUnit::Ms,
                                                                      import::TimeUnit::Us, import::TimeUnit::Ns};
                        spec.time_unit = kUnits[(control >> 3) & 3];
                        spec.separator = (control & 32) ? ';' : ',';
                        const bool optional_columns = (control & 128) != 0;
                        spec.time_col = "t"s;
                        if (optional_columns) spec.recv_col = "r"s;
                        if (spec.kind == wire::TickKind::Trade) {
                          spec.price_col = "p"s;
                          if (optional_columns) spec.size_col = "q"s, spec.side_col = "side"s;
                        } else {
                          spec.bid_col = "b"s;
                          spec.ask_col = "a"s;
                          if (optional_columns) spec.bid_size_col = "bs"s, spec.ask_size_col = "as"s;
                        }
                        import::ParseOptions opts = parse_options(control);
                        if (control & 64)
                          opts.symbol = "FUZZ"s;
                        else
                          spec.symbol_col = "sym"s;
                        return import::parse_csv(path, spec, opts, symbols);
                      });
}

}  // namespace tickrt::fuzz
