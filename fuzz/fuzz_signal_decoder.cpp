// libFuzzer entry point of the signal_decoder target; the body is tickrt::fuzz::signal_decoder (fuzz/fuzz_targets.cpp).
#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tickrt::fuzz::signal_decoder(data, size);
  return 0;
}
