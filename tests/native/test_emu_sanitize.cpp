// test_emu_sanitize.cpp — kernels whose bugs the sanitizer builds must report through the emulation.
//   racy  : a block reduction missing its first __syncthreads -> TSan "data race" (GK_SANITIZE=thread)
//   clean : the same reduction with the barrier              -> no report at all
//   oob   : a shared-memory write one past the end           -> ASan "heap-buffer-overflow"
//   inter : two blocks write the same global word unsynchronised -> TSan "data race"
#include "emu_test_util.h"

namespace {

template <bool kRacy>
__global__ void k_reduce(const float* in, float* out) {
    EMU_SHARED(float, s, 64);
    unsigned t = threadIdx.x;
    s[t] = in[blockIdx.x * blockDim.x + t];
    if (!kRacy) __syncthreads();
    for (unsigned stride = blockDim.x / 2; stride > 0; stride >>= 1) {
        if (t < stride) s[t] += s[t + stride];
        __syncthreads();
    }
    if (t == 0) out[blockIdx.x] = s[0];
}

__global__ void k_oob(int* out) {
    EMU_SHARED(int, s, 64);
    s[threadIdx.x + 1] = static_cast<int>(threadIdx.x);  // thread 63 writes s[64]
    __syncthreads();
    out[threadIdx.x] = s[threadIdx.x];
}

__global__ void k_inter_block(int* word) {
    if (threadIdx.x == 0) *word = static_cast<int>(blockIdx.x);  // no atomics, no ordering between blocks
}

}  // namespace

int main(int argc, char** argv) {
    const char* mode = argc > 1 ? argv[1] : "clean";
    std::vector<float> in(4 * 64, 1.0f), out(4, 0.0f);
    cudaError_t e = cudaSuccess;
    if (!std::strcmp(mode, "racy")) {
        e = gk_emu::launch(k_reduce<true>, 4, 64, 0, nullptr, in.data(), out.data());
    } else if (!std::strcmp(mode, "clean")) {
        for (int i = 0; i < 3 && e == cudaSuccess; ++i) e = gk_emu::launch(k_reduce<false>, 4, 64, 0, nullptr, in.data(), out.data());
        for (float v : out)
            if (v != 64.0f) {
                std::printf("clean reduction gave %g, expected 64\n", v);
                return 1;
            }
    } else if (!std::strcmp(mode, "oob")) {
        std::vector<int> o(64);
        e = gk_emu::launch(k_oob, 1, 64, 0, nullptr, o.data());
    } else if (!std::strcmp(mode, "inter")) {
        int word = -1;
        for (int i = 0; i < 20; ++i) e = gk_emu::launch(k_inter_block, 64, 32, 0, nullptr, &word);
    } else {
        std::printf("unknown mode %s\n", mode);
        return 2;
    }
    std::printf("mode %s: launch returned %s %s\n", mode, cudaGetErrorName(e), gk_emu::last_error_detail());
    return e == cudaSuccess ? 0 : 1;
}
