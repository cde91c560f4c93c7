//! Errors for bad *calls* (never for bad answers, which are row statuses), and the per-item budget.

use std::fmt;
use std::time::{Duration, Instant};

/// A bad call into the library: the binding maps each variant to a named Python exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// Two inputs that must have one entry per row have different lengths.
    LengthMismatch { what: String, left: usize, right: usize },
    /// A step-splitting mode string that does not parse.
    InvalidMode(String),
    /// A token's character offsets do not fit its text.
    InvalidOffsets { row: usize, token: usize, start: i64, end: i64, text_chars: usize },
    /// Any other bad argument (names the argument).
    InvalidArgument(String),
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::LengthMismatch { what, left, right } => {
                write!(f, "length mismatch: {what} ({left} vs {right})")
            }
            VerifyError::InvalidMode(m) => write!(
                f,
                "invalid step mode {m:?}: expected one of \"fixed:N\" (N >= 1), \"newline\", \"double_newline\", \"balanced:MIN,MAX\" (1 <= MIN <= MAX)"
            ),
            VerifyError::InvalidOffsets { row, token, start, end, text_chars } => write!(
                f,
                "invalid offsets at row {row}, token {token}: ({start}, {end}) does not fit a text of {text_chars} characters (need 0 <= start <= end <= {text_chars})"
            ),
            VerifyError::InvalidArgument(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Per-item limits: a wall-clock deadline checked in the lexer, parser and evaluator.
#[derive(Clone, Debug)]
pub struct Limits {
    deadline: Option<Instant>,
}

impl Limits {
    pub fn with_budget(budget: Duration) -> Limits {
        Limits { deadline: Instant::now().checked_add(budget) }
    }
    pub const UNBOUNDED: Limits = Limits { deadline: None };
    pub fn unbounded() -> Limits {
        Limits { deadline: None }
    }
    #[inline]
    pub fn expired(&self) -> bool {
        match self.deadline {
            Some(d) => Instant::now() >= d,
            None => false,
        }
    }
}
