//! The thin pyo3 binding (`prl_verifier._prl_verifier`): converts types, releases the GIL around
//! the parallel work (in chunks, checking for Ctrl-C between them), and maps [`VerifyError`] once
//! to named Python exceptions. Bad answers are statuses, never exceptions.

use crate::error::VerifyError;
use crate::grade::{grade_many, GradeOptions, Verdict as RVerdict, DEFAULT_BUDGET_MS};
use crate::steps::{split_many, Mode};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::time::Duration;

create_exception!(prl_verifier, VerifierError, PyValueError, "Base class of prl_verifier's errors for bad calls.");
create_exception!(prl_verifier, LengthMismatchError, VerifierError, "Inputs that pair up row by row have different lengths.");
create_exception!(prl_verifier, InvalidModeError, VerifierError, "A step-splitting mode string that does not parse.");
create_exception!(prl_verifier, InvalidOffsetsError, VerifierError, "Token offsets that do not fit their text.");
create_exception!(prl_verifier, InvalidArgumentError, VerifierError, "Any other bad argument.");
create_exception!(prl_verifier, InvalidColumnError, VerifierError, "A missing or non-text column in an Arrow batch.");

impl From<VerifyError> for PyErr {
    fn from(e: VerifyError) -> PyErr {
        let msg = e.to_string();
        match e {
            VerifyError::LengthMismatch { .. } => LengthMismatchError::new_err(msg),
            VerifyError::InvalidMode(_) => InvalidModeError::new_err(msg),
            VerifyError::InvalidOffsets { .. } => InvalidOffsetsError::new_err(msg),
            VerifyError::InvalidArgument(_) => InvalidArgumentError::new_err(msg),
        }
    }
}

/// The verdict on one (prediction, gold) pair.
#[pyclass(frozen, module = "prl_verifier", name = "Verdict")]
pub struct Verdict {
    /// True when the prediction's answer is equivalent to the gold answer.
    #[pyo3(get)]
    correct: bool,
    /// One of "correct", "wrong", "no_answer", "unparsable", "timeout", "undecided".
    #[pyo3(get)]
    status: &'static str,
    /// The answer extracted from the prediction, or None.
    #[pyo3(get)]
    extracted: Option<String>,
    /// The gold answer after extraction and normalisation, or None.
    #[pyo3(get)]
    normalized_gold: Option<String>,
}

impl From<RVerdict> for Verdict {
    fn from(v: RVerdict) -> Self {
        Verdict {
            correct: v.correct(),
            status: v.status.as_str(),
            extracted: v.extracted,
            normalized_gold: v.normalized_gold,
        }
    }
}

#[pymethods]
impl Verdict {
    #[new]
    #[pyo3(signature = (correct, status, extracted=None, normalized_gold=None))]
    fn new(correct: bool, status: &str, extracted: Option<String>, normalized_gold: Option<String>) -> PyResult<Self> {
        let status = crate::grade::Status::ALL
            .iter()
            .map(|s| s.as_str())
            .find(|s| *s == status)
            .ok_or_else(|| InvalidArgumentError::new_err(format!("unknown status {status:?}")))?;
        Ok(Verdict { correct, status, extracted, normalized_gold })
    }
    fn __repr__(&self) -> String {
        let opt = |o: &Option<String>| match o {
            Some(s) => format!("{s:?}"),
            None => "None".to_string(),
        };
        format!(
            "Verdict(correct={}, status={:?}, extracted={}, normalized_gold={})",
            if self.correct { "True" } else { "False" },
            self.status,
            opt(&self.extracted),
            opt(&self.normalized_gold)
        )
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<Verdict>() {
            Ok(o) => {
                let o = o.get();
                o.correct == self.correct
                    && o.status == self.status
                    && o.extracted == self.extracted
                    && o.normalized_gold == self.normalized_gold
            }
            Err(_) => false,
        }
    }
    fn __reduce__(slf: &Bound<'_, Self>) -> PyResult<(Py<PyAny>, (bool, &'static str, Option<String>, Option<String>))> {
        let v = slf.get();
        let cls = slf.get_type().into_any().unbind();
        Ok((cls, (v.correct, v.status, v.extracted.clone(), v.normalized_gold.clone())))
    }
}

const CHUNK: usize = 8192;

fn options(budget_ms: f64, last_number: bool, strict: bool) -> PyResult<GradeOptions> {
    options_full(budget_ms, last_number, true, strict)
}

fn options_full(budget_ms: f64, last_number: bool, literal_shortcut: bool, strict: bool) -> PyResult<GradeOptions> {
    if !budget_ms.is_finite() || budget_ms <= 0.0 {
        return Err(InvalidArgumentError::new_err(format!("budget_ms must be a positive number, got {budget_ms}")));
    }
    Ok(GradeOptions { budget: Duration::from_secs_f64(budget_ms / 1000.0), last_number, literal_shortcut, strict })
}

/// Grade in chunks with the GIL released; Ctrl-C is honoured between chunks.
fn grade_chunked(
    py: Python<'_>,
    preds: &[String],
    golds: &[String],
    threads: Option<usize>,
    opts: &GradeOptions,
) -> PyResult<Vec<RVerdict>> {
    if preds.len() != golds.len() {
        return Err(VerifyError::LengthMismatch { what: "preds and golds".into(), left: preds.len(), right: golds.len() }.into());
    }
    crate::parallel::resolve_threads(threads)?;
    let mut out = Vec::with_capacity(preds.len());
    let mut start = 0;
    while start < preds.len() {
        let end = (start + CHUNK).min(preds.len());
        let part = py.detach(|| grade_many(&preds[start..end], &golds[start..end], opts, threads))?;
        out.extend(part);
        py.check_signals()?;
        start = end;
    }
    Ok(out)
}

/// grade(preds, golds, *, threads=None, budget_ms=50.0, last_number=True, strict=False) -> list[Verdict]
#[pyfunction]
#[pyo3(signature = (preds, golds, *, threads=None, budget_ms=50.0, last_number=true, strict=false))]
fn grade(
    py: Python<'_>,
    preds: Vec<String>,
    golds: Vec<String>,
    threads: Option<usize>,
    budget_ms: f64,
    last_number: bool,
    strict: bool,
) -> PyResult<Vec<Verdict>> {
    let opts = options(budget_ms, last_number, strict)?;
    let vs = grade_chunked(py, &preds, &golds, threads, &opts)?;
    Ok(vs.into_iter().map(Verdict::from).collect())
}

type Columns = (Vec<bool>, Vec<&'static str>, Vec<Option<String>>, Vec<Option<String>>);

/// Columnar grading for the Arrow path: (correct, status, extracted, normalized_gold) lists.
/// `semantic_only` skips the equal-strings shortcut (tests use it to exercise the parser).
#[pyfunction]
#[pyo3(signature = (preds, golds, *, threads=None, budget_ms=50.0, last_number=true, semantic_only=false, strict=false))]
#[allow(clippy::too_many_arguments)]
fn _grade_columns(
    py: Python<'_>,
    preds: Vec<String>,
    golds: Vec<String>,
    threads: Option<usize>,
    budget_ms: f64,
    last_number: bool,
    semantic_only: bool,
    strict: bool,
) -> PyResult<Columns> {
    let opts = options_full(budget_ms, last_number, !semantic_only, strict)?;
    let vs = grade_chunked(py, &preds, &golds, threads, &opts)?;
    let mut cols: Columns = (
        Vec::with_capacity(vs.len()),
        Vec::with_capacity(vs.len()),
        Vec::with_capacity(vs.len()),
        Vec::with_capacity(vs.len()),
    );
    for v in vs {
        cols.0.push(v.correct());
        cols.1.push(v.status.as_str());
        cols.2.push(v.extracted);
        cols.3.push(v.normalized_gold);
    }
    Ok(cols)
}

/// Step ids for many texts. `offsets`: little-endian int64 bytes of shape [total_tokens, 2];
/// `counts`: tokens per text. Returns little-endian int32 bytes of shape [total_tokens].
#[pyfunction]
#[pyo3(signature = (texts, offsets, counts, mode, *, threads=None))]
fn _split_steps_flat<'py>(
    py: Python<'py>,
    texts: Vec<String>,
    offsets: &[u8],
    counts: Vec<usize>,
    mode: &str,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mode = Mode::parse(mode)?;
    if offsets.len() % 16 != 0 {
        return Err(InvalidArgumentError::new_err("offsets buffer is not a whole number of (start, end) int64 pairs"));
    }
    let pairs: Vec<[i64; 2]> = offsets
        .chunks_exact(16)
        .map(|c| {
            [
                i64::from_le_bytes(c[0..8].try_into().unwrap()),
                i64::from_le_bytes(c[8..16].try_into().unwrap()),
            ]
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    let rows = py.detach(|| split_many(&refs, &pairs, &counts, mode, threads))?;
    let total: usize = rows.iter().map(|r| r.len()).sum();
    let mut buf = Vec::with_capacity(total * 4);
    for r in rows {
        for id in r {
            buf.extend_from_slice(&id.to_le_bytes());
        }
    }
    Ok(PyBytes::new(py, &buf))
}

/// Validate a mode string (raises InvalidModeError).
#[pyfunction]
fn _check_mode(mode: &str) -> PyResult<()> {
    Mode::parse(mode)?;
    Ok(())
}

/// The number of threads a call with `threads` would use.
#[pyfunction]
#[pyo3(signature = (threads=None))]
fn _resolve_threads(threads: Option<usize>) -> PyResult<usize> {
    Ok(crate::parallel::resolve_threads(threads)?)
}

#[pymodule]
fn _prl_verifier(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Verdict>()?;
    m.add_function(wrap_pyfunction!(grade, m)?)?;
    m.add_function(wrap_pyfunction!(_grade_columns, m)?)?;
    m.add_function(wrap_pyfunction!(_split_steps_flat, m)?)?;
    m.add_function(wrap_pyfunction!(_check_mode, m)?)?;
    m.add_function(wrap_pyfunction!(_resolve_threads, m)?)?;
    m.add("VerifierError", py.get_type::<VerifierError>())?;
    m.add("LengthMismatchError", py.get_type::<LengthMismatchError>())?;
    m.add("InvalidModeError", py.get_type::<InvalidModeError>())?;
    m.add("InvalidOffsetsError", py.get_type::<InvalidOffsetsError>())?;
    m.add("InvalidArgumentError", py.get_type::<InvalidArgumentError>())?;
    m.add("InvalidColumnError", py.get_type::<InvalidColumnError>())?;
    m.add("DEFAULT_BUDGET_MS", DEFAULT_BUDGET_MS as f64)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
