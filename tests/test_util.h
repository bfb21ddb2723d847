// Small helpers shared by the tests: scratch directories, running the tickrt binary and the Python oracle.
#pragma once
#include <fmt/core.h>
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace tickrt::test {

// A fresh directory under the system temp dir, removed when the object goes out of scope.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / fmt::format("tickrt-test-{}-{:x}", ::getpid(), rd());
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs a shell command, capturing stdout+stderr.
inline CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + cmd);
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// The built tickrt binary (CMake passes its path).
inline std::string tickrt_binary() { return TICKRT_BINARY; }

// Starts `tickrt ARGS...` as a child process with its stderr appended to `log` (the caller waits or kills it).
// Returns the pid, or -1 when fork failed. For tests that need a real process to kill or signal.
inline pid_t spawn_tickrt(const std::vector<std::string>& args, const std::string& log) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd >= 0) dup2(fd, 2);
  std::vector<char*> argv;
  const std::string bin = tickrt_binary();
  argv.push_back(const_cast<char*>(bin.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(bin.c_str(), argv.data());
  _exit(127);
}
inline std::string python() { return TICKRT_PYTHON; }
inline std::string source_dir() { return TICKRT_SOURCE_DIR; }
inline std::string shared_data(const std::string& file) { return std::string(TICKRT_SHARED_DATA) + "/" + file; }

// A unique ipc endpoint path for this process and test.
inline std::string ipc_endpoint(const std::string& tag) {
  return fmt::format("ipc:///tmp/tickrt-test-{}-{}", ::getpid(), tag);
}

}  // namespace tickrt::test
