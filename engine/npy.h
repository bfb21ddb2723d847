// Minimal NumPy .npy files (format versions 1.0-3.0): float32 matrices in and out for `tickrt infer`, parity
// tests and the trainer. Reads '<f4' (and '<f8', converted to float32) in C order; writes '<f4' and '<i8'.
// Errors name the file and what is wrong with it.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

namespace tickrt {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;  // row-major, product(shape) values
};

NpyArray read_npy_f32(const std::filesystem::path& file);
void write_npy_f32(const std::filesystem::path& file, const float* data, const std::vector<int64_t>& shape);
void write_npy_i64(const std::filesystem::path& file, const int64_t* data, const std::vector<int64_t>& shape);

}  // namespace tickrt
