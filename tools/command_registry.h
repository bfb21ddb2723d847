// Subcommands register themselves here, one file per subcommand (tools/cmd_<name>.cpp), so that adding a
// command never touches tickrt.cpp:
//
//   static tickrt::cli::Registration reg("gen", "synthetic multi-instrument feed", [](CLI::App& app) {
//     auto opts = std::make_shared<GenOptions>();
//     app.add_option("--pub", opts->pub, "...");
//     return [opts] { return run_gen(*opts); };   // returns the process exit code
//   });
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace tickrt::cli {

// Called once with the subcommand's CLI11 app; returns the action to run when the subcommand is chosen.
using Setup = std::function<std::function<int()>(CLI::App&)>;

struct Command {
  std::string name;
  std::string description;
  Setup setup;
};

std::vector<Command>& registry();

struct Registration {
  Registration(std::string name, std::string description, Setup setup) {
    registry().push_back({std::move(name), std::move(description), std::move(setup)});
  }
};

}  // namespace tickrt::cli
