// Replays the fuzz inputs committed under fuzz/ through the fuzz target bodies (fuzz/fuzz_targets.cpp), in the
// ordinary build and under `make sanitize`: the seeds (fuzz/seeds/<target>/valid-* must be accepted, invalid-*
// refused cleanly) and every crash input a fuzzing run found (fuzz/regressions/<target>/*, which must now run
// without crashing). A target body aborts on a broken invariant, which fails the whole test binary loudly.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/fuzz_targets.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using tickrt::fuzz::kTargets;

namespace {

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

const fs::path kFuzzDir = fs::path(tickrt::test::source_dir()) / "fuzz";

}  // namespace

TEST_CASE("fuzz: seeds of every target (valid ones accepted and invalid ones refused)", "[fuzz]") {
  for (const auto& target : kTargets) {
    DYNAMIC_SECTION("target " << target.name) {
      const fs::path dir = kFuzzDir / "seeds" / std::string(target.name);
      REQUIRE(fs::is_directory(dir));
      int valid = 0, invalid = 0;
      for (const fs::path& file : files_in(dir)) {
        const std::vector<uint8_t> bytes = read_bytes(file);
        const std::string name = file.filename().string();
        INFO(file.string());
        const int result = target.run(bytes.data(), bytes.size());
        if (name.starts_with("valid-")) {
          CHECK(result == tickrt::fuzz::kAccepted);
          ++valid;
        } else {
          REQUIRE(name.starts_with("invalid-"));
          CHECK(result == tickrt::fuzz::kRejected);
          ++invalid;
        }
      }
      CHECK(valid >= 1);
      CHECK(invalid >= 1);
    }
  }
}

TEST_CASE("fuzz: every committed crash input now runs cleanly", "[fuzz]") {
  const fs::path root = kFuzzDir / "regressions";
  REQUIRE(fs::is_directory(root));
  int replayed = 0;
  for (const auto& dir : fs::directory_iterator(root)) {
    if (!dir.is_directory()) continue;
    const std::string name = dir.path().filename().string();
    const auto* target = std::find_if(std::begin(kTargets), std::end(kTargets),
                                      [&](const auto& t) { return t.name == name; });
    INFO("fuzz/regressions/" << name);
    REQUIRE(target != std::end(kTargets));  // a folder per target, named as the target
    const std::vector<fs::path> files = files_in(dir.path());
    CHECK(!files.empty());
    for (const fs::path& file : files) {
      const std::vector<uint8_t> bytes = read_bytes(file);
      INFO(file.string());
      const int result = target->run(bytes.data(), bytes.size());
      CHECK((result == tickrt::fuzz::kAccepted || result == tickrt::fuzz::kRejected));
      ++replayed;
    }
  }
  CHECK(replayed >= 1);
}
