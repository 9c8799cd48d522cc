// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Hostile GGUF files: every malformed case of malformed_gguf.hpp through the reader and the
// adapter loader, the exact key or tensor each error names, truncation at every byte, and no
// large allocation on the way to the error.
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "files.hpp"
#include "lorakit/io/gguf_adapter.hpp"
#include "lorakit/io/load.hpp"
#include "malformed_gguf.hpp"

using lorakit::Errc;
using lorakit::Error;
using namespace lorakit::test;
namespace io = lorakit::io;

// ---- the largest single allocation while a file is read ---------------------------------------
// Under AddressSanitizer its malloc hook sees every allocation (operator new included); in other
// builds this executable's operator new is replaced (libstdc++'s array, nothrow and sized forms
// go through it).

namespace {

std::atomic<bool> g_tracking{false};
std::atomic<std::size_t> g_largest{0};

void note_allocation(std::size_t n) noexcept {
  if (!g_tracking.load(std::memory_order_relaxed)) return;
  std::size_t seen = g_largest.load(std::memory_order_relaxed);
  while (n > seen && !g_largest.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
  }
}

}  // namespace

#if defined(__SANITIZE_ADDRESS__)
#define LORAKIT_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LORAKIT_TEST_ASAN 1
#endif
#endif

#ifdef LORAKIT_TEST_ASAN
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*,
                                                                             std::size_t),
                                                         void (*free_hook)(const volatile void*));
namespace {
void on_malloc(const volatile void*, std::size_t n) { note_allocation(n); }
void on_free(const volatile void*) {}
const int g_hooks_installed = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
}  // namespace
#else
void* operator new(std::size_t n) {
  note_allocation(n);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace {

/// Records the largest allocation made while it lives.
class LargestAllocation {
 public:
  LargestAllocation() {
    g_largest.store(0, std::memory_order_relaxed);
    g_tracking.store(true, std::memory_order_relaxed);
  }
  LargestAllocation(const LargestAllocation&) = delete;
  LargestAllocation& operator=(const LargestAllocation&) = delete;
  ~LargestAllocation() { g_tracking.store(false, std::memory_order_relaxed); }
  [[nodiscard]] std::size_t bytes() const noexcept {
    return g_largest.load(std::memory_order_relaxed);
  }
};

// Far above what the small valid file needs, far below what any count in the cases asks for.
constexpr std::size_t kAllocationCeiling = std::size_t{1} << 20;

std::shared_ptr<const io::FileBytes> file_of(const std::vector<std::byte>& bytes) {
  return io::FileBytes::from_buffer(bytes, kHostileGgufName);
}

// The error must have the case's code, contain its fragment, and name the file and exactly the
// key and tensor of the case (none where the case names none).
void check_error(const Error& e, const MalformedGgufCase& c) {
  const std::string what = e.what();
  INFO(what);
  CHECK(e.code() == c.code);
  CHECK_THAT(what, Catch::Matchers::Contains(c.fragment));
  CHECK(e.context().file == kHostileGgufName);
  CHECK_THAT(what, Catch::Matchers::Contains(kHostileGgufName));
  CHECK(e.context().key == c.key);
  if (c.tensor == kAnyTensor) {
    CHECK_FALSE(e.context().tensor.empty());
  } else {
    CHECK(e.context().tensor == c.tensor);
  }
  if (!c.key.empty()) CHECK_THAT(what, Catch::Matchers::Contains("key '" + c.key + "'"));
  if (!e.context().tensor.empty()) {
    CHECK_THAT(what, Catch::Matchers::Contains("tensor '" + e.context().tensor + "'"));
  }
}

enum class Stage { parse, load };

// Runs the reader or the loader on a case: it must throw a lorakit::Error (and nothing else)
// without allocating much.
void expect_refused(const MalformedGgufCase& c, Stage stage) {
  INFO((stage == Stage::parse ? "GgufFile::parse: " : "load_gguf: ")
       << c.what << " (" << c.bytes.size() << " bytes)");
  const auto bytes = file_of(c.bytes);
  io::LoadOptions options;
  options.limits = c.limits;
  io::GgufLoadOptions gguf;
  gguf.limits = c.gguf_limits;
  std::size_t largest = 0;
  try {
    const LargestAllocation tracker;
    if (stage == Stage::parse) {
      (void)io::GgufFile::parse(bytes, c.limits, c.gguf_limits);
    } else {
      (void)io::load_gguf(bytes, options, gguf);
    }
    largest = tracker.bytes();
    FAIL_CHECK("no error");
  } catch (const Error& e) {
    largest = g_largest.load(std::memory_order_relaxed);
    check_error(e, c);
  }
  INFO("largest allocation " << largest << " bytes");
  CHECK(largest < kAllocationCeiling);
}

}  // namespace

TEST_CASE("GGUF hostile: the allocation tracker sees allocations", "[io][gguf][hostile]") {
  std::size_t seen = 0;
  {
    const LargestAllocation tracker;
    std::vector<char> big(3 * kAllocationCeiling);
    big[big.size() - 1] = 1;
    seen = tracker.bytes();
  }
  CHECK(seen >= 3 * kAllocationCeiling);
}

TEST_CASE("GGUF hostile: the base adapter is valid and its raw parts give lorakit's bytes",
          "[io][gguf][hostile]") {
  const GgufSource source = gguf_adapter_source();
  GgufLayout layout;
  const std::vector<std::byte> bytes = source.serialize();
  // An encoder written apart from serialize_gguf gives the same bytes: the layout is right.
  CHECK(build_gguf(source.raw(), &layout) == bytes);
  REQUIRE(layout.end == bytes.size());

  const io::GgufFile file = io::GgufFile::parse(file_of(bytes));
  CHECK(file.version() == 3);
  CHECK(file.alignment() == 32);
  CHECK(file.data_offset() == layout.data_begin);
  CHECK(layout.data_begin > layout.infos_end);  // there is padding to cut
  REQUIRE(file.tensors().size() == 6);
  REQUIRE(file.metadata().size() == layout.kv.size());
  // The last tensor ends the file: cutting any byte leaves a tensor short.
  const io::GgufTensor& last = file.tensors().back();
  CHECK(file.data_offset() + last.offset + last.bytes.size() == bytes.size());
  CHECK(file.find("lorakit.test.names")->items.size() == 3);
  CHECK(file.find("lorakit.test.nested")->items[0].count == 2);
  CHECK(file.find("lorakit.test.u8s")->scalars.size() == 5);
  CHECK(file.integer("lorakit.test.i32") == -7);

  const auto adapter = io::load_gguf(file_of(bytes));
  CHECK(adapter->modules().size() == 3);
  CHECK(adapter->info().rank == 2);
  CHECK(adapter->find("model.layers.0.mlp.up_proj") != nullptr);

  // On disk, load_adapter recognises it and hands it to load_gguf.
  TempDir dir;
  write_bytes(dir / "hostile.gguf", bytes);
  CHECK(io::load_adapter(dir / "hostile.gguf")->modules().size() == 3);
}

TEST_CASE("GGUF hostile: every malformed file is refused, naming the file, key and tensor",
          "[io][gguf][hostile]") {
  const std::vector<MalformedGgufCase> cases = malformed_gguf();
  CHECK(cases.size() >= 150);
  int with_key = 0;
  int with_tensor = 0;
  for (const MalformedGgufCase& c : cases) {
    expect_refused(c, Stage::parse);
    expect_refused(c, Stage::load);
    with_key += c.key.empty() ? 0 : 1;
    with_tensor += c.tensor.empty() ? 0 : 1;
  }
  CHECK(with_key >= 40);
  CHECK(with_tensor >= 60);
}

TEST_CASE("GGUF hostile: adapter-level problems are refused by load_gguf, not by the reader",
          "[io][gguf][hostile]") {
  for (const MalformedGgufCase& c : malformed_gguf_adapters()) {
    INFO(c.what);
    CHECK_NOTHROW(io::GgufFile::parse(file_of(c.bytes)));
    expect_refused(c, Stage::load);
  }
}

TEST_CASE("GGUF hostile: the file cut at every byte is a lorakit::Error", "[io][gguf][hostile]") {
  const std::vector<std::byte> bytes = gguf_adapter_source().serialize();
  int refused = 0;
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const std::vector<std::byte> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    for (const Stage stage : {Stage::parse, Stage::load}) {
      try {
        if (stage == Stage::parse) {
          (void)io::GgufFile::parse(file_of(cut));
        } else {
          (void)io::load_gguf(file_of(cut));
        }
        FAIL_CHECK("no error for the first " << n << " of " << bytes.size() << " bytes");
      } catch (const Error& e) {
        if (e.code() != Errc::bad_format || e.context().file != kHostileGgufName) {
          FAIL_CHECK("cut at " << n << ": " << e.what());
        }
        ++refused;
      }
    }
  }
  CHECK(refused == static_cast<int>(2 * bytes.size()));
}

TEST_CASE("GGUF hostile: arrays nested exactly GgufLimits::max_nesting deep are read",
          "[io][gguf][hostile]") {
  for (const int limit : {1, 4, 16}) {
    CAPTURE(limit);
    // `depth` array headers, the innermost holding one UINT32.
    auto nested = [](int depth) {
      GgufSource s = gguf_adapter_source();
      RawGguf r = s.raw();
      RawKv& p = r.pair("lorakit.test.nested");
      p.value.clear();
      for (int i = 1; i < depth; ++i) {
        put_u32(p.value, static_cast<std::uint32_t>(io::GgufType::array));
        put_u64(p.value, 1);
      }
      put_u32(p.value, static_cast<std::uint32_t>(io::GgufType::u32));
      put_u64(p.value, 1);
      put_u32(p.value, 7);
      return build_gguf(r);
    };
    io::GgufLimits limits;
    limits.max_nesting = limit;
    const io::GgufFile file = io::GgufFile::parse(file_of(nested(limit)), {}, limits);
    const io::GgufValue* v = file.find("lorakit.test.nested");
    for (int i = 1; i < limit; ++i) v = &v->items.at(0);
    CHECK(v->element == io::GgufType::u32);
    CHECK(v->count == 1);
    CHECK_THROWS_MATCHES(io::GgufFile::parse(file_of(nested(limit + 1)), {}, limits), Error,
                         Catch::Matchers::Predicate<Error>([](const Error& e) {
                           return e.code() == Errc::limit_exceeded &&
                                  e.context().key == "lorakit.test.nested";
                         }));
  }
}

TEST_CASE("GGUF hostile: the padding after the last tensor is not required",
          "[io][gguf][hostile]") {
  // As llama.cpp's loader (which checks offset + size against the file), a file whose last
  // tensor is complete but whose trailing padding is cut still reads.
  GgufSource s = gguf_adapter_source();
  s.set_values("blk.9.attn_v.weight.lora_a", io::GgmlType::f32, {3, 1}, gguf_values(3, 1));
  const std::vector<std::byte> bytes = s.serialize();
  const io::GgufFile whole = io::GgufFile::parse(file_of(bytes));
  const io::GgufTensor& last = whole.tensors().back();
  const std::size_t end = whole.data_offset() + last.offset + last.bytes.size();
  REQUIRE(end < bytes.size());
  const std::vector<std::byte> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(end));
  CHECK(io::GgufFile::parse(file_of(cut)).tensors().size() == whole.tensors().size());
  const std::vector<std::byte> short_one(cut.begin(), cut.end() - 1);
  CHECK_THROWS_AS(io::GgufFile::parse(file_of(short_one)), Error);
}

TEST_CASE("GGUF hostile: load_adapter on a hostile file on disk names its path",
          "[io][gguf][hostile]") {
  TempDir dir;
  int files = 0;
  for (const MalformedGgufCase& c : malformed_gguf()) {
    const bool magic = c.bytes.size() >= 4 && c.bytes[0] == std::byte{'G'} &&
                       c.bytes[1] == std::byte{'G'} && c.bytes[2] == std::byte{'U'} &&
                       c.bytes[3] == std::byte{'F'};
    const bool default_limits =
        c.limits.max_tensors == io::ReadLimits{}.max_tensors &&
        c.limits.max_rank == io::ReadLimits{}.max_rank &&
        c.limits.max_dim == io::ReadLimits{}.max_dim &&
        c.gguf_limits.max_kv == io::GgufLimits{}.max_kv &&
        c.gguf_limits.max_string_bytes == io::GgufLimits{}.max_string_bytes &&
        c.gguf_limits.max_array == io::GgufLimits{}.max_array &&
        c.gguf_limits.max_metadata_bytes == io::GgufLimits{}.max_metadata_bytes &&
        c.gguf_limits.max_nesting == io::GgufLimits{}.max_nesting;
    // load_adapter recognises GGUF by its magic, and reads with the default limits.
    if (!magic || !default_limits || c.bytes.size() > 4096) continue;
    INFO(c.what);
    const auto path = dir / "case.gguf";
    write_bytes(path, c.bytes);
    try {
      (void)io::load_adapter(path);
      FAIL_CHECK("no error");
    } catch (const Error& e) {
      INFO(e.what());
      CHECK(e.code() == c.code);
      CHECK(e.context().file == path.string());
    }
    ++files;
  }
  CHECK(files >= 50);
}

// The reader accepts a pair with an empty dimension (it has no bytes); the assembly step refuses
// it, before a rank of up to 2^40 (ReadLimits::max_dim) could cost empty loops.
TEST_CASE("GGUF hostile: a LoRA pair with an empty dimension is refused", "[io][gguf][hostile]") {
  GgufSource s = gguf_adapter_source();
  const std::int64_t rank = std::int64_t{1} << 20;
  s.set_tensor(std::string(kGgufPairs[0]) + ".lora_a", io::GgmlType::f32, {0, rank}, {});
  s.set_tensor(std::string(kGgufPairs[0]) + ".lora_b", io::GgmlType::f32, {rank, 0}, {});
  CHECK_THROWS_MATCHES(io::load_gguf(file_of(s.serialize())), Error,
                       Catch::Matchers::Predicate<Error>([](const Error& e) {
                         return e.code() == Errc::shape_mismatch &&
                                e.context().tensor == std::string(kGgufPairs[0]) + ".lora_a";
                       }));
}
