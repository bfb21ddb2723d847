// In-process backtest: a journal of ticks stepped through a model, signals written to a journal, no sockets.
// `tickrt replay FILE --model DIR --signals OUT` (tools/cmd_replay.cpp) fills BacktestOptions and calls
// run_backtest; the implementation lives in engine/backtest.cpp.
#pragma once
#include <string>

namespace tickrt {

struct BacktestOptions {
  std::string journal;      // input `.ticks` journal of Tick FlatBuffers
  std::string model_dir;    // model directory (config.json + weights)
  std::string signals_out;  // output journal of Signal FlatBuffers (schema SGNL)
  std::string backend = "cpu";
  std::string mode = "step";  // "step": one tick at a time per instrument; "sequence": whole sequences
  int max_instruments = 1024;
  int max_batch = 256;
  bool skip_corrupt = false;  // resynchronise after a corrupt record in the middle of the journal
};

// Runs the backtest; returns the process exit code. Throws std::runtime_error naming the file at fault.
int run_backtest(const BacktestOptions& options);

}  // namespace tickrt
