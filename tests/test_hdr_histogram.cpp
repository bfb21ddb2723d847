// HdrHistogram: geometry and equivalent ranges against the Java reference's published numbers, percentiles against
// exact percentiles of stored samples, merge, coordinated-omission correction, clamping, .hgrm round trip, and an
// optional cross-check against the PyPI `hdrhistogram` reference (tools/hgrm_check.py).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "engine/hdr_histogram.h"
#include "engine/latency.h"
#include "tests/test_util.h"

using tickrt::HdrHistogram;

namespace {

constexpr int64_t kHour_us = 3600LL * 1000 * 1000;  // the reference test suites' geometry: 1 .. 1 h in us, 3 digits

std::vector<int64_t> lognormal_samples(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> dist(std::log(50'000.0), 1.0);  // ~50 us median, long tail, in ns
  std::vector<int64_t> v(n);  // [n]
  for (auto& x : v) x = static_cast<int64_t>(dist(rng));
  return v;
}

std::vector<int64_t> uniform_samples(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> dist(0, 10'000'000);
  std::vector<int64_t> v(n);  // [n]
  for (auto& x : v) x = dist(rng);
  return v;
}

// The exact sample at HdrHistogram's target count ceil(p/100 * n) (1-based) of the sorted samples.
int64_t exact_percentile(const std::vector<int64_t>& sorted, double p) {
  const auto n = static_cast<double>(sorted.size());
  auto target = static_cast<size_t>(std::ceil(std::nextafter(p, 0.0) / 100.0 * n));
  target = std::clamp<size_t>(target, 1, sorted.size());
  return sorted[target - 1];
}

}  // namespace

TEST_CASE("hdr: geometry matches the reference for 1..5 significant digits") {
  HdrHistogram h(1, kHour_us, 3);
  CHECK(h.sub_bucket_count() == 2048);
  CHECK(h.bucket_count() == 22);
  CHECK(h.counts_len() == 23552);  // HdrHistogram_c test_create
  CHECK(h.unit_magnitude() == 0);
  const int32_t expected_sub_buckets[] = {32, 256, 2048, 32768, 262144};
  for (int d = 1; d <= 5; ++d) CHECK(HdrHistogram(1, kHour_us, d).sub_bucket_count() == expected_sub_buckets[d - 1]);
  CHECK(HdrHistogram(1000, kHour_us, 3).unit_magnitude() == 9);
  CHECK(HdrHistogram(1024, kHour_us, 3).unit_magnitude() == 10);

  CHECK_THROWS_WITH(HdrHistogram(0, 100, 3), Catch::Contains("lowest_discernible"));
  CHECK_THROWS_WITH(HdrHistogram(1, 100, 6), Catch::Contains("significant_digits"));
  CHECK_THROWS_WITH(HdrHistogram(1, 100, 0), Catch::Contains("significant_digits"));
  CHECK_THROWS_WITH(HdrHistogram(100, 150, 3), Catch::Contains("highest_trackable"));
}

TEST_CASE("hdr: equivalent ranges match the reference and the stated precision") {
  HdrHistogram h(1, kHour_us, 3);
  // Numbers from HdrHistogram's Java HistogramTest (testSizeOfEquivalentValueRange and friends).
  CHECK(h.size_of_equivalent_range(1) == 1);
  CHECK(h.size_of_equivalent_range(2500) == 2);
  CHECK(h.size_of_equivalent_range(8191) == 4);
  CHECK(h.size_of_equivalent_range(8192) == 8);
  CHECK(h.size_of_equivalent_range(10000) == 8);
  CHECK(h.lowest_equivalent(10007) == 10000);
  CHECK(h.lowest_equivalent(10009) == 10008);
  CHECK(h.highest_equivalent(8180) == 8183);
  CHECK(h.highest_equivalent(8191) == 8191);
  CHECK(h.highest_equivalent(8193) == 8199);
  CHECK(h.highest_equivalent(9995) == 9999);
  CHECK(h.highest_equivalent(10007) == 10007);
  CHECK(h.highest_equivalent(10008) == 10015);
  CHECK(h.median_equivalent(10007) == 10004);
  CHECK(h.values_are_equivalent(10000, 10007));
  CHECK_FALSE(h.values_are_equivalent(10007, 10008));

  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> log10_value(0.0, 9.5);
  for (int i = 0; i < 100'000; ++i) {
    const auto v = static_cast<int64_t>(std::pow(10.0, log10_value(rng)));
    const int64_t lo = h.lowest_equivalent(v), hi = h.highest_equivalent(v), size = h.size_of_equivalent_range(v);
    REQUIRE(lo <= v);
    REQUIRE(v <= hi);
    REQUIRE(hi - lo + 1 == size);
    REQUIRE(size <= std::max<int64_t>(1, lo / 1000));  // relative width <= 10^-digits
    REQUIRE(h.next_non_equivalent(v) == hi + 1);
  }
}

TEST_CASE("hdr: percentiles of one million log-normal and uniform samples are within precision") {
  for (const bool lognormal : {true, false}) {
    INFO((lognormal ? "log-normal" : "uniform"));
    std::vector<int64_t> samples = lognormal ? lognormal_samples(1'000'000, 1) : uniform_samples(1'000'000, 2);
    HdrHistogram h(1, 100'000'000'000, 3);
    double exact_sum = 0.0;
    for (int64_t v : samples) {
      h.record(v);
      exact_sum += static_cast<double>(v);
    }
    std::sort(samples.begin(), samples.end());
    REQUIRE(h.total_count() == 1'000'000);
    for (double p : {0.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
      INFO("p = " << p);
      const int64_t exact = exact_percentile(samples, p);
      const int64_t got = h.value_at_percentile(p);
      // Same slot as the exact sample, reported at its highest (lowest for p = 0) equivalent value.
      CHECK(h.values_are_equivalent(got, exact));
      CHECK(got == (p == 0.0 ? h.lowest_equivalent(exact) : h.highest_equivalent(exact)));
      CHECK(std::abs(static_cast<double>(got - exact)) <= std::max(1.0, static_cast<double>(exact) * 1e-3));
    }
    CHECK(h.min() == h.lowest_equivalent(samples.front()));
    CHECK(h.max() == h.highest_equivalent(samples.back()));
    const double exact_mean = exact_sum / static_cast<double>(samples.size());
    CHECK(std::abs(h.mean() - exact_mean) <= exact_mean * 1e-3);
    double exact_var = 0.0;
    for (int64_t v : samples) exact_var += (static_cast<double>(v) - exact_mean) * (static_cast<double>(v) - exact_mean);
    const double exact_stddev = std::sqrt(exact_var / static_cast<double>(samples.size()));
    CHECK(std::abs(h.stddev() - exact_stddev) <= exact_stddev * 1e-3);
    CHECK(h.overflow_count() == 0);
    CHECK(h.negative_count() == 0);
  }
}

TEST_CASE("hdr: merging two histograms equals one histogram of all samples") {
  const auto a = lognormal_samples(200'000, 3);
  const auto b = uniform_samples(150'000, 4);
  HdrHistogram ha(1, kHour_us, 3), hb(1, kHour_us, 3), all(1, kHour_us, 3);
  for (int64_t v : a) ha.record(v), all.record(v);
  for (int64_t v : b) hb.record(v), all.record(v);
  ha.record(kHour_us * 2);  // one overflow, carried by the merge
  all.record(kHour_us * 2);
  ha.add(hb);
  REQUIRE(ha.total_count() == all.total_count());
  for (size_t i = 0; i < all.counts_len(); ++i) REQUIRE(ha.count_at_index(i) == all.count_at_index(i));
  CHECK(ha.min() == all.min());
  CHECK(ha.max() == all.max());
  CHECK(ha.overflow_count() == 1);
  CHECK(ha.mean() == all.mean());
  CHECK(ha.value_at_percentile(99.9) == all.value_at_percentile(99.9));

  HdrHistogram other_digits(1, kHour_us, 2), other_high(1, kHour_us / 2, 3);
  CHECK_THROWS_WITH(ha.add(other_digits), Catch::Contains("significant_digits 3 vs 2"));
  CHECK_THROWS_WITH(ha.add(other_high), Catch::Contains("highest_trackable"));

  ha.reset();
  CHECK(ha.total_count() == 0);
  CHECK(ha.overflow_count() == 0);
  CHECK(ha.max() == 0);
  CHECK(ha.value_at_percentile(50.0) == 0);
  for (size_t i = 0; i < ha.counts_len(); ++i) REQUIRE(ha.count_at_index(i) == 0);
}

TEST_CASE("hdr: coordinated-omission correction records the missed samples") {
  HdrHistogram h(1, kHour_us, 3);
  h.record_corrected(1000, 100);  // 1000, 900, ..., 100: ten samples
  CHECK(h.total_count() == 10);
  for (int64_t v = 100; v <= 1000; v += 100) CHECK(h.count_at(v) == 1);
  CHECK(h.count_at(0) == 0);
  CHECK(h.count_at(50) == 0);
  CHECK(h.min() == 100);
  CHECK(h.max() == 1000);
  CHECK(h.value_at_percentile(50.0) == 500);

  h.reset();
  h.record_corrected(99, 100);  // below the interval: just the value
  h.record_corrected(5000, 0);  // no interval: just the value
  CHECK(h.total_count() == 2);

  // The per-slot bulk add equals the reference's one-record-per-missing-sample loop.
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int64_t> value(1, 2'000'000), interval(1, 5000);
  for (int trial = 0; trial < 20; ++trial) {
    const int64_t v = value(rng), iv = interval(rng);
    HdrHistogram fast(1, kHour_us, 3), slow(1, kHour_us, 3);
    fast.record_corrected(v, iv);
    slow.record(v);
    for (int64_t missing = v - iv; missing >= iv; missing -= iv) slow.record(missing);
    INFO("value " << v << " interval " << iv);
    REQUIRE(fast.total_count() == slow.total_count());
    REQUIRE(fast.min() == slow.min());
    for (size_t i = 0; i < slow.counts_len(); ++i) REQUIRE(fast.count_at_index(i) == slow.count_at_index(i));
  }
}

TEST_CASE("hdr: values outside the trackable range are clamped and counted") {
  HdrHistogram h(1, 1'000'000, 3);
  h.record(2'000'000);
  h.record_n(INT64_MAX, 3);
  h.record(-5);
  h.record(500);
  CHECK(h.total_count() == 6);
  CHECK(h.overflow_count() == 4);
  CHECK(h.negative_count() == 1);
  CHECK(h.count_at(1'000'000) == 4);
  CHECK(h.count_at(0) == 1);
  CHECK(h.max() == h.highest_equivalent(1'000'000));
  CHECK(h.min() == 0);
  CHECK(h.value_at_percentile(100.0) == h.highest_equivalent(1'000'000));
  CHECK(h.value_at_percentile(250.0) == h.highest_equivalent(1'000'000));  // percentile clamped to 100
  CHECK(h.value_at_percentile(std::nan("")) == 0);                           // NaN reads as 0
  h.record_n(700, 0);
  h.record_n(700, -4);  // a negative count must not un-record anything
  CHECK(h.count_at(700) == 0);
  CHECK(h.total_count() == 6);
  h.record_corrected(5'000'000, 400'000);  // clamped to 1e6 first, then 600k (200k < interval: not missed)
  CHECK(h.overflow_count() == 5);
  CHECK(h.total_count() == 8);
  CHECK(h.count_at(600'000) == 1);
  CHECK(h.count_at(200'000) == 0);
}

TEST_CASE("hdr: .hgrm text follows the reference format exactly") {
  HdrHistogram h(1, kHour_us, 3);
  for (int64_t v = 1; v <= 10; ++v) h.record(v);
  const std::string expected =
      "       Value     Percentile TotalCount 1/(1-Percentile)\n"
      "\n"
      "       1.000 0.000000000000          1           1.00\n"
      "       1.000 0.100000000000          1           1.11\n"
      "       2.000 0.200000000000          2           1.25\n"
      "       3.000 0.300000000000          3           1.43\n"
      "       4.000 0.400000000000          4           1.67\n"
      "       5.000 0.500000000000          5           2.00\n"
      "       6.000 0.550000000000          6           2.22\n"
      "       6.000 0.600000000000          6           2.50\n"
      "       7.000 0.650000000000          7           2.86\n"
      "       7.000 0.700000000000          7           3.33\n"
      "       8.000 0.750000000000          8           4.00\n"
      "       8.000 0.775000000000          8           4.44\n"
      "       8.000 0.800000000000          8           5.00\n"
      "       9.000 0.825000000000          9           5.71\n"
      "       9.000 0.850000000000          9           6.67\n"
      "       9.000 0.875000000000          9           8.00\n"
      "       9.000 0.887500000000          9           8.89\n"
      "       9.000 0.900000000000          9          10.00\n"
      "      10.000 0.912500000000         10          11.43\n"
      "      10.000 1.000000000000         10\n"
      "#[Mean    =        5.500, StdDeviation   =        2.872]\n"
      "#[Max     =       10.000, Total count    =           10]\n"
      "#[Buckets =           22, SubBuckets     =         2048]\n";
  CHECK(tickrt::format_hgrm(h) == expected);
  CHECK_THROWS_WITH(tickrt::format_hgrm(h, 0.0), Catch::Contains("value_scaling"));
  CHECK_THROWS_WITH(tickrt::format_hgrm(h, 1.0, 0), Catch::Contains("ticks_per_half_distance"));
  CHECK(tickrt::format_hgrm(HdrHistogram(1, kHour_us, 3)).find("Total count    =            0") != std::string::npos);
}

TEST_CASE("hdr: .hgrm written then parsed back agrees with the histogram") {
  const auto samples = lognormal_samples(300'000, 5);
  HdrHistogram h(1, 100'000'000'000, 3);
  for (int64_t v : samples) h.record(v);
  tickrt::test::TempDir dir;
  const std::string path = dir / "lat.hgrm";
  {
    std::ofstream out(path);
    tickrt::write_hgrm(out, h, 1000.0);  // ns recorded, us printed
  }
  const tickrt::HgrmFile f = tickrt::read_hgrm(path);
  REQUIRE(f.rows.size() > 20);
  // The reference tick schedule: 10% steps to 50%, 5% to 75%, 2.5% to 87.5%, ...
  const double first_levels[] = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.775, 0.8};
  for (size_t i = 0; i < std::size(first_levels); ++i) CHECK(f.rows[i].percentile == Approx(first_levels[i]));
  for (size_t i = 1; i < f.rows.size(); ++i) {
    INFO("row " << i);
    REQUIRE(f.rows[i].percentile >= f.rows[i - 1].percentile);
    REQUIRE(f.rows[i].value >= f.rows[i - 1].value);
    REQUIRE(f.rows[i].total_count >= f.rows[i - 1].total_count);
  }
  const tickrt::HgrmRow& last = f.rows.back();
  CHECK(last.percentile == 1.0);
  CHECK(last.total_count == h.total_count());
  CHECK(last.value == Approx(static_cast<double>(h.max()) / 1000.0).margin(0.0005));
  CHECK(f.total_count == h.total_count());
  CHECK(f.max == Approx(static_cast<double>(h.max()) / 1000.0).margin(0.0005));
  CHECK(f.mean == Approx(h.mean() / 1000.0).margin(0.0005));
  CHECK(f.stddev == Approx(h.stddev() / 1000.0).margin(0.0005));
  CHECK(f.buckets == h.bucket_count());
  CHECK(f.sub_buckets == h.sub_bucket_count());
  // Each row's value is the slot where the cumulative count first reaches its level: the count printed.
  for (const auto& row : f.rows) {
    INFO("percentile " << row.percentile);
    const double pct = static_cast<double>(row.total_count) * 100.0 / static_cast<double>(h.total_count());
    CHECK(row.value == Approx(static_cast<double>(h.value_at_percentile(pct)) / 1000.0).margin(0.0005));
  }
}

TEST_CASE("hdr: .hgrm parser rejects malformed text naming the line") {
  std::istringstream no_footer("       Value     Percentile TotalCount 1/(1-Percentile)\n\n 1.000 0.5 3 2.00\n");
  CHECK_THROWS_WITH(tickrt::parse_hgrm(no_footer, "x.hgrm"), Catch::Contains("x.hgrm: footer incomplete"));
  std::istringstream bad_row("       Value     Percentile TotalCount 1/(1-Percentile)\n\n 1.000 abc 3\n");
  CHECK_THROWS_WITH(tickrt::parse_hgrm(bad_row, "y.hgrm"), Catch::Contains("y.hgrm:3: malformed row"));
  std::istringstream bad_pct(" 1.000 1.5 3\n");
  CHECK_THROWS_WITH(tickrt::parse_hgrm(bad_pct, "z.hgrm"), Catch::Contains("percentile outside 0..1"));
  CHECK_THROWS_WITH(tickrt::read_hgrm("/nonexistent/dir/q.hgrm"), Catch::Contains("/nonexistent/dir/q.hgrm"));
}

TEST_CASE("hdr: agrees with the PyPI hdrhistogram reference (optional: tools/hgrm_check.py)", "[python]") {
  const auto samples = lognormal_samples(100'000, 9);
  HdrHistogram h(1, kHour_us, 3);
  for (int64_t v : samples) h.record(v);
  tickrt::test::TempDir dir;
  {
    std::ofstream s(dir / "samples.i64", std::ios::binary);  // [n] int64 little-endian (x86)
    s.write(reinterpret_cast<const char*>(samples.data()), static_cast<std::streamsize>(samples.size() * 8));
    std::ofstream hg(dir / "ours.hgrm");
    tickrt::write_hgrm(hg, h, 1000.0);
    std::ofstream ours(dir / "ours.txt");
    for (double p : {0.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 99.999, 100.0, 33.3333, 12.5})
      ours << fmt::format("{} {}\n", p, h.value_at_percentile(p));
  }
  const auto r = tickrt::test::run_command(fmt::format(
      "{} {}/tools/hgrm_check.py --samples {} --hgrm {} --ours {} --lowest 1 --highest {} --digits 3 --scale 1000",
      TICKRT_PYTHON, TICKRT_SOURCE_DIR, dir / "samples.i64", dir / "ours.hgrm", dir / "ours.txt", kHour_us));
  if (r.exit_code == 77) {
    WARN("SKIPPED (reference not installed; pip install --target DIR hdrhistogram and set PYTHONPATH=DIR): "
         << r.output);
    return;
  }
  INFO(r.output);
  CHECK(r.exit_code == 0);
}

TEST_CASE("hdr: record() ns per op (benchmark: prints only)", "[.bench]") {
  WARN(fmt::format("hdr record(): {:.2f} ns/op", tickrt::hdr_record_ns_per_op()));
}

TEST_CASE("hdr: stage latencies record stamps per stage and end to end") {
  tickrt::StageLatencies lat({"decode", "model", "publish"});
  const int64_t stamps[] = {1'000, 1'100, 2'100, 2'300};  // t_recv, t_decoded, t_model, t_sent (ns)
  for (int i = 0; i < 1000; ++i) lat.record(stamps);
  REQUIRE(lat.stage_count() == 3);
  CHECK(lat.stage(0).count_at(100) == 1000);
  CHECK(lat.stage(1).count_at(1000) == 1000);
  CHECK(lat.stage(2).count_at(200) == 1000);
  CHECK(lat.total().count_at(1300) == 1000);

  const int64_t too_few[] = {1, 2, 3};
  lat.record(too_few);
  CHECK(lat.rejected_wrong_size() == 1);
  CHECK(lat.total().total_count() == 1000);
  const int64_t out_of_order[] = {1'000, 900, 2'100, 2'300};  // decode "took" -100 ns: recorded as 0, counted
  lat.record(out_of_order);
  CHECK(lat.stage(0).negative_count() == 1);
  CHECK(lat.stage(0).count_at(0) == 1);

  // Coordinated-omission correction applies to the end-to-end histogram only.
  tickrt::StageLatencies open_loop({"decode", "model", "publish"});
  const int64_t stalled[] = {0, 100, 900, 1'000};
  open_loop.record(stalled, 100);
  CHECK(open_loop.total().total_count() == 10);
  CHECK(open_loop.stage(1).total_count() == 1);

  lat.add(open_loop);
  CHECK(lat.total().total_count() == 1001 + 10);
  CHECK(lat.rejected_wrong_size() == 1);
  tickrt::StageLatencies other({"decode", "step", "publish"});
  CHECK_THROWS_WITH(lat.add(other), Catch::Contains("stage names differ"));
  CHECK_THROWS_WITH(tickrt::StageLatencies({"a", "a"}), Catch::Contains("'a' appears twice"));
  CHECK_THROWS_WITH(tickrt::StageLatencies({"total"}), Catch::Contains("reserved"));
  CHECK_THROWS_WITH(tickrt::StageLatencies({}), Catch::Contains("empty"));

  const std::string summary = lat.summary();
  CHECK_THAT(summary, Catch::Contains("decode") && Catch::Contains("publish") && Catch::Contains("total"));
  CHECK_THAT(summary, Catch::Contains("1011"));

  tickrt::test::TempDir dir;
  const auto paths = lat.write_hgrm_files(dir.path.string(), "run1_");
  REQUIRE(paths.size() == 4);
  CHECK(paths[3] == dir / "run1_total.hgrm");
  CHECK(tickrt::read_hgrm(paths[1]).total_count == 1002);  // model: 1000 + out-of-order + open-loop
  CHECK(tickrt::read_hgrm(paths[3]).total_count == 1011);
  CHECK(tickrt::read_hgrm(paths[3]).max == Approx(1.3).margin(0.0005));  // us
  CHECK_THROWS_WITH(lat.write_hgrm_files("/nonexistent/dir"), Catch::Contains("/nonexistent/dir/decode.hgrm"));
  lat.reset();
  CHECK(lat.total().total_count() == 0);
  CHECK(lat.rejected_wrong_size() == 0);
}
