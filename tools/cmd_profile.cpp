// tickrt profile: end-to-end latency under open-loop load, generator + engine + subscriber in one process
// (engine/profiler.h).
#include <fmt/core.h>

#include <iostream>
#include <memory>

#include "engine/profiler.h"
#include "tools/command_registry.h"

namespace {

struct ProfileCli {
  tickrt::ProfileOptions o;
  std::string transport = "tcp";
  std::string out;
  std::string plot_script;
  bool no_plot = false;
  std::string command_line;
};

int run_profile_command(ProfileCli& c) {
  c.o.transport = tickrt::parse_profile_transport(c.transport);
  std::filesystem::create_directories(c.out);
  std::string source;
  c.o.model_dir = tickrt::resolve_profile_model(c.o.model_dir, c.out, source);
  c.o.log = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };
  fmt::print(stderr, "profile: model {} ({})\n", c.o.model_dir.string(), source);
  fmt::print(stderr, "profile: all stamps are CLOCK_REALTIME on this host, so they share one clock "
                     "(across hosts, stamps would depend on clock sync)\n");
  tickrt::ProfileResult r = tickrt::run_profile(c.o);
  r.model_source = source;
  tickrt::write_profile_files(r, c.out, c.command_line);
  fmt::print("{}", tickrt::format_profile_report(r));
  if (!c.no_plot) {
    const std::string why = tickrt::plot_profile(c.out, c.plot_script);
    if (why.empty())
      fmt::print("wrote {}/*.hgrm, summary.json, latency.png\n", c.out);
    else
      fmt::print("wrote {}/*.hgrm, summary.json; no plot: {}\n", c.out, why);
  } else {
    fmt::print("wrote {}/*.hgrm, summary.json\n", c.out);
  }
  return r.counts.missing == 0 ? 0 : 2;
}

tickrt::cli::Registration reg(
    "profile", "end-to-end latency under open-loop load: per-stage percentiles, .hgrm files, a PNG plot",
    [](CLI::App& app) {
      auto c = std::make_shared<ProfileCli>();
      app.add_option("--model", c->o.model_dir,
                     "model directory (default: models/default when it holds a model, else a random model of "
                     "the built-in default architecture, written to OUT/model)");
      app.add_option("--instruments", c->o.instruments, "instruments in the generated feed")->capture_default_str();
      app.add_option("--rate", c->o.rate, "mean ticks per second, all instruments together")->capture_default_str();
      app.add_option("--duration", c->o.duration_s, "seconds of load (rate x duration ticks)")->capture_default_str();
      app.add_option("--transport", c->transport, "tcp (127.0.0.1), ipc or inproc")
          ->check(CLI::IsMember({"tcp", "ipc", "inproc"}))
          ->capture_default_str();
      app.add_option("--backend", c->o.backend, "engine backend")->capture_default_str();
      app.add_option("--max-batch", c->o.max_batch, "engine: most ticks drained and stepped per wake-up")
          ->capture_default_str();
      app.add_option("--cpu-engine", c->o.cpu_engine, "pin the engine thread (and the floor's echo) to this CPU");
      app.add_option("--cpu-gen", c->o.cpu_gen, "pin the generator thread (and the floor's pinger) to this CPU");
      app.add_option("--cpu-sub", c->o.cpu_sub, "pin the subscriber thread to this CPU");
      app.add_option("--seed", c->o.seed, "generator seed")->capture_default_str();
      app.add_option("--drain-timeout", c->o.drain_timeout_s, "most seconds to wait for the last signals")
          ->capture_default_str();
      app.add_option("--floor-round-trips", c->o.floor_round_trips, "ping-pong round trips timed for the floor")
          ->capture_default_str();
      app.add_option("--out", c->out, "directory for *.hgrm, summary.json and latency.png")->required();
      app.add_option("--plot-script", c->plot_script, "plot_latency.py to use (default: the source tree's)");
      app.add_flag("--no-plot", c->no_plot, "do not draw latency.png");
      app.footer(
          "Generator, engine and subscriber run on their own threads over real ZeroMQ sockets; the transport\n"
          "floor (REQ/REP ping-pong, no engine) is measured in the same run. Exit status 2 when a tick went\n"
          "unanswered (the report says why).\n"
          "Example:\n"
          "  tickrt profile --instruments 100 --rate 20000 --duration 30 --transport tcp \\\n"
          "      --cpu-engine 1 --cpu-gen 0 --cpu-sub 0 --out /tmp/profile");
      return [c, &app] {
        c->command_line = "tickrt profile";
        for (const auto& opt : app.get_options()) {
          if (opt->count() == 0 || opt->get_name() == "--help") continue;
          c->command_line += " " + opt->get_name();
          if (opt->get_expected_min() > 0)  // flags take no value
            for (const auto& v : opt->results()) c->command_line += " " + v;
        }
        return run_profile_command(*c);
      };
    });

}  // namespace
