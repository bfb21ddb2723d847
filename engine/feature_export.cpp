#include "engine/feature_export.h"

#include <fmt/core.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "engine/instrument_table.h"
#include "engine/labels.h"
#include "engine/npy.h"
#include "engine/tick_adapter.h"
#include "feeds/journal.h"

namespace tickrt {

FeatureExportReport export_features(const FeatureExportOptions& opts) {
  journal::ReaderOptions ro;
  ro.skip_corrupt = opts.skip_corrupt;
  ro.expect_schema = journal::kTickSchema;
  journal::JournalReader reader(opts.journal.string(), ro);
  feeds::MessageDecoder decoder;
  InstrumentTable table(opts.max_instruments);
  std::vector<FeatureState> states;  // [instruments], grows as instruments appear (offline: allocation is fine)
  const FeatureSpec& spec = opts.spec;
  const int F = spec.n_features(), R = kFeatureCount, H = static_cast<int>(spec.outputs.size());

  std::vector<float> x, x_raw;                       // [T, F], [T, R]
  std::vector<int64_t> time_ns, instrument, reset;   // [T]
  std::vector<std::vector<int64_t>> rows_of;         // per instrument: its row indices
  std::vector<std::vector<int64_t>> times_of;        // per instrument: event times
  std::vector<std::vector<double>> mids_of;          // per instrument: mid after each tick
  std::array<uint64_t, static_cast<size_t>(FeatureReject::count)> feature_rejects{};
  uint64_t over_capacity = 0;
  float raw[kFeatureCount];
  std::vector<float> xn(static_cast<size_t>(F));

  FeatureExportReport rep;
  journal::RecordView rec;
  while (reader.next(rec)) {
    ++rep.records;
    const feeds::Decoded d = decoder.decode(rec.topic, rec.payload);
    if (!d.ok || d.kind != feeds::PayloadKind::Tick) continue;  // counted by the decoder
    const int32_t slot = table.slot_for(d.tick.symbol);
    if (slot < 0) {
      ++over_capacity;
      continue;
    }
    if (static_cast<size_t>(slot) >= states.size()) {
      states.resize(slot + 1);
      rows_of.resize(slot + 1);
      times_of.resize(slot + 1);
      mids_of.resize(slot + 1);
    }
    const bool first = states[slot].ticks == 0;
    const FeatureOutcome f = compute_features(states[slot], to_market_tick(d.tick), opts.session_gap_s, raw);
    if (f.reject != FeatureReject::none) {
      ++feature_rejects[static_cast<size_t>(f.reject)];
      continue;
    }
    spec.normalise(raw, xn.data());
    x.insert(x.end(), xn.begin(), xn.end());
    x_raw.insert(x_raw.end(), raw, raw + R);
    const int64_t row = static_cast<int64_t>(time_ns.size());
    time_ns.push_back(d.tick.event_time_ns);
    instrument.push_back(slot);
    reset.push_back(first || f.session_reset ? 1 : 0);
    rows_of[slot].push_back(row);
    times_of[slot].push_back(d.tick.event_time_ns);
    mids_of[slot].push_back(states[slot].mid);
  }
  const int64_t T = static_cast<int64_t>(time_ns.size());
  rep.rows = static_cast<uint64_t>(T);
  rep.instruments = static_cast<uint64_t>(table.size());

  // Labels per instrument, scattered back into journal order.
  std::vector<float> y(static_cast<size_t>(T) * H);
  for (size_t s = 0; s < rows_of.size(); ++s) {
    std::vector<float> ys(rows_of[s].size() * H);
    compute_labels(times_of[s], mids_of[s], spec.outputs, ys.data(), H);
    for (size_t i = 0; i < rows_of[s].size(); ++i)
      std::copy_n(&ys[i * H], H, &y[static_cast<size_t>(rows_of[s][i]) * H]);
  }

  std::filesystem::create_directories(opts.out_dir);
  const auto& out = opts.out_dir;
  write_npy_f32(out / "X.npy", x.data(), {T, F});
  write_npy_f32(out / "X_raw.npy", x_raw.data(), {T, R});
  write_npy_f32(out / "Y.npy", y.data(), {T, H});
  write_npy_i64(out / "time_ns.npy", time_ns.data(), {T});
  write_npy_i64(out / "instrument.npy", instrument.data(), {T});
  write_npy_i64(out / "reset.npy", reset.data(), {T});
  spec.save(out / "features.json");

  nlohmann::json meta;
  meta["format"] = "tickrt-feature-export/1";
  meta["source"] = opts.journal.string();
  meta["rows"] = T;
  meta["records"] = rep.records;
  meta["session_gap_s"] = opts.session_gap_s;
  for (int i = 0; i < table.size(); ++i) meta["instruments"].push_back(std::string(table.symbol(i)));
  if (table.size() == 0) meta["instruments"] = nlohmann::json::array();
  for (const auto& f : kFeatures) meta["raw_features"].push_back(std::string(f.name));
  for (const auto& f : spec.features) meta["features"].push_back(f.name);
  nlohmann::json rejects = nlohmann::json::object();
  for (size_t r = 0; r < feeds::kRejectReasonCount; ++r) {
    const auto reason = static_cast<feeds::RejectReason>(r);
    if (decoder.rejects()[reason]) rejects[std::string(feeds::reject_reason_name(reason))] = decoder.rejects()[reason];
  }
  for (size_t r = 1; r < feature_rejects.size(); ++r)
    if (feature_rejects[r]) rejects[std::string(to_string(static_cast<FeatureReject>(r)))] = feature_rejects[r];
  if (over_capacity) rejects["over_capacity"] = over_capacity;
  meta["rejected"] = rejects;
  const auto& st = reader.stats();
  meta["journal"] = {{"records", st.records}, {"bytes_skipped", st.bytes_skipped}, {"torn_tail", st.torn_tail},
                     {"corrupt_regions", st.corrupt_regions}};
  for (const auto& [k, v] : rejects.items()) rep.rejected += v.get<uint64_t>();
  std::ofstream(out / "meta.json") << meta.dump(2) << "\n";
  return rep;
}

}  // namespace tickrt
