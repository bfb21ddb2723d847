#include "feeds/journal_reader.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace tickrt::journal {

JournalReader::JournalReader(const std::string& path, ReaderOptions options)
    : path_(path), options_(std::move(options)) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw std::runtime_error(fmt::format("journal {}: cannot open: {}", path, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw std::runtime_error(fmt::format("journal {}: cannot stat: {}", path, std::strerror(err)));
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ < kHeaderSize) {
    ::close(fd);
    throw std::runtime_error(fmt::format("journal {}: {} bytes, shorter than a journal header", path, size_));
  }
  void* map = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (map == MAP_FAILED)
    throw std::runtime_error(fmt::format("journal {}: mmap failed: {}", path, std::strerror(err)));
  base_ = static_cast<const uint8_t*>(map);
  ::madvise(map, size_, MADV_SEQUENTIAL);

  const std::string_view problem = check_header(base_, size_, schema_);
  if (!problem.empty()) {
    ::munmap(map, size_);
    throw std::runtime_error(fmt::format("journal {}: {}", path, problem));
  }
  if (options_.expect_schema && *options_.expect_schema != schema_) {
    ::munmap(map, size_);
    throw std::runtime_error(fmt::format("journal {}: schema '{}' where '{}' was expected", path,
                                         schema_name(schema_), schema_name(*options_.expect_schema)));
  }
  stats_.end_offset = kHeaderSize;
}

JournalReader::~JournalReader() {
  if (base_) ::munmap(const_cast<uint8_t*>(base_), size_);
}

void JournalReader::rewind() noexcept {
  pos_ = kHeaderSize;
  done_ = false;
  stats_ = ReadStats{};
  stats_.end_offset = kHeaderSize;
}

bool JournalReader::seek(uint64_t offset) noexcept {
  if (offset < kHeaderSize || offset > size_ || offset % 8 != 0) return false;
  rewind();
  pos_ = static_cast<size_t>(offset);
  stats_.end_offset = offset;
  return true;
}

bool JournalReader::next(RecordView& out) noexcept {
  while (!done_) {
    if (pos_ == size_) {
      done_ = true;
      break;
    }
    const RecordStatus status = parse_record(base_, size_, pos_, out);
    if (status == RecordStatus::Ok) {
      pos_ += kRecordFixedSize + align8(out.topic.size()) + align8(out.payload.size());
      ++stats_.records;
      stats_.end_offset = pos_;
      return true;
    }
    if (stats_.first_bad_offset == 0) stats_.first_bad_offset = pos_;
    // A bad record: is anything valid after it? Only then is it a corrupt middle rather than a tail. (A
    // "torn" record may also be a middle record whose length field was damaged, so both are checked.)
    const size_t resync = find_next_valid_record(base_, size_, pos_);
    if (resync == size_) {
      stats_.tail_bytes = size_ - pos_;
      stats_.bytes_skipped += size_ - pos_;
      stats_.torn_tail = status == RecordStatus::Torn;
      done_ = true;
      break;
    }
    ++stats_.corrupt_regions;
    if (!options_.skip_corrupt) {
      stats_.bytes_skipped += size_ - pos_;
      stats_.stopped_at_corruption = true;
      done_ = true;
      break;
    }
    stats_.bytes_skipped += resync - pos_;
    pos_ = resync;
  }
  return false;
}

}  // namespace tickrt::journal
