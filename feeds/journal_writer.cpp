#include "feeds/journal_writer.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "feeds/journal_reader.h"

namespace tickrt::journal {

FsyncPolicy parse_fsync_policy(std::string_view name) {
  if (name == "none") return FsyncPolicy::None;
  if (name == "interval") return FsyncPolicy::Interval;
  if (name == "every-batch") return FsyncPolicy::EveryBatch;
  if (name == "every-record") return FsyncPolicy::EveryRecord;
  throw std::invalid_argument(
      fmt::format("fsync policy '{}': expected none, interval, every-batch or every-record", name));
}

JournalWriter::JournalWriter(const std::string& path, WriterOptions options) : path_(path), options_(options) {
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | (options_.truncate ? O_TRUNC : 0), 0644);
  if (fd_ < 0) throw std::runtime_error(fmt::format("journal {}: cannot open for writing: {}", path, std::strerror(errno)));
  try {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) throw std::runtime_error(fmt::format("journal {}: cannot stat: {}", path, std::strerror(errno)));
    open_existing(static_cast<uint64_t>(st.st_size));
    if (::lseek(fd_, static_cast<off_t>(file_offset_), SEEK_SET) < 0)
      throw std::runtime_error(fmt::format("journal {}: seek failed: {}", path, std::strerror(errno)));
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
  buffer_.reserve(options_.buffer_bytes);
  last_sync_ = std::chrono::steady_clock::now();
}

// Validates what is already in the file and leaves file_offset_ at the end of its last valid record.
void JournalWriter::open_existing(uint64_t size) {
  uint8_t header[kHeaderSize];
  encode_header(header, options_.schema);
  if (size >= kHeaderSize) {
    JournalReader reader(path_, ReaderOptions{.skip_corrupt = false, .expect_schema = options_.schema});
    RecordView rec;
    while (reader.next(rec)) {
    }
    const ReadStats& st = reader.stats();
    if (st.stopped_at_corruption)
      throw std::runtime_error(fmt::format(
          "journal {}: corrupt record at offset {} with valid records after it; refusing to append "
          "(read it with skip_corrupt to recover the rest)", path_, st.first_bad_offset));
    open_report_ = {.existed = true, .records_kept = st.records, .bytes_truncated = st.tail_bytes};
    file_offset_ = st.end_offset;
  } else {
    // Empty, or a header cut short by a crash: acceptable only if it is a prefix of the header we would write.
    if (size > 0) {
      uint8_t existing[kHeaderSize];
      if (::pread(fd_, existing, size, 0) != static_cast<ssize_t>(size) || std::memcmp(existing, header, size) != 0)
        throw std::runtime_error(fmt::format("journal {}: {} bytes that are not a journal header", path_, size));
      open_report_ = {.existed = true, .records_kept = 0, .bytes_truncated = size};
    }
    if (::pwrite(fd_, header, kHeaderSize, 0) != static_cast<ssize_t>(kHeaderSize))
      throw std::runtime_error(fmt::format("journal {}: cannot write header: {}", path_, std::strerror(errno)));
    file_offset_ = kHeaderSize;
    size = kHeaderSize;
  }
  if (file_offset_ < size) {
    if (::ftruncate(fd_, static_cast<off_t>(file_offset_)) != 0)
      throw std::runtime_error(fmt::format("journal {}: cannot truncate torn tail: {}", path_, std::strerror(errno)));
  }
  if (options_.fsync != FsyncPolicy::None) fsync_now();
}

JournalWriter::~JournalWriter() {
  try {
    close();
  } catch (...) {
    // A destructor cannot report; callers who care call close() themselves.
  }
}

AppendResult JournalWriter::append(int64_t recv_ns, std::string_view topic, std::span<const uint8_t> payload) {
  const size_t size = record_size(topic.size(), payload.size());
  if (topic.size() > kMaxTopicLength || payload.size() > kMaxRecordLength || size - 4 > kMaxRecordLength) {
    ++rejected_;
    return AppendResult::TooLarge;
  }
  if (buffer_.size() + size > options_.buffer_bytes && !buffer_.empty()) flush();
  const size_t at = buffer_.size();
  buffer_.resize(at + size);  // grows past buffer_bytes only for a record larger than the whole buffer
  encode_record(buffer_.data() + at, recv_ns, topic, payload);
  ++records_appended_;
  ++records_since_sync_;
  switch (options_.fsync) {
    case FsyncPolicy::EveryRecord:
      write_buffer();
      fsync_now();
      break;
    case FsyncPolicy::Interval: {
      const bool count_due = options_.interval_records > 0 && records_since_sync_ >= options_.interval_records;
      const bool time_due = options_.interval_ms > 0 &&
                            std::chrono::steady_clock::now() - last_sync_ >= std::chrono::milliseconds(options_.interval_ms);
      if (count_due || time_due) {
        write_buffer();
        fsync_now();
      }
      break;
    }
    default:
      break;
  }
  return AppendResult::Ok;
}

void JournalWriter::flush() {
  if (fd_ < 0) return;
  const bool wrote = !buffer_.empty();
  write_buffer();
  if (wrote && options_.fsync == FsyncPolicy::EveryBatch) fsync_now();
  if (options_.fsync == FsyncPolicy::Interval && records_since_sync_ > 0 && options_.interval_ms > 0 &&
      std::chrono::steady_clock::now() - last_sync_ >= std::chrono::milliseconds(options_.interval_ms))
    fsync_now();
}

void JournalWriter::sync() {
  if (fd_ < 0) return;
  write_buffer();
  fsync_now();
}

void JournalWriter::close() {
  if (fd_ < 0) return;
  write_buffer();
  if (options_.fsync != FsyncPolicy::None) fsync_now();
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw std::runtime_error(fmt::format("journal {}: close failed: {}", path_, std::strerror(errno)));
}

void JournalWriter::write_buffer() {
  size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(done));  // never write twice
      file_offset_ += done;
      throw std::runtime_error(fmt::format("journal {}: write failed at offset {}: {}", path_, file_offset_,
                                           std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  file_offset_ += done;
  buffer_.clear();
}

void JournalWriter::fsync_now() {
  if (::fdatasync(fd_) != 0)
    throw std::runtime_error(fmt::format("journal {}: fdatasync failed: {}", path_, std::strerror(errno)));
  ++fsyncs_;
  records_since_sync_ = 0;
  last_sync_ = std::chrono::steady_clock::now();
}

}  // namespace tickrt::journal
