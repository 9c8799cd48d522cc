// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// FileBytes: the immutable bytes of a file, memory-mapped (POSIX) or read into a buffer.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lorakit/error.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define LORAKIT_HAS_MMAP 1
#endif

namespace lorakit::io {

/// How errors name a path: as given, or "<empty path>".
[[nodiscard]] inline std::string path_name(const std::filesystem::path& path) {
  return path.empty() ? std::string("<empty path>") : path.string();
}

/// Refuses an empty path before it is used (an empty directory would otherwise resolve its
/// files against the working directory).
/// @throws lorakit::Error (Errc::io) naming "<empty path>"
inline void require_path(const std::filesystem::path& path, std::string_view what) {
  if (path.empty()) {
    throw Error(Errc::io, ErrorContext{.file = path_name(path)},
                "no " + std::string(what) + " given");
  }
}

/// The bytes of a file (or of a buffer), immutable and shared: tensor views into them stay valid
/// while any shared_ptr to the FileBytes lives.
class FileBytes {
 public:
  /// Maps the file read-only; falls back to reading it when mapping is not possible.
  /// @throws lorakit::Error (Errc::io) naming the file when it cannot be opened or read.
  static std::shared_ptr<const FileBytes> map(const std::filesystem::path& path) {
    require_path(path, "file");
#ifdef LORAKIT_HAS_MMAP
    // O_NONBLOCK: opening a FIFO or a device must not wait; only regular files are read.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) throw_io(path, "cannot open");
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      const bool dir = S_ISDIR(st.st_mode);
      throw Error(Errc::io, ErrorContext{.file = path.string()},
                  dir ? "a directory, not a file" : "not a regular file");
    }
    const auto size = static_cast<std::size_t>(st.st_size);
    if (size > 0) {
      void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
      ::close(fd);
      if (p != MAP_FAILED) {
        auto fb = std::shared_ptr<FileBytes>(new FileBytes());
        fb->mapped_ = p;
        fb->view_ = {static_cast<const std::byte*>(p), size};
        fb->path_ = path.string();
        return fb;
      }
    } else {
      ::close(fd);
    }
#endif
    return read(path);
  }

  /// Reads the whole file into memory.
  /// @throws lorakit::Error (Errc::io)
  static std::shared_ptr<const FileBytes> read(const std::filesystem::path& path) {
    require_path(path, "file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw_io(path, "cannot open");
    std::vector<std::byte> data;
    char chunk[65536];
    while (in) {
      in.read(chunk, sizeof chunk);
      const auto got = static_cast<std::size_t>(in.gcount());
      const auto* first = reinterpret_cast<const std::byte*>(chunk);
      data.insert(data.end(), first, first + got);
    }
    if (in.bad()) throw_io(path, "read failed");
    return from_buffer(std::move(data), path.string());
  }

  /// Wraps bytes already in memory (a download, a fuzzer input); `name` is used in errors.
  static std::shared_ptr<const FileBytes> from_buffer(std::vector<std::byte> data,
                                                      std::string name) {
    auto fb = std::shared_ptr<FileBytes>(new FileBytes());
    fb->owned_ = std::move(data);
    fb->view_ = {fb->owned_.data(), fb->owned_.size()};
    fb->path_ = std::move(name);
    return fb;
  }

  FileBytes(const FileBytes&) = delete;
  FileBytes& operator=(const FileBytes&) = delete;
  ~FileBytes() {
#ifdef LORAKIT_HAS_MMAP
    if (mapped_ != nullptr) ::munmap(mapped_, view_.size());
#endif
  }

  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return view_; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] bool is_mapped() const noexcept { return mapped_ != nullptr; }

 private:
  FileBytes() = default;
  [[noreturn]] static void throw_io(const std::filesystem::path& path, const char* what) {
    throw Error(Errc::io, ErrorContext{.file = path.string()},
                std::string(what) + ": " + std::strerror(errno));
  }

  void* mapped_ = nullptr;
  std::vector<std::byte> owned_;
  std::span<const std::byte> view_;
  std::string path_;
};

/// Writes `bytes` to `path`, replacing it.
/// @throws lorakit::Error (Errc::io) naming the file when it cannot be written.
inline void write_file(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (out) {
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }
  if (!out) throw Error(Errc::io, ErrorContext{.file = path.string()}, "cannot write");
}

}  // namespace lorakit::io
