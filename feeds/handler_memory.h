// Allocation-free Asio handlers for the receive path. Asio allocates every queued operation (a post, an
// async_wait) through the handler's associated allocator; its default per-thread cache usually recycles the
// memory but not always (a test that counts operator new on the engine thread caught it). The source never has
// more than one operation of each kind outstanding, so one fixed slot per kind, reused, is enough: Asio frees
// an operation's memory before it calls the handler, so a handler can queue its successor into the same slot.
#pragma once
#include <cstddef>
#include <new>
#include <utility>

namespace tickrt::feeds {

class HandlerSlot {
 public:
  void* allocate(std::size_t n) {
    if (!in_use_ && n <= sizeof(storage_)) {
      in_use_ = true;
      return storage_;
    }
    return ::operator new(n);  // a second outstanding operation or an oversized one: correct, just not free
  }
  void deallocate(void* p) {
    if (p == storage_) in_use_ = false;
    else ::operator delete(p);
  }

 private:
  alignas(std::max_align_t) unsigned char storage_[256];
  bool in_use_ = false;
};

template <class T>
struct SlotAllocator {
  using value_type = T;
  HandlerSlot* slot;
  explicit SlotAllocator(HandlerSlot* s) noexcept : slot(s) {}
  template <class U>
  SlotAllocator(const SlotAllocator<U>& other) noexcept : slot(other.slot) {}
  T* allocate(std::size_t n) { return static_cast<T*>(slot->allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) { slot->deallocate(p); }
  template <class U>
  bool operator==(const SlotAllocator<U>& o) const noexcept { return slot == o.slot; }
  template <class U>
  bool operator!=(const SlotAllocator<U>& o) const noexcept { return slot != o.slot; }
};

// A handler whose operation memory comes from `slot` (found by Asio through allocator_type/get_allocator).
template <class F>
struct SlotHandler {
  using allocator_type = SlotAllocator<void>;
  HandlerSlot* slot;
  F f;
  allocator_type get_allocator() const noexcept { return allocator_type(slot); }
  template <class... Args>
  void operator()(Args&&... args) {
    f(std::forward<Args>(args)...);
  }
};

template <class F>
SlotHandler<F> in_slot(HandlerSlot& slot, F f) {
  return SlotHandler<F>{&slot, std::move(f)};
}

}  // namespace tickrt::feeds
