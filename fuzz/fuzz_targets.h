// The bodies of the libFuzzer targets, as plain functions: fuzz/fuzz_<name>.cpp hands its bytes to
// tickrt::fuzz::<name>, and tests/test_fuzz_regressions.cpp replays the committed seeds and crash inputs through
// the very same functions in the ordinary g++ build (and under `make sanitize`).
//
// Each function feeds the bytes to the real parser, reads every value it returns (so ASan and UBSan see a bad
// read), and checks what must hold for any input:
//   - a rejection is a counted reason (decoders) or a std::runtime_error that names the file (loaders);
//     any other exception escapes, and libFuzzer reports it as a crash;
//   - what was accepted survives a write/read round trip unchanged (std::abort() when it does not).
// The result: kAccepted when the input was taken as valid, kRejected when it was refused cleanly.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tickrt::fuzz {

enum Result : int { kRejected = 0, kAccepted = 1 };

// feeds/tick_codec: byte 0 = topic length (mod 80), then the topic, then the payload. The payload's file
// identifier is forced to "TICK" (tick_decoder) or "SGNL" (signal_decoder) so each target explores one schema.
int tick_decoder(const uint8_t* data, size_t size);
int signal_decoder(const uint8_t* data, size_t size);

// feeds/journal_reader + journal_format: byte 0 = mode (bit 0: recompute every reachable record's crc so the
// fuzzer gets past the checksum; bit 1: ReaderOptions::skip_corrupt), the rest is the journal file.
int journal_reader(const uint8_t* data, size_t size);

// engine/safetensors: the bytes are a .safetensors file; every tensor is read as float32.
int safetensors(const uint8_t* data, size_t size);

// engine/model_config: the bytes are config.json.
int model_config(const uint8_t* data, size_t size);

// engine/feature_spec: the bytes are features.json.
int feature_spec(const uint8_t* data, size_t size);

// engine/snapshot: the bytes are a snapshot file without its trailing content hash, which the target appends
// (correctly) so the fuzzer explores the body rather than the checksum.
int snapshot(const uint8_t* data, size_t size);

// feeds/import_*: byte 0 = options (bad-row policy, and per format: binance clock; csv kind, time unit,
// separator, symbol source, optional columns), the rest is the input file. The parsed rows are merged as `tickrt import` does.
int import_fxcm(const uint8_t* data, size_t size);
int import_tardis_trades(const uint8_t* data, size_t size);
int import_tardis_quotes(const uint8_t* data, size_t size);
int import_binance_raw(const uint8_t* data, size_t size);
int import_csv(const uint8_t* data, size_t size);

// Every target by name, for the regression test and fuzz/README.md.
struct Target {
  std::string_view name;
  int (*run)(const uint8_t*, size_t);
};
inline constexpr Target kTargets[] = {
    {"tick_decoder", tick_decoder},
    {"signal_decoder", signal_decoder},
    {"journal_reader", journal_reader},
    {"safetensors", safetensors},
    {"model_config", model_config},
    {"feature_spec", feature_spec},
    {"snapshot", snapshot},
    {"import_fxcm", import_fxcm},
    {"import_tardis_trades", import_tardis_trades},
    {"import_tardis_quotes", import_tardis_quotes},
    {"import_binance_raw", import_binance_raw},
    {"import_csv", import_csv},
};

}  // namespace tickrt::fuzz
