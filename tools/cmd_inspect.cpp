// tickrt inspect PATH: summarise a model directory (layers, parameters, state size, hash), a journal
// (feeds/journal_inspect) or a snapshot (engine/snapshot).
#include <fmt/core.h>
#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "engine/model.h"
#include "engine/snapshot.h"
#include "feeds/journal_inspect.h"
#include "engine/state_layout.h"
#include "tools/command_registry.h"

namespace {

struct InspectOptions {
  std::string path;
  bool json = false;
};

// Parameters per layer index, and those outside any layer (embed, final norm, head) under -1.
std::map<int, int64_t> parameters_by_layer(const tickrt::Model& m) {
  std::map<int, int64_t> out;
  for (const auto& [name, t] : m.weights.tensors) {
    int layer = -1;
    if (name.rfind("layers.", 0) == 0) layer = std::stoi(name.substr(7));
    out[layer] += t.numel();
  }
  return out;
}

int inspect_model(const std::filesystem::path& dir, bool as_json) {
  const tickrt::Model m = tickrt::Model::load(dir);
  const tickrt::ModelConfig& c = m.config;
  auto params = parameters_by_layer(m);
  const std::string hash = fmt::format("{:016x}", m.hash);
  if (as_json) {
    nlohmann::json j;
    j["path"] = dir.string();
    j["hash"] = hash;
    j["parameters"] = m.parameter_count();
    j["state_bytes_per_instrument"] = tickrt::model_state_bytes(c);
    j["global_parameters"] = params[-1];
    for (int i = 0; i < static_cast<int>(c.layers.size()); ++i) {
      j["layers"].push_back({{"index", i},
                             {"type", tickrt::to_string(c.layers[i].type)},
                             {"ffn", tickrt::to_string(c.layers[i].ffn)},
                             {"parameters", params[i]},
                             {"state_bytes", tickrt::layer_state_bytes(c, i)}});
    }
    j["config"] = c.to_json();
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("model {}\n", dir.string());
  fmt::print("features {}  d_model {}  outputs {} ({})  layers {}\n", c.n_features, c.d_model, c.n_outputs(),
             fmt::join(c.outputs, ", "), c.layers.size());
  fmt::print("{:>5}  {:<10} {:<5} {:>12} {:>12}\n", "layer", "type", "ffn", "parameters", "state bytes");
  for (int i = 0; i < static_cast<int>(c.layers.size()); ++i) {
    fmt::print("{:>5}  {:<10} {:<5} {:>12} {:>12}\n", i, tickrt::to_string(c.layers[i].type),
               tickrt::to_string(c.layers[i].ffn), params[i], tickrt::layer_state_bytes(c, i));
  }
  fmt::print("{:>5}  {:<16} {:>12}\n", "", "embed/norm/head", params[-1]);
  fmt::print("parameters {}\n", m.parameter_count());
  fmt::print("state bytes per instrument {}\n", tickrt::model_state_bytes(c));
  fmt::print("hash {}\n", hash);
  return 0;
}

int inspect_snapshot(const std::filesystem::path& file) {
  const tickrt::Snapshot s = tickrt::read_snapshot(file);  // verifies magic, version, sizes, content hash
  fmt::print("snapshot {}\n", file.string());
  fmt::print("model hash {:016x}  state bytes per instrument {}  instruments {}\n", s.model_hash, s.state_bytes,
             s.instruments.size());
  fmt::print("{:>6}  {:<24} {:>16} {:>12}\n", "slot", "symbol", "journal position", "engine bytes");
  for (const auto& in : s.instruments)
    fmt::print("{:>6}  {:<24} {:>16} {:>12}\n", in.slot, in.symbol,
               in.journal_position ? fmt::format("{}", *in.journal_position) : "-", in.engine_state.size());
  return 0;
}

int run_inspect(const InspectOptions& o) {
  const std::filesystem::path p(o.path);
  if (!std::filesystem::exists(p)) {
    fmt::print(stderr, "tickrt inspect: {}: no such file or directory\n", o.path);
    return 1;
  }
  if (std::filesystem::is_directory(p)) return inspect_model(p, o.json);
  // A file is a snapshot (magic "TICKSNAP") or a journal (the journal code checks its own magic).
  char magic[8] = {};
  std::ifstream(p, std::ios::binary).read(magic, sizeof magic);
  if (std::memcmp(magic, "TICKSNAP", 8) == 0) return inspect_snapshot(p);
  return tickrt::journal::inspect_journal(o.path);
}

tickrt::cli::Registration reg("inspect", "summarise a model directory, a journal or a snapshot", [](CLI::App& app) {
  auto o = std::make_shared<InspectOptions>();
  app.add_option("path", o->path, "model directory, journal (.ticks) or snapshot file")->required();
  app.add_flag("--json", o->json, "print the model summary as JSON");
  app.footer(
      "A model is fully validated first (names, shapes, finiteness); a bad one exits non-zero naming the fault.\n"
      "Examples: tickrt inspect models/default   tickrt inspect day.ticks   tickrt inspect snap/state.snap");
  return [o] { return run_inspect(*o); };
});

}  // namespace
