#include "feeds/import_types.h"

#include <fmt/core.h>

#include <numeric>
#include <stdexcept>

namespace tickrt::import {

std::string_view skip_reason_name(SkipReason r) {
  switch (r) {
    case SkipReason::WrongColumnCount: return "wrong_column_count";
    case SkipReason::Unparsable: return "unparsable";
    case SkipReason::NonFinite: return "non_finite";
    case SkipReason::OutOfRange: return "out_of_range";
    case SkipReason::CrossedQuote: return "crossed_quote";
    case SkipReason::MalformedJson: return "malformed_json";
    case SkipReason::DepthUpdate: return "depth_update";
    case SkipReason::NotAStreamMessage: return "not_a_stream_message";
    case SkipReason::OtherStream: return "other_stream";
    case SkipReason::kCount: break;
  }
  return "unknown";
}

BadRowPolicy parse_bad_row_policy(std::string_view name) {
  if (name == "skip") return BadRowPolicy::Skip;
  if (name == "keep") return BadRowPolicy::Keep;
  if (name == "fail") return BadRowPolicy::Fail;
  throw std::invalid_argument(fmt::format("--bad-rows '{}': expected skip, keep or fail", name));
}

uint32_t SymbolTable::intern(std::string_view symbol) {
  if (last_ != UINT32_MAX && names_[last_] == symbol) return last_;
  auto [it, inserted] = ids_.try_emplace(std::string(symbol), static_cast<uint32_t>(names_.size()));
  if (inserted) names_.emplace_back(symbol);
  last_ = it->second;
  return last_;
}

bool InputResult::reject(SkipReason reason, uint64_t line, std::string_view text, const ParseOptions& opts) {
  const auto i = static_cast<size_t>(reason);
  if (!is_bad_row(reason)) {
    ++skipped[i];
    return false;
  }
  const std::string_view shown = text.substr(0, 160);
  if (opts.bad_rows == BadRowPolicy::Fail)
    throw std::runtime_error(fmt::format("{}:{}: bad row ({}): {}", path, line, skip_reason_name(reason), shown));
  const bool keep = opts.bad_rows == BadRowPolicy::Keep && reason == SkipReason::CrossedQuote;
  ++(keep ? kept_bad[i] : skipped[i]);
  if (samples.size() < opts.max_bad_row_samples) samples.push_back({path, line, reason, keep, std::string(shown)});
  return keep;
}

uint64_t InputResult::skipped_total() const { return std::accumulate(skipped.begin(), skipped.end(), uint64_t{0}); }

}  // namespace tickrt::import
