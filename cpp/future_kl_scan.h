// Segmented discounted reverse scan as a monoid: the algebra behind the CUDA kernel
// (cpp/cuda/future_kl.cu), shared with the CPU emulation of that kernel's blocked decomposition
// (prl::_segmented_future_kl_blocked in cpp/future_kl.cpp), so that the combine logic the GPU runs is
// tested on every machine against the Python loop oracle.
//
// Walking a row right to left, the sequential algorithm (the CPU kernel) keeps a State:
//   C      S at the first included token at or after the current position (0 past the end)
//   E      S at the last token of the current step          (the "step_end" output)
//   A      S at the first included token after that step    (the "next_step" output)
//   id     step id of the current step; valid: an included token was seen
// and for an included token (v, id):  S = v + gamma*C; if (!valid || id != cur) {A = C; E = S;} C = S.
//
// A Summary is the effect of a run of tokens on the State, as a function of the State at the run's
// right edge X:  C' = b + a*X.C;  id' = f_id (leftmost step);  and, unless the whole run lies in
// the step that continues from X (f_id == l_id == X.id), E' = eb + ea*X.C and A' = xb + xa*X.C
// (otherwise E, A pass through). combine(L, R) is "R first, then L" (L lies left of R); it is
// associative, with identity has == false.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define PRL_HD __host__ __device__ __forceinline__
#else
#define PRL_HD inline
#endif

namespace prl {

template <typename acc_t>
struct FklSummary {
  int64_t f_id;  // step id of the leftmost included token
  int64_t l_id;  // step id of the rightmost included token
  acc_t a, b;    // C' = b + a*C
  acc_t ea, eb;  // E' = eb + ea*C  (when the leftmost step does not continue past the right edge)
  acc_t xa, xb;  // A' = xb + xa*C
  bool has;      // the run contains an included token
};

template <typename acc_t>
struct FklState {
  acc_t C, E, A;
  int64_t id;
  bool valid;
};

template <typename acc_t>
PRL_HD FklSummary<acc_t> fkl_identity() {
  FklSummary<acc_t> s;
  s.f_id = s.l_id = -1;
  s.a = acc_t(1); s.b = acc_t(0);
  s.ea = acc_t(0); s.eb = acc_t(0);
  s.xa = acc_t(0); s.xb = acc_t(0);
  s.has = false;
  return s;
}

template <typename acc_t>
PRL_HD FklState<acc_t> fkl_empty_state() {
  FklState<acc_t> x;
  x.C = x.E = x.A = acc_t(0);
  x.id = -1;
  x.valid = false;
  return x;
}

// One token; id < 0 (excluded) gives the identity.
template <typename acc_t>
PRL_HD FklSummary<acc_t> fkl_element(acc_t v, int64_t id, acc_t gamma) {
  if (id < 0) return fkl_identity<acc_t>();
  FklSummary<acc_t> s;
  s.f_id = s.l_id = id;
  s.a = gamma; s.b = v;            // C' = v + gamma*C
  s.ea = gamma; s.eb = v;          // E' = S at this token
  s.xa = acc_t(1); s.xb = acc_t(0);  // A' = C
  s.has = true;
  return s;
}

// L after R (L lies to the left of R).
template <typename acc_t>
PRL_HD FklSummary<acc_t> fkl_combine(const FklSummary<acc_t>& L, const FklSummary<acc_t>& R) {
  if (!R.has) return L;
  if (!L.has) return R;
  FklSummary<acc_t> o;
  o.has = true;
  o.f_id = L.f_id;
  o.l_id = R.l_id;
  o.a = L.a * R.a;
  o.b = L.b + L.a * R.b;
  if (L.f_id == L.l_id && L.l_id == R.f_id) {
    // L lies inside R's leftmost step: that step's end is R's business
    o.ea = R.ea; o.eb = R.eb; o.xa = R.xa; o.xb = R.xb;
  } else {
    // L's leftmost step ends inside L: its E/A are affine in L's right-edge C = R.b + R.a*C
    o.ea = L.ea * R.a; o.eb = L.eb + L.ea * R.b;
    o.xa = L.xa * R.a; o.xb = L.xb + L.xa * R.b;
  }
  return o;
}

template <typename acc_t>
PRL_HD FklState<acc_t> fkl_apply(const FklSummary<acc_t>& s, const FklState<acc_t>& x) {
  if (!s.has) return x;
  FklState<acc_t> y;
  y.C = s.b + s.a * x.C;
  y.id = s.f_id;
  y.valid = true;
  if (s.f_id == s.l_id && x.valid && x.id == s.l_id) {
    y.E = x.E; y.A = x.A;
  } else {
    y.E = s.eb + s.ea * x.C;
    y.A = s.xb + s.xa * x.C;
  }
  return y;
}

}  // namespace prl
