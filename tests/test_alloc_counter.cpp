// The one replacement of the global operator new in the test binary: it counts calls (see alloc_counter.h).
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "tests/alloc_counter.h"

namespace {
std::atomic<uint64_t> g_allocations{0};
std::atomic<uint64_t> g_watched_allocations{0};
thread_local bool t_watched = false;

void* counted_alloc(std::size_t n, std::size_t align) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (t_watched) g_watched_allocations.fetch_add(1, std::memory_order_relaxed);
  if (n == 0) n = 1;
  void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (n + align - 1) / align * align)
                                               : std::malloc(n);
  if (!p) throw std::bad_alloc();
  return p;
}
}  // namespace

namespace tickrt::test {
uint64_t allocation_count() { return g_allocations.load(std::memory_order_relaxed); }
void watch_this_thread(bool on) { t_watched = on; }
uint64_t watched_allocation_count() { return g_watched_allocations.load(std::memory_order_relaxed); }
}  // namespace tickrt::test

void* operator new(std::size_t n) { return counted_alloc(n, 0); }
void* operator new[](std::size_t n) { return counted_alloc(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return counted_alloc(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_alloc(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try { return counted_alloc(n, 0); } catch (...) { return nullptr; }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try { return counted_alloc(n, 0); } catch (...) { return nullptr; }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

TEST_CASE("alloc counter: counts operator new", "[alloc]") {
  const uint64_t before = tickrt::test::allocation_count();
  auto* v = new std::vector<int>(100);
  delete v;
  CHECK(tickrt::test::allocation_count() - before == 2);  // the vector object and its buffer
}
