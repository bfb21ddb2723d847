// A small reader and writer for the Hugging Face safetensors format (MODEL-SPEC §2):
//
//   [u64 little-endian N][N bytes of JSON header][data section]
//   header: {"__metadata__": {"k": "v", ...},            (optional, string -> string)
//            "<name>": {"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end]}, ...}
//   offsets are relative to the start of the data section; data is raw little-endian, row-major.
//
// The reader memory-maps the file read-only and validates the whole header on open: the header length against
// the file size, every entry's dtype, shape and offsets (begin <= end, inside the data section, no two tensors
// overlapping, end - begin == numel * dtype size). F32, F16 and BF16 are read (the latter two converted to
// float32 exactly); other dtypes are refused. Every error names the file and, where there is one, the tensor.
// The writer writes F32 with optional metadata. Setup code: allocates and throws std::runtime_error.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/model.h"

namespace tickrt::safetensors {

enum class Dtype { F32, F16, BF16 };
const char* to_string(Dtype d);
std::size_t dtype_size(Dtype d);

// IEEE 754 binary16 and bfloat16 bit patterns to float32 (exact: subnormals, infinities and NaN kept).
float half_to_float(uint16_t bits);
float bfloat16_to_float(uint16_t bits);

struct TensorEntry {
  std::string name;
  Dtype dtype = Dtype::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data section, [begin, end)
  uint64_t end = 0;
  int64_t numel() const;
};

// A validated, read-only memory-mapped safetensors file.
class File {
 public:
  explicit File(const std::filesystem::path& path);
  ~File();
  File(File&& other) noexcept;
  File& operator=(File&&) = delete;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // Entries in data-offset order.
  const std::vector<TensorEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The entry `name`, or nullptr.
  const TensorEntry* find(const std::string& name) const;
  // The entry's values converted to float32, row-major.
  std::vector<float> read_f32(const TensorEntry& e) const;

 private:
  std::filesystem::path path_;
  const std::byte* map_ = nullptr;  // the whole file, PROT_READ
  std::size_t size_ = 0;            // file size in bytes
  std::size_t data_start_ = 0;      // 8 + header length
  std::vector<TensorEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

// Writes `tensors` as F32 in the given order (names must be unique), with optional string metadata.
// Writes to "<path>.tmp" and renames, so a reader never sees a half-written file.
void write_f32(const std::filesystem::path& path, const std::vector<std::pair<std::string, const Tensor*>>& tensors,
               const std::map<std::string, std::string>& metadata = {});

}  // namespace tickrt::safetensors
