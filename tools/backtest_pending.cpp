// TEMPORARY: stands in for engine/backtest.cpp until the in-process backtest is built, so that the binary
// links. Delete this file when engine/backtest.cpp defines tickrt::run_backtest.
#include <stdexcept>

#include "engine/backtest.h"

namespace tickrt {

int run_backtest(const BacktestOptions& options) {
  throw std::runtime_error("replay --model " + options.model_dir + ": backtest not built yet (engine/backtest.cpp)");
}

}  // namespace tickrt
