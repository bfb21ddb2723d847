#include "feeds/journal_time.h"

#include <fmt/core.h>

#include <chrono>

namespace tickrt::journal {

std::string format_utc_ns(int64_t ns) {
  using namespace std::chrono;
  constexpr int64_t kNsPerDay = 86'400'000'000'000LL;
  int64_t days = ns / kNsPerDay;
  int64_t rem = ns % kNsPerDay;
  if (rem < 0) {  // floor division, so times before the epoch print the right day
    rem += kNsPerDay;
    --days;
  }
  const year_month_day ymd{sys_days{std::chrono::days{days}}};
  const int64_t secs = rem / 1'000'000'000;
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), secs / 3600, secs / 60 % 60,
                     secs % 60, rem % 1'000'000'000);
}

std::string format_duration_ns(int64_t ns) {
  const double s = static_cast<double>(ns) / 1e9;
  const int64_t mag = ns < 0 ? -ns : ns;
  if (mag < 1'000) return fmt::format("{} ns", ns);
  if (mag < 1'000'000) return fmt::format("{:.3f} us", static_cast<double>(ns) / 1e3);
  if (mag < 1'000'000'000) return fmt::format("{:.3f} ms", static_cast<double>(ns) / 1e6);
  if (ns < 0 || s < 60) return fmt::format("{:.3f} s", s);
  const int64_t whole = ns / 1'000'000'000;
  const double frac = static_cast<double>(ns % 1'000'000'000) / 1e9;
  if (whole < 3600) return fmt::format("{} min {:.3f} s", whole / 60, static_cast<double>(whole % 60) + frac);
  return fmt::format("{} h {} min {:.3f} s", whole / 3600, whole / 60 % 60, static_cast<double>(whole % 60) + frac);
}

}  // namespace tickrt::journal
