// An uninitialised array on transparent huge pages where the kernel offers them.
//
// The queue-driven kernels (the propagation) advance the fronts of all objects together,
// so consecutive steps read pixels far apart; on 4 KiB pages most of those reads also miss the
// TLB, and a page walk costs about as much as the cache miss itself. On 2 MiB pages an image of
// a few megabytes needs a handful of TLB entries.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <new>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#endif

namespace pyhcs {

template <typename T>
class PageArray {
public:
    explicit PageArray(std::size_t n) {
        constexpr std::size_t kHuge = std::size_t{2} << 20;
        const std::size_t bytes =
            std::max<std::size_t>((n * sizeof(T) + kHuge - 1) / kHuge, 1) * kHuge;
        data_ = static_cast<T*>(std::aligned_alloc(kHuge, bytes));
        if (data_ == nullptr) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
        madvise(data_, bytes, MADV_HUGEPAGE);  // advice only: if refused, nothing changes
#endif
    }
    ~PageArray() { std::free(data_); }
    PageArray(const PageArray&) = delete;
    PageArray& operator=(const PageArray&) = delete;

    T* data() { return data_; }
    const T* data() const { return data_; }
    T& operator[](std::size_t i) { return data_[i]; }
    const T& operator[](std::size_t i) const { return data_[i]; }

private:
    T* data_;
};

}  // namespace pyhcs
