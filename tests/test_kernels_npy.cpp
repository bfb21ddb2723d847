// engine/npy: float32 round trip, NumPy-written files (float64, format 2.0) read back, errors that name the file.
#include <catch2/catch.hpp>

#include <fstream>
#include <vector>

#include "engine/npy.h"
#include "tests/test_util.h"

TEST_CASE("npy: float32 round trip and NumPy-written float64 / version 2.0 files", "[npy]") {
  tickrt::test::TempDir dir;
  const std::vector<float> a{1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -0.5f};
  tickrt::write_npy_f32(dir / "a.npy", a.data(), {2, 3});
  const auto back = tickrt::read_npy_f32(dir / "a.npy");
  CHECK(back.shape == std::vector<int64_t>{2, 3});
  CHECK(back.data == a);
  const auto py = tickrt::test::run_command(fmt::format(
      "{} -c \"import numpy as np; x = np.load('{}'); assert x.dtype == np.float32 and x.shape == (2, 3), x; "
      "np.save('{}', x.astype(np.float64) * 2); np.lib.format.write_array(open('{}', 'wb'), x, version=(2, 0))\"",
      tickrt::test::python(), dir / "a.npy", dir / "b.npy", dir / "c.npy"));
  INFO(py.output);
  REQUIRE(py.exit_code == 0);
  const auto b = tickrt::read_npy_f32(dir / "b.npy");
  CHECK(b.shape == std::vector<int64_t>{2, 3});
  for (size_t i = 0; i < a.size(); ++i) CHECK(b.data[i] == 2 * a[i]);
  CHECK(tickrt::read_npy_f32(dir / "c.npy").data == a);
  const std::vector<int64_t> ids{1, -2, 3};
  tickrt::write_npy_i64(dir / "i.npy", ids.data(), {3});
  const auto chk = tickrt::test::run_command(fmt::format(
      "{} -c \"import numpy as np; x = np.load('{}'); assert x.dtype == np.int64 and list(x) == [1, -2, 3], x\"",
      tickrt::test::python(), dir / "i.npy"));
  CHECK(chk.exit_code == 0);
}

TEST_CASE("npy: bad files are refused naming the file", "[npy]") {
  tickrt::test::TempDir dir;
  CHECK_THROWS_WITH(tickrt::read_npy_f32(dir / "missing.npy"), Catch::Contains("missing.npy"));
  std::ofstream(dir / "junk.npy") << "not numpy at all";
  CHECK_THROWS_WITH(tickrt::read_npy_f32(dir / "junk.npy"), Catch::Contains("junk.npy") && Catch::Contains("magic"));
  const std::vector<int64_t> ids{1, 2};
  tickrt::write_npy_i64(dir / "int.npy", ids.data(), {2});
  CHECK_THROWS_WITH(tickrt::read_npy_f32(dir / "int.npy"), Catch::Contains("int.npy") && Catch::Contains("<i8"));
  const std::vector<float> a(6, 1.0f);
  tickrt::write_npy_f32(dir / "short.npy", a.data(), {2, 3});
  std::filesystem::resize_file(dir / "short.npy", std::filesystem::file_size(dir / "short.npy") - 4);
  CHECK_THROWS_WITH(tickrt::read_npy_f32(dir / "short.npy"), Catch::Contains("short.npy") && Catch::Contains("truncated"));
}
