#include "feeds/journal_sink.h"

#include <fmt/core.h>

#include <filesystem>
#include <stdexcept>

namespace tickrt::feeds {

namespace {
void add(std::atomic<std::uint64_t>& c, std::uint64_t n) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
constexpr std::string_view kExtension = ".ticks";
}  // namespace

std::string JournalSink::part_path(const std::string& path, std::uint64_t index) {
  std::string_view stem = path;
  if (stem.size() > kExtension.size() && stem.ends_with(kExtension)) stem.remove_suffix(kExtension.size());
  return fmt::format("{}.{:06}{}", stem, index, kExtension);
}

JournalSink::JournalSink(JournalSinkOptions options) : options_(std::move(options)) {
  if (options_.path.empty()) throw std::runtime_error("journal sink: no output file given");
  if (rotating()) {
    // Keep what an earlier run wrote: continue after the last existing part.
    while (std::filesystem::exists(part_path(options_.path, next_part_))) ++next_part_;
  }
  open_next_part();
  first_open_report_ = writer_->open_report();
}

JournalSink::~JournalSink() {
  try {
    close();
  } catch (...) {
  }
}

void JournalSink::open_next_part() {
  if (writer_) writer_->close();
  writer_.reset();  // a failed open leaves no writer: later publishes count errors instead of writing
  const std::string path = rotating() ? part_path(options_.path, next_part_++) : options_.path;
  writer_ = std::make_unique<journal::JournalWriter>(path, options_.writer);
  files_.push_back(path);
  part_records_ = 0;
}

bool JournalSink::needs_rotation(std::size_t record_bytes, std::int64_t time_ns) const noexcept {
  if (part_records_ == 0) return false;  // every part takes at least one record
  if (options_.rotate_bytes > 0 && writer_->file_offset() + record_bytes > options_.rotate_bytes) return true;
  return options_.rotate_ns > 0 && time_ns - part_first_time_ns_ >= options_.rotate_ns;
}

bool JournalSink::publish(std::string_view topic, std::span<const std::uint8_t> payload,
                          std::int64_t time_ns) noexcept {
  if (!writer_) {
    add(counters_.errors, 1);
    return false;
  }
  const std::size_t bytes = journal::record_size(topic.size(), payload.size());
  try {
    if (rotating() && needs_rotation(bytes, time_ns)) open_next_part();
    if (writer_->append(time_ns, topic, payload) != journal::AppendResult::Ok) {
      add(counters_.too_large, 1);
      return false;
    }
  } catch (const std::exception& e) {
    if (error_.empty()) error_ = e.what();
    add(counters_.errors, 1);
    return false;
  }
  if (part_records_++ == 0) part_first_time_ns_ = time_ns;
  add(counters_.written, 1);
  add(counters_.bytes, bytes);
  return true;
}

void JournalSink::flush() {
  if (writer_) writer_->flush();
}

void JournalSink::close() {
  if (writer_) writer_->close();
}

}  // namespace tickrt::feeds
