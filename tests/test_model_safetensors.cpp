// engine/safetensors: F32 round trip, F16/BF16 conversion (hand-written bytes), and every malformed file
// refused with an error naming the file and tensor.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "engine/safetensors.h"
#include "tests/test_model_util.h"
#include "tests/test_util.h"

namespace st = tickrt::safetensors;
using tickrt::test::TempDir;
using tickrt::test::write_raw_safetensors;

namespace {

std::string open_error(const std::string& path) {
  try {
    st::File f(path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("model safetensors: F32 round trip with metadata", "[model]") {
  TempDir dir;
  tickrt::Tensor a{{2, 3}, {1, 2, 3, 4, 5, 6}};
  tickrt::Tensor b{{3}, {-1.5f, 0.0f, std::numeric_limits<float>::denorm_min()}};
  tickrt::Tensor empty{{0, 4}, {}};
  const std::string path = dir / "w.safetensors";
  st::write_f32(path, {{"a", &a}, {"b.bias", &b}, {"empty", &empty}}, {{"k", "v"}});
  st::File f(path);
  CHECK(f.metadata().at("k") == "v");
  REQUIRE(f.entries().size() == 3);
  const st::TensorEntry* ea = f.find("a");
  REQUIRE(ea);
  CHECK(ea->dtype == st::Dtype::F32);
  CHECK(ea->shape == std::vector<int64_t>{2, 3});
  CHECK(f.read_f32(*ea) == a.data);
  CHECK(f.read_f32(*f.find("b.bias")) == b.data);
  CHECK(f.find("empty")->numel() == 0);
  CHECK(f.find("nope") == nullptr);
  CHECK_THROWS_WITH(st::write_f32(dir / "x", {{"a", &a}, {"a", &b}}), Catch::Contains("'a'"));
  tickrt::Tensor bad{{2, 2}, {1, 2, 3}};
  CHECK_THROWS_WITH(st::write_f32(dir / "y", {{"bad", &bad}}), Catch::Contains("'bad'"));
}

TEST_CASE("model safetensors: unaligned data section is read correctly", "[model]") {
  TempDir dir;
  // Header of odd length (no padding), so the float data starts at an odd address in the mapping.
  const std::string header = R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})";
  REQUIRE(header.size() % 4 != 0);
  write_raw_safetensors(dir / "u.safetensors", header, tickrt::test::f32_bytes({0.25f, -7.0f, 1e30f}));
  st::File f(dir / "u.safetensors");
  CHECK(f.read_f32(*f.find("t")) == std::vector<float>{0.25f, -7.0f, 1e30f});
}

TEST_CASE("model safetensors: half and bfloat16 conversion is exact for every bit pattern", "[model]") {
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    const uint16_t h = static_cast<uint16_t>(bits);
    const int sign = (h >> 15) ? -1 : 1;
    const int exp = (h >> 10) & 0x1f;
    const int mant = h & 0x3ff;
    const float got = st::half_to_float(h);
    if (exp == 31) {
      if (mant == 0) REQUIRE(got == sign * std::numeric_limits<float>::infinity());
      else REQUIRE(std::isnan(got));
      continue;
    }
    const double want = exp == 0 ? sign * std::ldexp(double(mant), -24) : sign * std::ldexp(1.0 + mant / 1024.0, exp - 15);
    REQUIRE(double(got) == want);
    REQUIRE(std::signbit(got) == (sign < 0));
  }
  CHECK(st::bfloat16_to_float(0x3F80) == 1.0f);
  CHECK(st::bfloat16_to_float(0xC000) == -2.0f);
  CHECK(st::bfloat16_to_float(0x4049) == 3.140625f);
  CHECK(st::bfloat16_to_float(0x0001) == std::ldexp(1.0f, -133));  // smallest subnormal
  CHECK(st::bfloat16_to_float(0x7F80) == std::numeric_limits<float>::infinity());
  CHECK(std::isnan(st::bfloat16_to_float(0x7FC0)));
  CHECK(std::signbit(st::bfloat16_to_float(0x8000)));
}

TEST_CASE("model safetensors: F16 and BF16 tensors read as float32", "[model]") {
  TempDir dir;
  // F16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), 1023*2^-24 (largest subnormal), 0.5
  // BF16: 1, -2, 3.140625, 2^-133
  const std::string header = R"({"__metadata__":{"format":"pt"},)"
                             R"("h":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},)"
                             R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[12,20]}})";
  auto data = tickrt::test::u16_bytes({0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x3800});
  auto bf = tickrt::test::u16_bytes({0x3F80, 0xC000, 0x4049, 0x0001});
  data.insert(data.end(), bf.begin(), bf.end());
  write_raw_safetensors(dir / "h.safetensors", header, data);
  st::File f(dir / "h.safetensors");
  CHECK(f.find("h")->dtype == st::Dtype::F16);
  CHECK(f.read_f32(*f.find("h")) ==
        std::vector<float>{1.0f, -2.0f, 65504.0f, std::ldexp(1.0f, -24), 1023 * std::ldexp(1.0f, -24), 0.5f});
  CHECK(f.find("b")->dtype == st::Dtype::BF16);
  CHECK(f.read_f32(*f.find("b")) == std::vector<float>{1.0f, -2.0f, 3.140625f, std::ldexp(1.0f, -133)});
}

TEST_CASE("model safetensors: malformed files are refused naming file and tensor", "[model]") {
  TempDir dir;
  const std::string path = dir / "bad.safetensors";
  const auto twelve = tickrt::test::f32_bytes({1, 2, 3});
  struct Case {
    std::string header;
    std::vector<uint8_t> data;
    int64_t declared_len;
    std::vector<std::string> expect;
  };
  const std::vector<Case> cases = {
      {R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})", twelve, 10000,
       {"header length 10000 runs past the end of the file"}},
      {R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,12]})", twelve, -1, {"header is not valid JSON"}},
      {R"([1,2])", {}, -1, {"header must be a JSON object"}},
      {R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", twelve, -1,
       {"tensor 't'", "run past the end of the data section (12 bytes)", "truncated"}},
      {R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[12,0]}})", twelve, -1, {"tensor 't'", "begin > end"}},
      {R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"u":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       twelve, -1, {"tensor 'u'", "overlap tensor 't'"}},
      {R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}})", twelve, -1,
       {"tensor 't'", "hold 12 bytes", "needs 8"}},
      {R"({"t":{"dtype":"F32","shape":[-3],"data_offsets":[0,12]}})", twelve, -1,
       {"tensor 't'", "non-negative integers"}},
      {R"({"t":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", twelve, -1,
       {"tensor 't'", "dtype I64 is not supported"}},
      {R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[-1,11]}})", twelve, -1, {"tensor 't'", "data_offsets"}},
      {R"({"t":{"dtype":"F32","shape":[3]}})", twelve, -1, {"tensor 't'", "data_offsets"}},
      {R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,12],"x":1}})", twelve, -1,
       {"tensor 't'", "unknown header field 'x'"}},
      {R"({"t":[1]})", twelve, -1, {"tensor 't'", "header entry must be an object"}},
      {R"({"__metadata__":{"k":1}})", {}, -1, {"__metadata__ value 'k' must be a string"}},
      {R"({"t":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,12]}})", twelve, -1,
       {"tensor 't'"}},
  };
  for (const Case& c : cases) {
    INFO(c.header);
    write_raw_safetensors(path, c.header, c.data, c.declared_len);
    const std::string err = open_error(path);
    CHECK_THAT(err, Catch::StartsWith(path + ": "));
    for (const auto& e : c.expect) CHECK_THAT(err, Catch::Contains(e));
  }
  {
    std::ofstream(path, std::ios::trunc) << "abc";  // shorter than the length field
    CHECK_THAT(open_error(path), Catch::Contains("too short"));
  }
  CHECK_THAT(open_error(dir / "missing.safetensors"), Catch::Contains("missing.safetensors: cannot open"));
  CHECK_THAT(open_error(dir.path.string()), Catch::Contains("not a regular file"));
}
