//! prl's answer verifier and step splitter.
//!
//! The logic lives in plain Rust modules (no pyo3): [`extract`] finds the answer in a generation,
//! [`lex`] / [`parse`] turn it into an [`parse::Answer`], [`equiv`] decides equivalence, [`grade`]
//! ties them together with a per-item budget, [`steps`] splits responses into steps, and
//! [`parallel`] runs batches on rayon pools. `python` (feature `python`) is the thin pyo3 binding.

pub mod ball;
pub mod equiv;
pub mod error;
pub mod extract;
pub mod grade;
pub mod lex;
pub mod num;
pub mod parallel;
pub mod parse;
pub mod steps;

#[cfg(feature = "python")]
mod python;

pub use error::VerifyError;
pub use grade::{grade_many, grade_one, GradeOptions, Status, Verdict};
pub use steps::{split_many, split_one, Mode};
