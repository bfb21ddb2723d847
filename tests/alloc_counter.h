// Counts every call of the global operator new in the test binary (tests/test_alloc_counter.cpp replaces it),
// so a test can assert that a hot path allocates nothing: read the count before and after.
#pragma once
#include <cstdint>

namespace tickrt::test {
uint64_t allocation_count();
}  // namespace tickrt::test
