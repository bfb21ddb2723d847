// libFuzzer entry point of the snapshot target; the body is tickrt::fuzz::snapshot (fuzz/fuzz_targets.cpp).
#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tickrt::fuzz::snapshot(data, size);
  return 0;
}
