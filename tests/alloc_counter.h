// Counts every call of the global operator new in the test binary (tests/test_alloc_counter.cpp replaces it),
// so a test can assert that a hot path allocates nothing: read the count before and after.
#pragma once
#include <cstdint>

namespace tickrt::test {
uint64_t allocation_count();
// Counts only the allocations made by threads that called watch_this_thread(true): a hot thread's own
// allocations, without those of ZeroMQ's I/O threads or the test's driver thread.
void watch_this_thread(bool on);
uint64_t watched_allocation_count();
}  // namespace tickrt::test
