// libFuzzer entry point of the model_config target; the body is tickrt::fuzz::model_config (fuzz/fuzz_targets.cpp).
#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tickrt::fuzz::model_config(data, size);
  return 0;
}
