// libFuzzer entry point of the journal_reader target; the body is tickrt::fuzz::journal_reader (fuzz/fuzz_targets.cpp).
#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tickrt::fuzz::journal_reader(data, size);
  return 0;
}
