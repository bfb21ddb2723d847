// Text plumbing shared by the importers: whole-file reads, line and field splitting, and exact number and
// time parsing with std::from_chars (no locale, no allocation).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tickrt::import {

// The whole file; throws std::runtime_error naming the file when it cannot be read.
std::string read_file(const std::string& path);

// Walks the lines of a text buffer: handles \n and \r\n endings and a last line without a newline.
class LineCursor {
 public:
  explicit LineCursor(std::string_view text) : text_(text) {}
  bool next(std::string_view& line);  // false at the end
  uint64_t line_number() const { return line_no_; }  // 1-based number of the line last returned

 private:
  std::string_view text_;
  size_t pos_ = 0;
  uint64_t line_no_ = 0;
};

// Splits `line` on `sep` into `fields` (cleared first; views into `line`), trimming spaces and one pair of
// surrounding double quotes from each field.
void split_fields(std::string_view line, char sep, std::vector<std::string_view>& fields);

enum class NumberStatus : uint8_t { Ok, Unparsable, NonFinite };

// A decimal number, the whole field (nothing may follow it).
NumberStatus parse_double(std::string_view s, double& out);

// A non-negative integer, the whole field.
bool parse_int64(std::string_view s, int64_t& out);

enum class TimeUnit : uint8_t { S, Ms, Us, Ns };
TimeUnit parse_time_unit(std::string_view name);  // "s" | "ms" | "us" | "ns"; throws std::invalid_argument
int64_t ns_per_unit(TimeUnit unit);

// A time in `unit` since the epoch, exactly (no detour through double): "1582329601.096" s ->
// 1582329601096000000 ns. An integer with an optional fraction; fraction digits finer than 1 ns are
// truncated. False when it does not parse, is negative or overflows int64 ns.
bool parse_time_ns(std::string_view s, TimeUnit unit, int64_t& out);

}  // namespace tickrt::import
