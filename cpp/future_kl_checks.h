// Argument checks shared by the CPU and CUDA implementations of prl::segmented_future_kl.
// TORCH_CHECK_TYPE raises TypeError in Python, TORCH_CHECK_VALUE raises ValueError.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

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

}  // namespace prl
