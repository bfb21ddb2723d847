// libFuzzer entry point of the feature_spec target; the body is tickrt::fuzz::feature_spec (fuzz/fuzz_targets.cpp).
#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tickrt::fuzz::feature_spec(data, size);
  return 0;
}
