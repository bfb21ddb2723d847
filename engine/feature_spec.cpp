#include "engine/feature_spec.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <stdexcept>

namespace tickrt {

void FeatureSpec::normalise(const float* raw, float* x) const {
  for (size_t i = 0; i < features.size(); ++i) {
    const FeatureNorm& f = features[i];
    float v = (raw[f.index] - f.mean) / f.std;
    if (f.clip > 0) v = std::clamp(v, -f.clip, f.clip);
    x[i] = v;
  }
}

FeatureSpec FeatureSpec::defaults() {
  FeatureSpec s;
  for (int i = 0; i < kFeatureCount; ++i) s.features.push_back({std::string(kFeatures[i].name), i, 0.0f, 1.0f, 0.0f});
  s.outputs = {{"ret_10t", 10, HorizonUnits::ticks}, {"ret_100t", 100, HorizonUnits::ticks},
               {"ret_5s", 5, HorizonUnits::seconds}};
  return s;
}

FeatureSpec FeatureSpec::untrained(int n_features, const std::vector<std::string>& outputs) {
  if (n_features < 1 || n_features > kFeatureCount)
    throw std::runtime_error(fmt::format("an untrained model's features.json can name 1..{} features, the config "
                                         "has n_features = {}",
                                         kFeatureCount, n_features));
  FeatureSpec base = defaults();
  FeatureSpec s;
  s.features.assign(base.features.begin(), base.features.begin() + n_features);
  for (size_t i = 0; i < outputs.size(); ++i) {
    OutputSpec o = base.outputs[i % base.outputs.size()];
    o.name = outputs[i];
    s.outputs.push_back(o);
  }
  return s;
}

namespace {

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw std::runtime_error(fmt::format("{}: {}", source, what));
}

float finite_number(const nlohmann::json& j, const char* key, float fallback, const std::string& source,
                    const std::string& where) {
  if (!j.contains(key)) return fallback;
  const auto& v = j.at(key);
  // The value is stored as float: a finite double beyond float's range would silently become infinity.
  if (!v.is_number() || !std::isfinite(v.get<double>()) ||
      std::fabs(v.get<double>()) > double(std::numeric_limits<float>::max()))
    fail(source, fmt::format("field '{}.{}' must be a finite number (within float range)", where, key));
  return v.get<float>();
}

}  // namespace

FeatureSpec FeatureSpec::from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) fail(source, "features file must be a JSON object");
  // Every field's type is checked before it is read: nlohmann's value()/get() would throw type_error, which
  // names neither the file nor the field.
  if (!j.contains("format") || !j["format"].is_string() || j["format"].get<std::string>() != "tickrt-features/1")
    fail(source, "field 'format' must be \"tickrt-features/1\"");
  FeatureSpec s;
  if (!j.contains("features") || !j["features"].is_array() || j["features"].empty())
    fail(source, "field 'features' must be a non-empty list");
  for (size_t i = 0; i < j["features"].size(); ++i) {
    const auto& f = j["features"][i];
    const std::string where = fmt::format("features[{}]", i);
    if (!f.is_object() || !f.contains("name") || !f["name"].is_string())
      fail(source, fmt::format("field '{}.name' must be a string", where));
    FeatureNorm n;
    n.name = f["name"].get<std::string>();
    auto it = std::find_if(kFeatures.begin(), kFeatures.end(), [&](const FeatureInfo& k) { return k.name == n.name; });
    if (it == kFeatures.end()) fail(source, fmt::format("field '{}.name': unknown feature '{}'", where, n.name));
    n.index = static_cast<int>(it - kFeatures.begin());
    n.mean = finite_number(f, "mean", 0.0f, source, where);
    n.std = finite_number(f, "std", 1.0f, source, where);
    n.clip = finite_number(f, "clip", 0.0f, source, where);
    if (!(n.std > 0)) fail(source, fmt::format("field '{}.std' must be positive", where));
    if (n.clip < 0) fail(source, fmt::format("field '{}.clip' must be >= 0", where));
    s.features.push_back(n);
  }
  if (!j.contains("outputs") || !j["outputs"].is_array() || j["outputs"].empty())
    fail(source, "field 'outputs' must be a non-empty list");
  for (size_t i = 0; i < j["outputs"].size(); ++i) {
    const auto& o = j["outputs"][i];
    const std::string where = fmt::format("outputs[{}]", i);
    if (!o.is_object() || !o.contains("name") || !o["name"].is_string())
      fail(source, fmt::format("field '{}.name' must be a string", where));
    OutputSpec out;
    out.name = o["name"].get<std::string>();
    if (!o.contains("horizon") || !o["horizon"].is_number() || !(o["horizon"].get<double>() > 0))
      fail(source, fmt::format("field '{}.horizon' must be a positive number", where));
    out.horizon = o["horizon"].get<double>();
    if (o.contains("units") && !o["units"].is_string())
      fail(source, fmt::format("field '{}.units' must be \"ticks\" or \"seconds\"", where));
    const std::string units = o.value("units", std::string("ticks"));
    if (units == "ticks") {
      out.units = HorizonUnits::ticks;
      if (out.horizon != std::floor(out.horizon))
        fail(source, fmt::format("field '{}.horizon' must be a whole number of ticks", where));
    } else if (units == "seconds") {
      out.units = HorizonUnits::seconds;
    } else {
      fail(source, fmt::format("field '{}.units' must be \"ticks\" or \"seconds\", got \"{}\"", where, units));
    }
    s.outputs.push_back(out);
  }
  return s;
}

FeatureSpec FeatureSpec::load(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open features file", file.string()));
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("{}: invalid JSON: {}", file.string(), e.what()));
  }
  return from_json(j, file.string());
}

nlohmann::json FeatureSpec::to_json() const {
  nlohmann::json j;
  j["format"] = "tickrt-features/1";
  for (const auto& f : features)
    j["features"].push_back({{"name", f.name}, {"mean", f.mean}, {"std", f.std}, {"clip", f.clip}});
  for (const auto& o : outputs)
    j["outputs"].push_back(
        {{"name", o.name}, {"horizon", o.horizon}, {"units", o.units == HorizonUnits::ticks ? "ticks" : "seconds"}});
  return j;
}

void FeatureSpec::save(const std::filesystem::path& file) const {
  std::ofstream out(file);
  if (!out) throw std::runtime_error(fmt::format("{}: cannot write features file", file.string()));
  out << to_json().dump(2) << "\n";
}

}  // namespace tickrt
