// Argument checks shared by the CPU and CUDA implementations of prl::segmented_future_kl.
// TORCH_CHECK_TYPE raises TypeError in Python, TORCH_CHECK_VALUE raises ValueError.
#pragma once
#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <sstream>
#include <string>

namespace prl {

inline void check_future_kl_inputs(const at::Tensor& values, const at::Tensor& step_ids, double gamma) {
  TORCH_CHECK_VALUE(values.dim() == 2, "segmented_future_kl: values must have shape [B, T] (2-D), got ",
                    values.sizes());
  TORCH_CHECK_VALUE(step_ids.dim() == 2, "segmented_future_kl: step_ids must have shape [B, T] (2-D), got ",
                    step_ids.sizes());
  TORCH_CHECK_VALUE(values.sizes() == step_ids.sizes(),
                    "segmented_future_kl: values and step_ids must have the same shape [B, T]; got values ",
                    values.sizes(), " and step_ids ", step_ids.sizes());
  const auto vt = values.scalar_type();
  TORCH_CHECK_TYPE(vt == at::kFloat || vt == at::kDouble || vt == at::kBFloat16 || vt == at::kHalf,
                   "segmented_future_kl: values must be float32, float64, bfloat16 or float16, got ", vt);
  const auto it = step_ids.scalar_type();
  TORCH_CHECK_TYPE(it == at::kInt || it == at::kLong, "segmented_future_kl: step_ids must be int32 or int64, got ",
                   it);
  TORCH_CHECK_VALUE(values.device() == step_ids.device(),
                    "segmented_future_kl: values and step_ids must be on the same device; got values on ",
                    values.device(), " and step_ids on ", step_ids.device());
  TORCH_CHECK_VALUE(gamma >= 0.0 && gamma <= 1.0, "segmented_future_kl: gamma must be in [0, 1], got ", gamma);
}

// The first problem in one row of step_ids (`row` points at its first element, `stride` apart): an id
// below -1, or an included id below an earlier included one. `r` is the row's index, for the message.
template <typename id_t>
std::string describe_bad_row(const id_t* row, int64_t stride, int64_t r, int64_t T) {
  int64_t run_max = -1;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t id = static_cast<int64_t>(row[t * stride]);
    std::ostringstream os;
    if (id < -1) {
      os << "segmented_future_kl: step_ids must be >= 0 for included tokens or -1 for excluded ones; row " << r
         << ", column " << t << " has " << id;
      return os.str();
    }
    if (id >= 0 && id < run_max) {
      os << "segmented_future_kl: step_ids must be non-decreasing over the included tokens of each row "
            "(steps are contiguous runs); row "
         << r << " decreases at column " << t << ": " << id << " after " << run_max;
      return os.str();
    }
    run_max = std::max(run_max, id);
  }
  return "segmented_future_kl: bad step_ids in row " + std::to_string(r);
}

// Device-agnostic check of the step-id order with tensor ops (for backends whose kernel cannot report
// a bad row, i.e. CUDA): ids < -1, or an included id below the running maximum of the ids before it
// (excluded tokens are -1 and never raise that maximum above an included id). One host sync.
inline void check_step_ids_order(const at::Tensor& step_ids) {
  if (step_ids.numel() == 0) return;
  const at::Tensor ids = step_ids.to(at::kLong);                       // [B, T]
  const at::Tensor run_max = std::get<0>(at::cummax(ids, /*dim=*/1));  // [B, T]
  const at::Tensor bad = ids.lt(-1).logical_or(ids.ge(0).logical_and(ids.lt(run_max))).any(1);  // [B]
  if (!bad.any().item<bool>()) return;
  const int64_t r = bad.nonzero().select(1, 0)[0].item<int64_t>();
  const at::Tensor row = ids.select(0, r).cpu().contiguous();  // [T]
  TORCH_CHECK_VALUE(false, describe_bad_row(row.const_data_ptr<int64_t>(), 1, r, row.size(0)));
}

}  // namespace prl
