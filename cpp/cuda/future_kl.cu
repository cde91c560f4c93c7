// CUDA kernel of prl::segmented_future_kl (schema and CPU kernel: cpp/future_kl.cpp; semantics:
// python/prl/algos/future_kl.py).
//
// Segmented reverse scan, one block per row (grid-stride over rows). A row is cut into tiles of
// kThreads * kItems tokens, walked right to left with a carried FklState (cpp/future_kl_scan.h):
//   1. coalesced load of the tile into shared memory (excluded tokens and positions past T -> id -1),
//   2. thread j folds its chunk (tile chunk kThreads-1-j, so thread order = right to left) into a
//      FklSummary,
//   3. cub::BlockScan exclusive scan of the summaries (identity first) gives each thread the effect
//      of everything right of its chunk in the tile; apply it to the carried state,
//   4. each thread re-walks its chunk (the sequential CPU algorithm), outputs go back to shared
//      memory and out with a coalesced store; carry = apply(tile aggregate, carry).
// Accumulates in float (double for float64 values). The same decomposition runs on the CPU as
// prl::_segmented_future_kl_blocked, which the tests check against the Python loop oracle.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cub/block/block_scan.cuh>

#include <algorithm>
#include <type_traits>

#include "future_kl_checks.h"
#include "future_kl_scan.h"

namespace prl {
namespace {

constexpr int kThreads = 128;
constexpr int kItems = 8;
constexpr int kTile = kThreads * kItems;
constexpr int kSmem = kTile + kThreads;  // one pad slot per chunk: fewer bank conflicts

__device__ __forceinline__ int smem_index(int i) { return i + i / kItems; }

// cub calls op(earlier, later); earlier = further right here, so "later after earlier".
template <typename acc_t>
struct CombineRightToLeft {
  __device__ __forceinline__ FklSummary<acc_t> operator()(const FklSummary<acc_t>& right,
                                                          const FklSummary<acc_t>& left) const {
    return fkl_combine(left, right);
  }
};

template <typename scalar_t, typename id_t, typename acc_t>
__global__ void __launch_bounds__(kThreads)
    future_kl_cuda_kernel(const scalar_t* __restrict__ v, int64_t vs0, int64_t vs1, const id_t* __restrict__ ids,
                          int64_t is0, int64_t is1, acc_t* __restrict__ out, int64_t B, int64_t T, bool next_step,
                          acc_t gamma) {
  using BlockScan = cub::BlockScan<FklSummary<acc_t>, kThreads>;
  __shared__ typename BlockScan::TempStorage scan_tmp;
  __shared__ acc_t s_v[kSmem];     // [tile] values (0 where excluded), then outputs
  __shared__ int64_t s_id[kSmem];  // [tile] step ids (-1 where excluded or past T)

  const int tid = threadIdx.x;
  const int c0 = (kThreads - 1 - tid) * kItems;  // this thread's chunk in the tile
  const int64_t ntiles = (T + kTile - 1) / kTile;
  for (int64_t r = blockIdx.x; r < B; r += gridDim.x) {
    const scalar_t* vr = v + r * vs0;
    const id_t* ir = ids + r * is0;
    acc_t* orow = out + r * T;
    FklState<acc_t> carry = fkl_empty_state<acc_t>();
    for (int64_t k = ntiles - 1; k >= 0; --k) {
      const int64_t base = k * kTile;
      for (int i = tid; i < kTile; i += kThreads) {  // 1. coalesced load
        const int64_t t = base + i;
        int64_t id = -1;
        acc_t x = acc_t(0);
        if (t < T) {
          id = static_cast<int64_t>(ir[t * is1]);
          if (id >= 0) x = static_cast<acc_t>(vr[t * vs1]);
        }
        s_v[smem_index(i)] = x;
        s_id[smem_index(i)] = id;
      }
      __syncthreads();

      FklSummary<acc_t> s = fkl_identity<acc_t>();  // 2. fold my chunk, right to left
#pragma unroll
      for (int i = kItems - 1; i >= 0; --i) {
        const int j = smem_index(c0 + i);
        s = fkl_combine(fkl_element<acc_t>(s_v[j], s_id[j], gamma), s);
      }
      FklSummary<acc_t> prefix, agg;  // 3. block scan over chunks, right to left
      BlockScan(scan_tmp).ExclusiveScan(s, prefix, fkl_identity<acc_t>(), CombineRightToLeft<acc_t>(), agg);

      FklState<acc_t> x = fkl_apply(prefix, carry);  // 4. re-walk my chunk
#pragma unroll
      for (int i = kItems - 1; i >= 0; --i) {
        const int j = smem_index(c0 + i);
        const int64_t id = s_id[j];
        if (id < 0) {
          s_v[j] = acc_t(0);
        } else {
          x = fkl_apply(fkl_element<acc_t>(s_v[j], id, gamma), x);
          s_v[j] = next_step ? x.A : x.E;
        }
      }
      carry = fkl_apply(agg, carry);
      __syncthreads();
      for (int i = tid; i < kTile; i += kThreads) {  // coalesced store
        const int64_t t = base + i;
        if (t < T) orow[t] = s_v[smem_index(i)];
      }
      __syncthreads();  // shared memory is reused by the next tile
    }
  }
}

at::Tensor segmented_future_kl_cuda(const at::Tensor& values, const at::Tensor& step_ids, bool next_step,
                                    double gamma) {
  check_future_kl_inputs(values, step_ids, gamma);
  check_step_ids_order(step_ids);  // the scan kernel cannot report a bad row itself
  TORCH_CHECK_VALUE(values.is_cuda(), "segmented_future_kl (CUDA kernel): values must be a CUDA tensor, got ",
                    values.device());
  const c10::cuda::CUDAGuard guard(values.device());
  const int64_t B = values.size(0), T = values.size(1);
  const auto out_dtype = values.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor out = at::empty({B, T}, values.options().dtype(out_dtype));  // [B, T] contiguous
  if (B == 0 || T == 0) return out;
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(B, 1 << 20));
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, values.scalar_type(), "segmented_future_kl_cuda", [&] {
    using acc_t = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;
    if (step_ids.scalar_type() == at::kInt) {
      future_kl_cuda_kernel<scalar_t, int32_t, acc_t><<<grid, kThreads, 0, stream>>>(
          values.const_data_ptr<scalar_t>(), values.stride(0), values.stride(1), step_ids.const_data_ptr<int32_t>(),
          step_ids.stride(0), step_ids.stride(1), out.data_ptr<acc_t>(), B, T, next_step, static_cast<acc_t>(gamma));
    } else {
      future_kl_cuda_kernel<scalar_t, int64_t, acc_t><<<grid, kThreads, 0, stream>>>(
          values.const_data_ptr<scalar_t>(), values.stride(0), values.stride(1), step_ids.const_data_ptr<int64_t>(),
          step_ids.stride(0), step_ids.stride(1), out.data_ptr<acc_t>(), B, T, next_step, static_cast<acc_t>(gamma));
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(prl, CUDA, m) { m.impl("segmented_future_kl", &segmented_future_kl_cuda); }

}  // namespace prl
