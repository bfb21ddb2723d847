// libFuzzer entry point of the safetensors target; the body is tickrt::fuzz::safetensors (fuzz/fuzz_targets.cpp).
#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tickrt::fuzz::safetensors(data, size);
  return 0;
}
