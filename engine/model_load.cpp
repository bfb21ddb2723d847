// Model::load and Model::save: a model directory is config.json + model.safetensors (MODEL-SPEC §2).
// Loading checks that the file holds exactly the tensors the config requires (unknown and missing tensors
// are errors naming them), with the right shapes, and only finite values.
#include <fmt/core.h>
#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <map>
#include <stdexcept>

#include "engine/model.h"
#include "engine/safetensors.h"

namespace tickrt {
namespace {

std::string shape_str(const std::vector<int64_t>& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

// The first non-finite value of `t`, as an error naming `where` and `name`; nothing when all are finite.
void require_finite(const std::string& where, const std::string& name, const std::vector<float>& v) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i]))
      throw std::runtime_error(fmt::format("{}: tensor '{}' has a non-finite value ({}) at flat index {}", where, name,
                                           v[i], i));
  }
}

}  // namespace

Model Model::load(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir))
    throw std::runtime_error(fmt::format("{}: not a model directory (config.json + model.safetensors)", dir.string()));
  Model m;
  m.dir = dir;
  m.config = ModelConfig::load(dir / "config.json");
  const std::filesystem::path st_path = dir / "model.safetensors";
  const std::string where = st_path.string();
  safetensors::File file(st_path);

  std::map<std::string, const TensorSpec*> want;
  const std::vector<TensorSpec> specs = expected_tensors(m.config);
  for (const TensorSpec& s : specs) want.emplace(s.name, &s);

  for (const safetensors::TensorEntry& e : file.entries()) {
    auto it = want.find(e.name);
    if (it == want.end())
      throw std::runtime_error(fmt::format("{}: unknown tensor '{}' (config.json requires no such tensor)", where, e.name));
    if (e.shape != it->second->shape)
      throw std::runtime_error(fmt::format("{}: tensor '{}' has shape {}, expected {}", where, e.name,
                                           shape_str(e.shape), shape_str(it->second->shape)));
    Tensor t;
    t.shape = e.shape;
    t.data = file.read_f32(e);
    require_finite(where, e.name, t.data);
    m.weights.tensors.emplace(e.name, std::move(t));
  }
  std::size_t missing = 0;
  const TensorSpec* first_missing = nullptr;
  for (const TensorSpec& s : specs) {
    if (m.weights.tensors.count(s.name)) continue;
    if (!first_missing) first_missing = &s;
    ++missing;
  }
  if (first_missing)
    throw std::runtime_error(fmt::format("{}: missing tensor '{}' {}{}", where, first_missing->name,
                                         shape_str(first_missing->shape),
                                         missing > 1 ? fmt::format(" (and {} more)", missing - 1) : ""));
  m.hash = m.compute_hash();
  return m;
}

void Model::save(const std::filesystem::path& out_dir) const {
  // Refuse to write a model that load() would refuse.
  const std::vector<TensorSpec> specs = expected_tensors(config);
  std::vector<std::pair<std::string, const Tensor*>> ordered;
  for (const TensorSpec& s : specs) {
    const Tensor& t = weights.at(s.name);
    if (t.shape != s.shape)
      throw std::runtime_error(fmt::format("model save: tensor '{}' has shape {}, expected {}", s.name,
                                           shape_str(t.shape), shape_str(s.shape)));
    require_finite("model save", s.name, t.data);
    ordered.emplace_back(s.name, &t);
  }
  if (weights.tensors.size() != specs.size()) {
    for (const auto& [name, t] : weights.tensors) {
      bool known = false;
      for (const TensorSpec& s : specs) known |= s.name == name;
      if (!known) throw std::runtime_error(fmt::format("model save: unknown tensor '{}' for this config", name));
    }
  }
  std::filesystem::create_directories(out_dir);
  {
    const std::filesystem::path cfg_path = out_dir / "config.json";
    std::ofstream out(cfg_path, std::ios::trunc);
    out << config.to_json().dump(2) << "\n";
    if (!out) throw std::runtime_error(fmt::format("{}: write failed", cfg_path.string()));
  }
  // The hash in the metadata is informational (humans, other tools); load() always recomputes it.
  safetensors::write_f32(out_dir / "model.safetensors", ordered,
                         {{"format", "pt"},  // what Hugging Face loaders expect
                          {"tickrt_format", "tickrt-model/1"},
                          {"tickrt_hash", fmt::format("{:016x}", compute_hash())}});
}

}  // namespace tickrt
