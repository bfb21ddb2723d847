// libFuzzer entry point of the import_fxcm target; the body is tickrt::fuzz::import_fxcm (fuzz/fuzz_targets.cpp).
#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tickrt::fuzz::import_fxcm(data, size);
  return 0;
}
