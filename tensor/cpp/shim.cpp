// What neurozoo needs from libtorch that tch 0.24 does not bind: autocast for a chosen device
// and dtype (tch toggles CUDA autocast only, in its default fp16), and the caching allocator's
// peak statistics of an accelerator. Every entry point catches C++ exceptions and hands back a
// message instead (exceptions must not unwind into Rust); a null return means success.
#include <ATen/DeviceAccelerator.h>
#include <ATen/autocast_mode.h>

#include <cstdlib>
#include <cstring>
#include <exception>

namespace {
char* message(const char* what) {
  // malloc'd: the Rust side copies it and hands it back to nz_free.
  size_t n = std::strlen(what) + 1;
  char* out = static_cast<char*>(std::malloc(n));
  if (out != nullptr) std::memcpy(out, what, n);
  return out;
}
}  // namespace

#define NZ_GUARD(body)                               \
  try {                                              \
    body;                                            \
    return nullptr;                                  \
  } catch (const std::exception& e) {                \
    return message(e.what());                        \
  } catch (...) {                                    \
    return message("unknown C++ exception");         \
  }

extern "C" {

void nz_free(char* message) { std::free(message); }

// As `torch.autocast(device_type, dtype)` enters: remembers the previous state in the out
// parameters, switches autocast on for the device in `dtype` and deepens the nesting.
char* nz_autocast_enter(int device_type, int dtype, bool* was_enabled, int* was_dtype) {
  NZ_GUARD({
    auto device = static_cast<c10::DeviceType>(device_type);
    *was_enabled = at::autocast::is_autocast_enabled(device);
    *was_dtype = static_cast<int>(at::autocast::get_autocast_dtype(device));
    at::autocast::set_autocast_enabled(device, true);
    at::autocast::set_autocast_dtype(device, static_cast<c10::ScalarType>(dtype));
    at::autocast::increment_nesting();
  })
}

// As it exits: the outermost exit drops the cache of low-precision weight copies, then the
// previous state comes back.
char* nz_autocast_exit(int device_type, bool was_enabled, int was_dtype) {
  NZ_GUARD({
    auto device = static_cast<c10::DeviceType>(device_type);
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(device, was_enabled);
    at::autocast::set_autocast_dtype(device, static_cast<c10::ScalarType>(was_dtype));
  })
}

// Peak bytes allocated to tensors and reserved by the caching allocator on accelerator device
// `index` since the process started or the last reset (torch.cuda.max_memory_allocated /
// max_memory_reserved).
char* nz_accelerator_peak_bytes(int index, int64_t* allocated, int64_t* reserved) {
  NZ_GUARD({
    auto stats = at::accelerator::getDeviceStats(static_cast<c10::DeviceIndex>(index));
    constexpr auto all = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
    *allocated = stats.allocated_bytes[all].peak;
    *reserved = stats.reserved_bytes[all].peak;
  })
}

}  // extern "C"
