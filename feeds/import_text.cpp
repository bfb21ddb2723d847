#include "feeds/import_text.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace tickrt::import {

std::string read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  struct stat st {};
  std::string data;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) data.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      throw std::runtime_error(fmt::format("{}: read failed: {}", path, std::strerror(err)));
    }
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return data;
}

bool LineCursor::next(std::string_view& line) {
  if (pos_ >= text_.size()) return false;
  const void* nl = std::memchr(text_.data() + pos_, '\n', text_.size() - pos_);
  const size_t end = nl ? static_cast<size_t>(static_cast<const char*>(nl) - text_.data()) : text_.size();
  line = text_.substr(pos_, end - pos_);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  pos_ = end + 1;
  ++line_no_;
  return true;
}

namespace {
std::string_view trim(std::string_view f) {
  while (!f.empty() && (f.front() == ' ' || f.front() == '\t')) f.remove_prefix(1);
  while (!f.empty() && (f.back() == ' ' || f.back() == '\t')) f.remove_suffix(1);
  if (f.size() >= 2 && f.front() == '"' && f.back() == '"') f = f.substr(1, f.size() - 2);
  return f;
}
}  // namespace

void split_fields(std::string_view line, char sep, std::vector<std::string_view>& fields) {
  fields.clear();
  size_t start = 0;
  for (;;) {
    const size_t at = line.find(sep, start);
    if (at == std::string_view::npos) {
      fields.push_back(trim(line.substr(start)));
      return;
    }
    fields.push_back(trim(line.substr(start, at - start)));
    start = at + 1;
  }
}

NumberStatus parse_double(std::string_view s, double& out) {
  const char* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, out);
  if (ec != std::errc() || ptr != end || s.empty()) return NumberStatus::Unparsable;
  return std::isfinite(out) ? NumberStatus::Ok : NumberStatus::NonFinite;
}

bool parse_int64(std::string_view s, int64_t& out) {
  const char* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && ptr == end && !s.empty() && out >= 0;
}

TimeUnit parse_time_unit(std::string_view name) {
  if (name == "s") return TimeUnit::S;
  if (name == "ms") return TimeUnit::Ms;
  if (name == "us") return TimeUnit::Us;
  if (name == "ns") return TimeUnit::Ns;
  throw std::invalid_argument(fmt::format("time unit '{}': expected s, ms, us or ns", name));
}

int64_t ns_per_unit(TimeUnit unit) {
  switch (unit) {
    case TimeUnit::S: return 1'000'000'000;
    case TimeUnit::Ms: return 1'000'000;
    case TimeUnit::Us: return 1'000;
    case TimeUnit::Ns: return 1;
  }
  return 1;
}

bool parse_time_ns(std::string_view s, TimeUnit unit, int64_t& out) {
  const size_t dot = s.find('.');
  int64_t whole = 0;
  if (!parse_int64(s.substr(0, dot), whole)) return false;
  const int64_t mult = ns_per_unit(unit);
  if (whole > std::numeric_limits<int64_t>::max() / mult) return false;
  out = whole * mult;
  if (dot == std::string_view::npos) return true;
  // The fraction, digit by digit, each worth a tenth of the previous: exact down to 1 ns.
  const std::string_view frac = s.substr(dot + 1);
  if (frac.empty()) return false;
  int64_t place = mult;
  int64_t add = 0;
  for (char c : frac) {
    if (c < '0' || c > '9') return false;
    place /= 10;
    add += (c - '0') * place;  // place reaches 0 past ns precision: truncation
  }
  if (add > std::numeric_limits<int64_t>::max() - out) return false;
  out += add;
  return true;
}

}  // namespace tickrt::import
