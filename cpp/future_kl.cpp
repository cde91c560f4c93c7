// prl::segmented_future_kl: schema, CPU kernel, and the `prl._C` Python module stub.
//
//   out[r, t] = S at the last included token of t's step            (next_step = false, "step_end")
//             = S at the first included token after t's step (or 0)  (next_step = true)
//   S_t = v_t + gamma * S_{next included token after t};  step id -1 = excluded token (output 0).
// Semantics, worked example and the pure-PyTorch twins: python/prl/algos/future_kl.py.
// The CUDA kernel lives in cpp/cuda/future_kl.cu (TORCH_LIBRARY_IMPL(prl, CUDA, m)).
#include <Python.h>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <sstream>
#include <type_traits>

#include "future_kl_checks.h"
#include "future_kl_scan.h"

// `import prl._C` only has to load this library (which runs the TORCH_LIBRARY registrations);
// the module itself is empty.
extern "C" {
PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {
      PyModuleDef_HEAD_INIT,
      "_C",  // name
      "prl compiled ops: torch.ops.prl.segmented_future_kl (CPU, and CUDA when built)",
      -1,  // size
      nullptr,
  };
  return PyModule_Create(&module_def);
}
}

namespace prl {
namespace {

// One reverse pass per row, rows in parallel. Accumulates in double; any strides.
template <typename scalar_t, typename id_t, typename out_t>
void future_kl_cpu_kernel(const scalar_t* v, int64_t vs0, int64_t vs1, const id_t* ids, int64_t is0, int64_t is1,
                          out_t* out, int64_t B, int64_t T, bool next_step, double gamma) {
  std::atomic<int64_t> first_bad{B};
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(T, 1));
  at::parallel_for(0, B, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const scalar_t* vr = v + r * vs0;
      const id_t* ir = ids + r * is0;
      out_t* o = out + r * T;
      double C = 0.0, E = 0.0, A = 0.0;  // see future_kl_scan.h for the state
      int64_t cur = -1;
      bool bad = false;
      for (int64_t t = T - 1; t >= 0; --t) {
        const int64_t id = static_cast<int64_t>(ir[t * is1]);
        if (id < 0) {
          if (id != -1) { bad = true; break; }
          o[t] = out_t(0);
          continue;
        }
        const double S = static_cast<double>(vr[t * vs1]) + gamma * C;
        if (id != cur) {
          if (cur >= 0 && id > cur) { bad = true; break; }  // ids must not decrease left to right
          A = C;
          E = S;
          cur = id;
        }
        C = S;
        o[t] = static_cast<out_t>(next_step ? A : E);
      }
      if (bad) {
        int64_t prev = first_bad.load();
        while (r < prev && !first_bad.compare_exchange_weak(prev, r)) {
        }
      }
    }
  });
  const int64_t r = first_bad.load();
  if (r < B) TORCH_CHECK_VALUE(false, describe_bad_row(ids + r * is0, is1, r, T));
}

template <typename F>
void dispatch_ids(const at::Tensor& step_ids, F&& f) {
  if (step_ids.scalar_type() == at::kInt) {
    f(static_cast<const int32_t*>(step_ids.const_data_ptr()));
  } else {
    f(static_cast<const int64_t*>(step_ids.const_data_ptr()));
  }
}

at::Tensor segmented_future_kl_cpu(const at::Tensor& values, const at::Tensor& step_ids, bool next_step,
                                   double gamma) {
  check_future_kl_inputs(values, step_ids, gamma);
  TORCH_CHECK_VALUE(values.device().is_cpu(), "segmented_future_kl (CPU kernel): values must be on the CPU, got ",
                    values.device());
  const int64_t B = values.size(0), T = values.size(1);
  const auto out_dtype = values.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor out = at::empty({B, T}, values.options().dtype(out_dtype));  // [B, T] contiguous
  if (B == 0 || T == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, values.scalar_type(), "segmented_future_kl_cpu", [&] {
    using out_t = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;
    dispatch_ids(step_ids, [&](auto* ids) {
      future_kl_cpu_kernel<scalar_t>(values.const_data_ptr<scalar_t>(), values.stride(0), values.stride(1), ids,
                                     step_ids.stride(0), step_ids.stride(1), out.data_ptr<out_t>(), B, T, next_step,
                                     gamma);
    });
  });
  return out;
}

// CPU emulation of the CUDA kernel's decomposition (test only): tiles of `threads * items` tokens
// walked right to left with a carried State; inside a tile, thread j owns chunk (threads-1-j), builds
// its chunk's Summary, an exclusive scan over threads (in thread order = right to left, identity
// first) gives each thread the Summary of everything right of its chunk in the tile, and each thread
// re-walks its chunk from apply(prefix, carry). Same accumulation type as the CUDA kernel (float
// unless values are float64), so it checks the algebra of future_kl_scan.h on any machine.
template <typename scalar_t, typename id_t, typename acc_t>
void future_kl_blocked_kernel(const scalar_t* v, int64_t vs0, int64_t vs1, const id_t* ids, int64_t is0,
                              int64_t is1, acc_t* out, int64_t B, int64_t T, bool next_step, acc_t gamma,
                              int64_t threads, int64_t items) {
  const int64_t tile = threads * items;
  std::vector<FklSummary<acc_t>> sums(threads), prefix(threads);
  for (int64_t r = 0; r < B; ++r) {
    auto load_v = [&](int64_t t) -> acc_t { return static_cast<acc_t>(v[r * vs0 + t * vs1]); };
    auto load_id = [&](int64_t t) -> int64_t { return t < T ? static_cast<int64_t>(ids[r * is0 + t * is1]) : -1; };
    FklState<acc_t> carry = fkl_empty_state<acc_t>();
    const int64_t ntiles = (T + tile - 1) / tile;
    for (int64_t k = ntiles - 1; k >= 0; --k) {
      const int64_t base = k * tile;
      for (int64_t j = 0; j < threads; ++j) {
        const int64_t c0 = base + (threads - 1 - j) * items;
        FklSummary<acc_t> s = fkl_identity<acc_t>();
        for (int64_t i = items - 1; i >= 0; --i) {
          const int64_t t = c0 + i, id = load_id(t);
          s = fkl_combine(fkl_element<acc_t>(id >= 0 ? load_v(t) : acc_t(0), id, gamma), s);
        }
        sums[j] = s;
      }
      FklSummary<acc_t> agg = fkl_identity<acc_t>();
      for (int64_t j = 0; j < threads; ++j) {  // exclusive scan, op(prefix, next) = next after prefix
        prefix[j] = agg;
        agg = fkl_combine(sums[j], agg);
      }
      for (int64_t j = 0; j < threads; ++j) {
        const int64_t c0 = base + (threads - 1 - j) * items;
        FklState<acc_t> x = fkl_apply(prefix[j], carry);
        for (int64_t i = items - 1; i >= 0; --i) {
          const int64_t t = c0 + i, id = load_id(t);
          if (t >= T) continue;
          if (id < 0) {
            out[r * T + t] = acc_t(0);
            continue;
          }
          x = fkl_apply(fkl_element<acc_t>(load_v(t), id, gamma), x);
          out[r * T + t] = next_step ? x.A : x.E;
        }
      }
      carry = fkl_apply(agg, carry);
    }
  }
}

at::Tensor segmented_future_kl_blocked_cpu(const at::Tensor& values, const at::Tensor& step_ids, bool next_step,
                                           double gamma, int64_t threads, int64_t items) {
  check_future_kl_inputs(values, step_ids, gamma);
  check_step_ids_order(step_ids);  // as the CUDA entry does (this op emulates the CUDA kernel)
  TORCH_CHECK_VALUE(threads >= 1 && items >= 1, "_segmented_future_kl_blocked: threads and items must be >= 1");
  const int64_t B = values.size(0), T = values.size(1);
  const auto out_dtype = values.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor out = at::empty({B, T}, values.options().dtype(out_dtype));
  if (B == 0 || T == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, values.scalar_type(), "segmented_future_kl_blocked", [&] {
    using acc_t = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;
    dispatch_ids(step_ids, [&](auto* ids) {
      future_kl_blocked_kernel<scalar_t>(values.const_data_ptr<scalar_t>(), values.stride(0), values.stride(1), ids,
                                         step_ids.stride(0), step_ids.stride(1), out.data_ptr<acc_t>(), B, T,
                                         next_step, static_cast<acc_t>(gamma), threads, items);
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY(prl, m) {
  // the fake (meta) kernel for torch.compile lives in prl.ops (register_fake); point torch at it
  m.set_python_module("prl.ops");
  m.def("segmented_future_kl(Tensor values, Tensor step_ids, bool next_step, float gamma) -> Tensor");
  // test-only: the CUDA kernel's blocked algorithm, run on the CPU
  m.def("_segmented_future_kl_blocked(Tensor values, Tensor step_ids, bool next_step, float gamma, int threads, "
        "int items) -> Tensor");
}

TORCH_LIBRARY_IMPL(prl, CPU, m) {
  m.impl("segmented_future_kl", &segmented_future_kl_cpu);
  m.impl("_segmented_future_kl_blocked", &segmented_future_kl_blocked_cpu);
}

}  // namespace prl
