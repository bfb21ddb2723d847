// `tickrt features`: runs the engine's own feature code over a journal and writes what the trainer reads.
// This directory is the trainer's ONLY input, so training and serving share one feature implementation.
//
// Output directory (T = accepted ticks, in journal order; F = features of the spec; H = its outputs):
//   X.npy          float32 [T, F]   features normalised with the spec (features.json) given
//   X_raw.npy      float32 [T, R]   every raw feature of kFeatures (R = kFeatureCount), before normalisation
//   Y.npy          float32 [T, H]   labels: forward mid log-return in bp over each output's horizon, per
//                                   instrument; NaN where the horizon runs past that instrument's data
//   time_ns.npy    int64   [T]      event time, ns since the epoch
//   instrument.npy int64   [T]      instrument id: index into meta.json "instruments"
//   reset.npy      int64   [T]      1 where the model state is reset before this tick (an instrument's first
//                                   tick, or a session gap), else 0
//   features.json                   the spec used (names, normalisation, outputs)
//   meta.json                       source, counts, rejects by reason, instruments, raw feature names,
//                                   session_gap_s
// Rows are in journal order; one instrument's rows are its ticks in order. Ticks the engine would refuse
// (decode, time going backwards, no price) are left out and counted in meta.json, exactly as live.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include "engine/feature_spec.h"

namespace tickrt {

struct FeatureExportOptions {
  std::filesystem::path journal;
  std::filesystem::path out_dir;
  FeatureSpec spec;
  double session_gap_s = 0;      // 0: none (the model's config value when --model is given)
  bool skip_corrupt = false;     // resynchronise after a corrupt journal record
  int max_instruments = 100000;
};

struct FeatureExportReport {
  uint64_t records = 0, rows = 0, rejected = 0, instruments = 0;
};

FeatureExportReport export_features(const FeatureExportOptions& opts);

}  // namespace tickrt
