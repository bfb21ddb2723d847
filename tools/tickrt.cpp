// tickrt: one binary, many subcommands (see ../shared/ARCHITECTURE.md). Each subcommand lives in its own
// tools/cmd_<name>.cpp and registers itself; this file only parses and dispatches.
#include <fmt/core.h>

#include <algorithm>
#include <exception>

#include "tools/command_registry.h"

namespace tickrt::cli {
std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}
}  // namespace tickrt::cli

int main(int argc, char** argv) {
  CLI::App app{"tickrt: real-time streaming inference for market data"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tickrt 0.1");
  auto& commands = tickrt::cli::registry();
  std::sort(commands.begin(), commands.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::function<int()> action;
  for (auto& cmd : commands) {
    CLI::App* sub = app.add_subcommand(cmd.name, cmd.description);
    auto run = cmd.setup(*sub);
    sub->callback([&action, run] { action = run; });
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return action ? action() : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "tickrt: error: {}\n", e.what());
    return 1;
  }
}
