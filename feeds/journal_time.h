// Nanosecond timestamps as UTC ISO-8601 text, for summaries (inspect, import).
#pragma once
#include <cstdint>
#include <string>

namespace tickrt::journal {

// 1399266003074000000 -> "2014-05-05T05:00:03.074000000Z". Works for times before 1970 too.
std::string format_utc_ns(int64_t ns);

// 250 -> "250 ns", 1.5e6 -> "1.500 ms", 1.5e9 -> "1.500 s", 2.5e12 -> "41 min 40.000 s": a duration for people.
std::string format_duration_ns(int64_t ns);

}  // namespace tickrt::journal
