//! Grading one (prediction, gold) pair, and many in parallel.

use crate::equiv::{canon, mentions_pi, radians_to_degrees, scale_by, scale_percent, Comparer, Timeout};
use crate::error::{Limits, VerifyError};
use crate::extract::{after_answer_phrase, extract_gold, find_marked, last_number, math_in_final_sentence, Marked};
use crate::lex::{clean, lex};
use crate::parse::{reread_in_base, Answer, AnswerParser, ParseError, Parsed};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    Correct,
    Wrong,
    NoAnswer,
    Unparsable,
    Timeout,
    /// Equality could not be certified (values too large to compare exactly): not correct.
    Undecided,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Correct => "correct",
            Status::Wrong => "wrong",
            Status::NoAnswer => "no_answer",
            Status::Unparsable => "unparsable",
            Status::Timeout => "timeout",
            Status::Undecided => "undecided",
        }
    }
    pub const ALL: [Status; 6] =
        [Status::Correct, Status::Wrong, Status::NoAnswer, Status::Unparsable, Status::Timeout, Status::Undecided];
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub status: Status,
    /// The answer extracted from the prediction (before normalisation).
    pub extracted: Option<String>,
    /// The gold answer after extraction and normalisation.
    pub normalized_gold: Option<String>,
}

impl Verdict {
    pub fn correct(&self) -> bool {
        self.status == Status::Correct
    }
}

#[derive(Clone, Debug)]
pub struct GradeOptions {
    /// Wall-clock budget per item; over it the status is `timeout`.
    pub budget: Duration,
    /// Fall back to the last number of the prediction when nothing else is found.
    pub last_number: bool,
    /// Accept equal normalised strings without parsing (on by default; tests turn it off to
    /// exercise the parser and the equivalence on real data).
    pub literal_shortcut: bool,
    /// Only the explicit answer markers count (a complete `\boxed{}`, a "final answer" phrase,
    /// `####`); no fallback to math in the last sentence, a bare answer or the last number. For
    /// RL recipes whose prompt asks for a box.
    pub strict: bool,
}

impl Default for GradeOptions {
    fn default() -> Self {
        GradeOptions { budget: Duration::from_millis(DEFAULT_BUDGET_MS), last_number: true, literal_shortcut: true, strict: false }
    }
}

pub const DEFAULT_BUDGET_MS: u64 = 50;
/// A prediction without answer markers is taken whole when it is at most this long and parses.
pub const BARE_ANSWER_CHARS: usize = 200;

#[allow(clippy::large_enum_variant)] // short-lived, one per answer: boxing would only add an allocation
enum Prep {
    Ok(Parsed),
    Fail,
    Timeout,
}

fn prepare(s: &str, lim: &Limits) -> Prep {
    let toks = match lex(s, lim) {
        Ok(t) => t,
        Err(e) if e.0 == "timeout" => return Prep::Timeout,
        Err(_) => return Prep::Fail,
    };
    let mut p = AnswerParser::new(lim);
    match p.parse(toks) {
        Ok(mut parsed) => {
            parsed.ans = canon(parsed.ans);
            Prep::Ok(parsed)
        }
        Err(ParseError::Timeout) => Prep::Timeout,
        Err(ParseError::Syntax(_)) => Prep::Fail,
    }
}

/// Alphabetic runs of 2+ letters that are not LaTeX command names ("no idea" has 2).
fn prose_words(s: &str) -> usize {
    let b = s.as_bytes();
    let mut n = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_alphabetic() {
            let start = i;
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            let env = matches!(&s[start..i], "pmatrix" | "bmatrix" | "vmatrix" | "matrix" | "array" | "Bmatrix" | "smallmatrix");
            if i - start >= 2 && !(start > 0 && b[start - 1] == b'\\') && !env {
                n += 1;
            }
        } else {
            i += 1;
        }
    }
    n
}

/// Words that open a sentence before the answer inside a box: `\boxed{so x = \frac12}`.
const LEADING_WORDS: &[&str] = &[
    "so", "thus", "therefore", "hence", "then", "we", "get", "have", "obtain", "find", "the", "answer", "final", "is",
    "which", "gives", "it", "that", "this", "equals", "result", "solution", "value", "of", "and", "finally",
];

/// The answer without leading prose words (kept whole when nothing would be left).
fn strip_leading_words(s: &str) -> &str {
    let mut t = s.trim_start();
    loop {
        let n = t.bytes().take_while(|c| c.is_ascii_alphabetic()).count();
        if n == 0 {
            break;
        }
        let w = t[..n].to_ascii_lowercase();
        let after = &t[n..];
        let sep = after.starts_with(|c: char| c.is_whitespace() || c == ':' || c == ',');
        if !sep || !LEADING_WORDS.contains(&w.as_str()) {
            break;
        }
        let rest = after.trim_start_matches(|c: char| c.is_whitespace() || c == ':' || c == ',');
        if rest.is_empty() {
            break;
        }
        t = rest;
    }
    if t.is_empty() {
        s
    } else {
        t
    }
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A multiple-choice answer read from its (cleaned) string: a list of option letters (`C`, `(C)`,
/// `\textbf{(C)}`, `C)`, `\text{C, F, H}`, `(C) or (D)`), or one option marker followed by the
/// option's content (`(C) 12`, `C) 12`, `\text{(C) } 12`, `C: 12`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChoiceForm {
    /// The letters, sorted and deduplicated; `marked`: at least one letter had a parenthesis.
    Letters(Vec<char>, bool),
    /// One marked letter and some content after it.
    Marked(char),
}

const CHOICE_WRAPPERS: &[&str] =
    &["\\textbf", "\\textrm", "\\textit", "\\textsf", "\\texttt", "\\text", "\\mathrm", "\\mathbf", "\\mbox", "\\bf", "\\rm"];

/// The option letters of `s`, if `s` is written as a multiple-choice answer (see [`ChoiceForm`]).
pub fn choice_form(s: &str) -> Option<ChoiceForm> {
    if s.len() > 200 {
        return None;
    }
    let mut t = s.to_string();
    for w in CHOICE_WRAPPERS {
        t = t.replace(w, " ");
    }
    let t: String = t.chars().map(|c| if c == '{' || c == '}' { ' ' } else { c }).collect();
    let b: Vec<char> = t.chars().collect();
    let n = b.len();
    let skip_ws = |mut i: usize| {
        while i < n && b[i].is_whitespace() {
            i += 1;
        }
        i
    };
    let word_at = |i: usize, w: &str| -> bool {
        let wc: Vec<char> = w.chars().collect();
        i + wc.len() <= n
            && b[i..i + wc.len()].iter().zip(&wc).all(|(x, y)| x.to_ascii_lowercase() == *y)
            && (i + wc.len() == n || !b[i + wc.len()].is_alphanumeric())
    };
    // an option letter at i: `(L)`, `L)`, `L` alone; returns (letter, end, marked)
    let item_at = |i: usize| -> Option<(char, usize, bool)> {
        if i < n && b[i] == '(' {
            let j = skip_ws(i + 1);
            if j < n && b[j].is_ascii_uppercase() {
                let k = skip_ws(j + 1);
                if k < n && b[k] == ')' {
                    return Some((b[j], k + 1, true));
                }
            }
            return None;
        }
        if i < n && b[i].is_ascii_uppercase() && (i == 0 || !b[i - 1].is_alphanumeric()) {
            if i + 1 < n && b[i + 1] == ')' {
                return Some((b[i], i + 2, true));
            }
            if i + 1 == n || !(b[i + 1].is_alphanumeric() || "^_*=+-/'!<>.[".contains(b[i + 1])) || b[i + 1] == '.' && i + 2 == n {
                return Some((b[i], i + 1, false));
            }
        }
        None
    };
    let mut i = skip_ws(0);
    // leading words: "option C", "choice (C)", "answer: C"
    loop {
        let mut moved = false;
        for w in ["option", "choice", "answer", "is"] {
            if word_at(i, w) {
                i = skip_ws(i + w.len());
                if i < n && b[i] == ':' {
                    i = skip_ws(i + 1);
                }
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    let start = i;
    // the list form
    let mut letters = Vec::new();
    let mut marked = false;
    let mut ok = true;
    loop {
        match item_at(i) {
            Some((c, e, m)) => {
                letters.push(c);
                marked |= m;
                i = skip_ws(e);
            }
            None => {
                ok = false;
                break;
            }
        }
        if i >= n {
            break;
        }
        // separators
        let mut sep = false;
        loop {
            if i < n && matches!(b[i], ',' | ';' | '&' | '/' | '\\') {
                i = skip_ws(i + 1);
                sep = true;
            } else if word_at(i, "and") {
                i = skip_ws(i + 3);
                sep = true;
            } else if word_at(i, "or") {
                i = skip_ws(i + 2);
                sep = true;
            } else {
                break;
            }
        }
        let _ = sep;
        if i >= n {
            break;
        }
    }
    if ok && !letters.is_empty() {
        letters.sort_unstable();
        letters.dedup();
        return Some(ChoiceForm::Letters(letters, marked));
    }
    // one marker and content: `(C) 12`, `C) 12`, `C: 12`
    let (c, e) = match item_at(start) {
        Some((c, e, true)) => (c, e),
        // `C: 12`, `C. 12` (with a space: `A:B = 1` is a ratio)
        _ if start + 2 < n && b[start].is_ascii_uppercase() && matches!(b[start + 1], ':' | '.') && b[start + 2] == ' ' => {
            (b[start], start + 2)
        }
        _ => return None,
    };
    let rest = &b[e..];
    // a second marker in the rest is a hedge: `(C) 12 or (D) 13`
    for k in 0..rest.len() {
        let up = rest[k].is_ascii_uppercase();
        if up && k + 1 < rest.len() && rest[k + 1] == ')' && (k == 0 || !rest[k - 1].is_alphanumeric()) {
            return None;
        }
    }
    if rest.iter().all(|c| c.is_whitespace()) {
        return None;
    }
    Some(ChoiceForm::Marked(c))
}

/// The option letters of a gold answer, when it is a multiple-choice answer: one letter A-E
/// (`C`, `(C)`, `\text{(C)}`), any one marked letter, or a list of two or more letters
/// (`\text{C, F, H}`).
pub fn gold_choices(s: &str) -> Option<Vec<char>> {
    match choice_form(s)? {
        ChoiceForm::Letters(v, marked) if v.len() == 1 => (marked || ('A'..='E').contains(&v[0])).then_some(v),
        ChoiceForm::Letters(v, _) => Some(v),
        ChoiceForm::Marked(c) => Some(vec![c]),
    }
}

/// Whether a prediction names exactly the gold's options (a hedge such as `C, D`, `(C) or (D)`,
/// or anything that is not written as options, like `A = 5`, `B^2`, `E_2`, is not).
pub fn choice_matches(gold: &[char], pred: &str) -> bool {
    match choice_form(pred) {
        Some(ChoiceForm::Letters(v, _)) => v == gold,
        Some(ChoiceForm::Marked(c)) => gold.len() == 1 && gold[0] == c,
        None => false,
    }
}

/// The answer is written in degrees: `30^\circ`, `30°`, `\degree`, "30 degrees".
fn in_degrees(raw: &str) -> bool {
    raw.contains("\\circ") || raw.contains('°') || raw.contains("\\degree") || raw.to_ascii_lowercase().contains("degree")
}

/// `1000,99` / `1,22` / `-3,5`: digits, one comma, digits not forming a thousands group; read with
/// a decimal point.
fn decimal_comma(s: &str) -> Option<String> {
    let t = s.trim();
    let body = t.strip_prefix('-').unwrap_or(t);
    let (a, b) = body.split_once(',')?;
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) || (b.len() == 3 && a.len() <= 3) {
        return None;
    }
    Some(t.replacen(',', ".", 1))
}

/// A scalar without variables whose value is not an integer.
fn non_integer_scalar(a: &Answer, lim: &Limits) -> bool {
    match a {
        Answer::Expr(e) => match crate::equiv::eval(e, &[], lim, 0) {
            Ok(crate::num::Num::Rat(r)) => !r.is_integer(),
            Ok(v) => v.to_c().im == 0.0 && v.to_c().re.fract() != 0.0,
            Err(_) => false,
        },
        _ => false,
    }
}

/// |value| of a scalar gold without variables (None for structures, variables, or no value).
fn gold_magnitude(a: &Answer, lim: &Limits) -> Option<f64> {
    match a {
        Answer::Expr(e) => crate::equiv::eval(e, &[], lim, 0).ok().map(|v| v.to_c().norm()),
        _ => None,
    }
}

/// Compare; `Ok(None)` when the answers could not be told apart but equality could not be
/// certified either (status `undecided`).
fn compare(g: &Parsed, p: &Parsed, lim: &Limits, g_deg: bool, p_deg: bool) -> Result<Option<bool>, Timeout> {
    let cmp = Comparer::new(lim);
    let r = compare_with(&cmp, g, p, lim, g_deg, p_deg)?;
    Ok(if !r && cmp.undecided.get() { None } else { Some(r) })
}

fn compare_with(cmp: &Comparer, g: &Parsed, p: &Parsed, lim: &Limits, g_deg: bool, p_deg: bool) -> Result<bool, Timeout> {
    // gold in degrees, prediction in radians (a multiple of pi): `30^\circ` = `\frac{\pi}{6}`
    if g_deg && !p_deg && mentions_pi(&p.ans) {
        if let Some(pd) = radians_to_degrees(&p.ans) {
            if cmp.eq(&g.ans, &pd)? {
                return Ok(true);
            }
        }
    }
    // both sides name units of one dimension (`1 m` vs `100 cm`): compare the quantities
    if let (Some((dg, fg)), Some((dp, fp))) = (&g.unit, &p.unit) {
        if dg == dp && fg != fp {
            return match scale_by(&p.ans, &(fp / fg)) {
                Some(ps) => cmp.eq(&g.ans, &ps),
                None => Ok(false),
            };
        }
    }
    // `x%` against a gold without `%`: one reading per gold, never both. A gold of magnitude at
    // most 1 is a fraction (`50%` = 0.5, and `0.5%` is not 0.5); a larger gold is a number of
    // percent (`50%` = 50, the convention of "what percent ..." questions).
    if p.percent && !g.percent {
        if let Some(ps) = scale_percent(&p.ans) {
            if gold_magnitude(&g.ans, lim).is_some_and(|m| m <= 1.0) {
                return cmp.eq(&g.ans, &ps);
            }
        }
        return cmp.eq(&g.ans, &p.ans);
    }
    if cmp.eq(&g.ans, &p.ans)? {
        return Ok(true);
    }
    if g.percent && !p.percent {
        if let Some(gs) = scale_percent(&g.ans) {
            return cmp.eq(&gs, &p.ans);
        }
    }
    // gold `52_8`, prediction `52`: the digits in the gold's base (the question asked for base 8)
    if let (Some(b), None) = (g.base, p.base) {
        if let Some(pb) = reread_in_base(&p.ans, b) {
            return cmp.eq(&g.ans, &pb);
        }
    }
    Ok(false)
}

/// The end of the model's turn: text after a chat-template token is another turn.
const TURN_ENDS: &[&str] = &["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>", "</s>"];

fn cut_turn(s: &str) -> &str {
    if !s.contains("<|") && !s.contains("</s>") {
        return s;
    }
    match TURN_ENDS.iter().filter_map(|t| s.find(t)).min() {
        Some(k) => &s[..k],
        None => s,
    }
}

/// Text whose every backslash is doubled (a JSON- or Python-escaped generation: `\\boxed{\\frac12}`)
/// read with single backslashes. Only when it holds a doubled command and no single one.
fn unescape_doubled(s: &str) -> std::borrow::Cow<'_, str> {
    let b = s.as_bytes();
    if !s.contains("\\\\") {
        return s.into();
    }
    let (mut doubled_cmd, mut single_cmd) = (false, false);
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if i + 1 < b.len() && b[i + 1] == b'\\' {
                if i + 2 < b.len() && b[i + 2].is_ascii_alphabetic() {
                    doubled_cmd = true;
                }
                i += 2;
                continue;
            }
            if i + 1 < b.len() && b[i + 1].is_ascii_alphabetic() && !matches!(b[i + 1], b'n' | b't') {
                single_cmd = true;
            }
        }
        i += 1;
    }
    if doubled_cmd && !single_cmd {
        s.replace("\\\\", "\\").into()
    } else {
        s.into()
    }
}

fn grade_inner(pred: &str, gold: &str, opts: &GradeOptions) -> Verdict {
    let lim = Limits::with_budget(opts.budget);
    let pred_owned = unescape_doubled(cut_turn(pred));
    let pred: &str = &pred_owned;
    let gold_owned = unescape_doubled(gold);
    let gold: &str = &gold_owned;
    let gold_ans = extract_gold(gold);
    let gold_ans = gold_ans.as_deref();
    let normalized_gold = gold_ans.map(clean);
    let marked = match find_marked(pred) {
        // cut off inside its last box: no answer (not the partial box, not a number before it)
        Marked::Truncated => return Verdict { status: Status::NoAnswer, extracted: None, normalized_gold },
        Marked::Found(x) => Some(x),
        Marked::Nothing => None,
    };
    let extracted: Option<std::borrow::Cow<'_, str>> = marked.or_else(|| {
        if opts.strict {
            return None;
        }
        // "the answer is (3, 2)", then the math of the final sentence
        if let Some(x) = after_answer_phrase(pred).or_else(|| math_in_final_sentence(pred)) {
            return Some(x);
        }
        // a bare answer ("\\frac{14}{3}", "x = 2", "Monday"): short, one line, and parses
        let t = pred.trim();
        let bare = !t.is_empty()
            && t.len() <= BARE_ANSWER_CHARS
            && !t.contains('\n')
            && prose_words(t) < 2
            && match prepare(&clean(t), &lim) {
                Prep::Ok(p) => !matches!(p.ans, Answer::Text(_)) || !t.contains(' '),
                _ => false,
            };
        if bare {
            Some(t.into())
        } else if opts.last_number {
            last_number(pred).map(Into::into)
        } else {
            None
        }
    });
    let extracted = extracted.as_deref();
    let mk = |status: Status, ext: Option<&str>| Verdict {
        status,
        extracted: ext.map(|s| s.to_string()),
        normalized_gold: normalized_gold.clone(),
    };
    let ext = match extracted {
        None => return mk(Status::NoAnswer, None),
        Some(e) => e,
    };
    let ng = match &normalized_gold {
        Some(g) if !g.is_empty() => g.clone(),
        _ => return mk(Status::Unparsable, Some(ext)),
    };
    let cp = clean(ext);
    let cp = strip_leading_words(&cp).to_string();
    if opts.literal_shortcut && squash(&cp) == squash(&ng) {
        return mk(Status::Correct, Some(ext));
    }
    // multiple choice: exactly the gold's option letters
    if let Some(gc) = gold_choices(&ng) {
        let ok = choice_matches(&gc, &cp);
        return mk(if ok { Status::Correct } else { Status::Wrong }, Some(ext));
    }
    let g = match prepare(&ng, &lim) {
        Prep::Ok(g) => g,
        Prep::Timeout => return mk(Status::Timeout, Some(ext)),
        Prep::Fail => return mk(Status::Unparsable, Some(ext)),
    };
    if let Answer::Choice(c) = g.ans {
        let ok = choice_matches(&[c], &cp);
        return mk(if ok { Status::Correct } else { Status::Wrong }, Some(ext));
    }
    let p = match prepare(&cp, &lim) {
        Prep::Ok(p) => p,
        Prep::Timeout => return mk(Status::Timeout, Some(ext)),
        Prep::Fail => return mk(Status::Unparsable, Some(ext)),
    };
    let mut res = compare(&g, &p, &lim, gold_ans.is_some_and(in_degrees), in_degrees(ext));
    // a decimal comma where the other side leaves no doubt: `1000,99` against a non-integer
    // value (a list of two integers could not be right), either way round
    if matches!(res, Ok(Some(false))) {
        if let Some(d) = decimal_comma(&cp).filter(|_| non_integer_scalar(&g.ans, &lim)) {
            if let Prep::Ok(p2) = prepare(&d, &lim) {
                res = compare(&g, &p2, &lim, false, false);
            }
        } else if let Some(d) = decimal_comma(&ng).filter(|_| non_integer_scalar(&p.ans, &lim)) {
            if let Prep::Ok(g2) = prepare(&d, &lim) {
                res = compare(&g2, &p, &lim, false, false);
            }
        }
    }
    match res {
        Ok(Some(true)) => mk(Status::Correct, Some(ext)),
        Ok(Some(false)) => mk(Status::Wrong, Some(ext)),
        Ok(None) => mk(Status::Undecided, Some(ext)),
        Err(Timeout) => mk(Status::Timeout, Some(ext)),
    }
}

/// Deepest bracket nesting (`(`, `[`, `{`) in the text, in one pass.
fn bracket_depth(s: &str) -> usize {
    let (mut d, mut m) = (0usize, 0usize);
    for c in s.bytes() {
        match c {
            b'(' | b'[' | b'{' => {
                d += 1;
                m = m.max(d);
            }
            b')' | b']' | b'}' => d = d.saturating_sub(1),
            _ => {}
        }
    }
    m
}

/// Answers nested deeper than this are graded on a thread with [`DEEP_STACK`] bytes of stack (the
/// recursive-descent parser takes about six frames per level, up to [`crate::parse::MAX_DEPTH`]).
const DEEP_NESTING: usize = 40;
const DEEP_STACK: usize = 512 << 20;

/// Grade one pair. Never panics: an internal panic becomes status `unparsable`.
pub fn grade_one(pred: &str, gold: &str, opts: &GradeOptions) -> Verdict {
    let run = || match catch_unwind(AssertUnwindSafe(|| grade_inner(pred, gold, opts))) {
        Ok(v) => v,
        Err(_) => Verdict { status: Status::Unparsable, extracted: None, normalized_gold: None },
    };
    // (a very long text goes to the large stack without the scan: the thread costs less than it)
    if pred.len() + gold.len() <= 1 << 16 && bracket_depth(pred).max(bracket_depth(gold)) <= DEEP_NESTING {
        return run();
    }
    // deep nesting (400 parentheses, 200 nested fractions): a large stack, reserved not touched
    std::thread::scope(|sc| match std::thread::Builder::new().stack_size(DEEP_STACK).spawn_scoped(sc, run) {
        Ok(h) => h.join().unwrap_or(Verdict { status: Status::Unparsable, extracted: None, normalized_gold: None }),
        Err(_) => Verdict { status: Status::Unparsable, extracted: None, normalized_gold: None },
    })
}

/// Grade many pairs on `threads` threads (None: `PRL_VERIFY_THREADS` or all cores).
pub fn grade_many<S: AsRef<str> + Sync, T: AsRef<str> + Sync>(
    preds: &[S],
    golds: &[T],
    opts: &GradeOptions,
    threads: Option<usize>,
) -> Result<Vec<Verdict>, VerifyError> {
    if preds.len() != golds.len() {
        return Err(VerifyError::LengthMismatch {
            what: "preds and golds".into(),
            left: preds.len(),
            right: golds.len(),
        });
    }
    crate::parallel::map_indexed(preds.len(), threads, |i| grade_one(preds[i].as_ref(), golds[i].as_ref(), opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Semantics tests grade with a generous budget: a debug build on a loaded machine can take
    /// longer than the default 50 ms (timeouts have their own tests).
    fn opts() -> GradeOptions {
        GradeOptions { budget: Duration::from_secs(5), ..GradeOptions::default() }
    }

    fn st(pred: &str, gold: &str) -> Status {
        grade_one(pred, gold, &opts()).status
    }

    #[track_caller]
    fn ok(pred: &str, gold: &str) {
        let v = grade_one(pred, gold, &opts());
        assert_eq!(v.status, Status::Correct, "pred={pred:?} gold={gold:?} -> {v:?}");
    }
    #[track_caller]
    fn bad(pred: &str, gold: &str) {
        let v = grade_one(pred, gold, &opts());
        assert_eq!(v.status, Status::Wrong, "pred={pred:?} gold={gold:?} -> {v:?}");
    }

    #[test]
    fn basics() {
        ok("so the answer is \\boxed{18}.", "18");
        ok("\\boxed{\\frac12}", "\\frac{1}{2}");
        ok("\\boxed{0.5}", "\\dfrac{1}{2}");
        ok("#### 72", "Natalia sold 48/2 = 24 clips.\n#### 72");
        bad("\\boxed{17}", "18");
        assert_eq!(st("I don't know", "18"), Status::NoAnswer);
        ok("The final answer is $\\sqrt{8}$.", "2\\sqrt{2}");
        ok("\\boxed{1,000}", "1000");
        ok("\\boxed{\\$18.90}", "18.9");
        ok("\\frac{14}{3}", "\\dfrac{14}{3}");
        ok("x = 2", "2");
        ok("Monday", "\\text{Monday}");
        ok("1\\frac{4}{5}", "\\frac95");
        ok("-2\\frac12", "-2.5");
        ok("137 \\frac{1}{2}", "137.5");
        ok("2\\frac{x}{3}", "\\frac{2x}{3}");
        bad("the answer might be 7 or so", "8");
    }

    #[test]
    fn exactness() {
        bad("\\boxed{\\frac{1}{2^{99}}}", "\\frac{1}{2^{98}}");
        ok("\\boxed{\\frac{1}{2^{99}}}", "2^{-99}");
        bad("\\boxed{123456789012345678901234567891}", "123456789012345678901234567890");
        ok("\\boxed{123456789012345678901234567890}", "123456789012345678901234567890.0");
        bad("\\boxed{3.14159}", "\\pi");
    }

    #[test]
    fn degrees_and_radians() {
        ok("\\boxed{\\frac{\\pi}{6}}", "30^\\circ");
        ok("\\boxed{\\frac{\\pi}{6}}", "30^{\\circ}");
        ok("\\boxed{\\frac{5\\pi}{4}}", "225°");
        ok("\\boxed{\\frac{\\pi}{3}, \\frac{2\\pi}{3}}", "60^\\circ, 120^\\circ");
        ok("\\boxed{30^\\circ}", "30^\\circ");
        ok("\\boxed{30}", "30^\\circ");
        ok("\\boxed{30 \\text{ degrees}}", "30^\\circ");
        bad("\\boxed{\\frac{\\pi}{4}}", "30^\\circ");
        // gold in radians: a prediction in degrees is wrong (the question asked for radians)
        bad("\\boxed{30^\\circ}", "\\frac{\\pi}{6}");
        // a plain number is not read as radians
        bad("\\boxed{0.5236}", "30^\\circ");
    }

    #[test]
    fn right_answers_once_rejected() {
        ok("\\boxed{x_{0}}", "x_0");
        ok("\\boxed{a_{n+1}}", "a_{n+1}");
        bad("\\boxed{x_{1}}", "x_0");
        ok("\\boxed{\\{1\\pm\\sqrt{5},-2\\}}", "\\{-2, 1+\\sqrt5, 1-\\sqrt5\\}");
        bad("\\boxed{\\{1\\pm\\sqrt{5},-2\\}}", "\\{-2, 1+\\sqrt5\\}");
        ok("\\boxed{a+b=4}", "4");
        ok("\\boxed{xy = 6}", "6");
        bad("\\boxed{x+1=4}", "4"); // not an expression of names: x = 3
        bad("\\boxed{a+b=5}", "4");
        ok("\\boxed{(p,q)=(3,2)}", "(3,2)");
        ok("\\boxed{(x, y, z) = (1, 2, 3)}", "(1,2,3)");
        bad("\\boxed{(p,q)=(2,3)}", "(3,2)");
        ok("\\boxed{10,\\!080}", "10\\,080");
        ok("\\boxed{10\\,080}", "10080");
        ok("\\boxed{1\\,000\\,000}", "10^6");
        ok("\\boxed{RCs}", "sRC");
        ok("\\boxed{\\frac{1}{1+RCs}}", "\\frac{1}{sRC+1}");
        ok("\\boxed{2xyz}", "2zyx");
        bad("\\boxed{RCs}", "RC");
        ok("\\boxed{so x = \\frac{1}{2}}", "\\frac12");
        ok("\\boxed{Thus, the answer is 7}", "7");
        bad("\\boxed{so x = \\frac{1}{3}}", "\\frac12");
        for (p, g) in [
            ("x \\gt 5", "x > 5"), ("x \\lt 5", "(-\\infty, 5)"), ("x \\ne 5", "x \\neq 5"), ("x != 5", "x\\ne5"),
            ("x >= 5", "[5,\\infty)"), ("x <= 5", "x \\le 5"), ("x ≥ 5", "x\\geq 5"), ("x ≤ 5", "(-\\infty,5]"), ("x ≠ 5", "x \\neq 5"),
            ("5 \\lt x \\lt 7", "(5,7)"), ("x\\gt5", "(5,\\infty)"),
        ] {
            ok(&format!("\\boxed{{{p}}}"), g);
        }
        bad("\\boxed{x \\ge 5}", "x > 5");
        ok("\\boxed{\\frac{1}{\\sqrt3} \\approx 0.577}", "\\frac{\\sqrt3}{3}");
        ok("\\boxed{x \\approx 0.577}", "0.577");
        ok("\\boxed{\\frac{\\sqrt3}{3} ≈ 0.58}", "\\frac{1}{\\sqrt3}");
        bad("\\boxed{\\frac{1}{\\sqrt2} \\approx 0.577}", "\\frac{\\sqrt3}{3}");
        ok("\\boxed{-\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}}", "\\begin{pmatrix}-1&-2\\\\-3&-4\\end{pmatrix}");
        bad("\\boxed{-\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}");
        ok("\\boxed{2\\begin{pmatrix}1\\\\3\\end{pmatrix}}", "\\begin{pmatrix}2\\\\6\\end{pmatrix}");
        ok("\\boxed{\\frac{1}{2}\\begin{pmatrix}2&4\\end{pmatrix}}", "\\begin{pmatrix}1&2\\end{pmatrix}");
        ok("\\boxed{\\left[\\begin{array}{cc}1&2\\\\3&4\\end{array}\\right]}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}");
        bad("\\boxed{\\left[\\begin{array}{cc}1&2\\\\3&5\\end{array}\\right]}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}");
        for u in ["5 erg/s", "5 \\mathrm{eV}", "5 cm^{-1}", "5 km/h", "5^{\\circ}\\mathrm{C}", "5\\text{ erg/s}", "5 \\mathrm{~cm}^{-1}",
                  "5 \\mathrm{erg} \\mathrm{s}^{-1}", "5\\,\\mathrm{keV}", "5 \\mathrm{~nm}", "5 km/s^2", "5\\text{ Hz}", "5 \\mathrm{J}", "5\\text{ K}"] {
            ok(&format!("\\boxed{{{u}}}"), "5");
            bad(&format!("\\boxed{{{u}}}"), "6");
        }
        ok("\\boxed{0,111}", "0.111");
        ok("\\boxed{0,0625}", "\\frac{1}{16}");
        ok("\\boxed{1,000}", "1000");
        bad("\\boxed{1,000}", "1");
        ok("\\boxed{0,1,2}", "0, 1, 2"); // a list, not a decimal
        ok("\\boxed{0,5}", "\\{0, 5\\}"); // ambiguous: stays a list
    }

    #[test]
    fn extraction_without_a_box() {
        ok("Therefore $x \\gt 5$ is the solution.", "x>5");
        ok("Answer $ \\frac{10}{9} $", "\\frac{10}{9}");
        ok("We solve the system.\n... so the answer is (3, 2).", "(3,2)");
        ok("\\boxed{k = 45} and \\boxed{n = 2}", "k = 45, n = 2");
        bad("\\boxed{k = 45} and \\boxed{n = 3}", "k = 45, n = 2");
        ok("So we get\n\\[ x = \\frac{1}{2} \\]", "\\frac12");
        ok("She has 3 apples and buys 4, so 7", "7"); // the last number still
        bad("Therefore $x \\gt 6$ is the solution.", "x>5");
        // strict: only a box, a "final answer" phrase or ####
        let strict = GradeOptions { strict: true, ..GradeOptions::default() };
        for p in ["Therefore $x \\gt 5$ is the solution.", "so the answer is 5", "5", "x = 5", "it is 5 apples"] {
            assert_eq!(grade_one(p, "5", &strict).status, Status::NoAnswer, "{p:?}");
        }
        for p in ["\\boxed{5}", "The final answer is $5$.", "#### 5", "Final answer: 5"] {
            assert_eq!(grade_one(p, "5", &strict).status, Status::Correct, "{p:?}");
        }
        assert_eq!(grade_one("\\boxed{k = 45} and \\boxed{n = 2}", "k = 45, n = 2", &strict).status, Status::Correct);
    }

    #[test]
    fn conventions_of_other_graders() {
        // chains of `=` by their last value; a computation's last value
        ok("\\boxed{x = 5+5+1 = 11}", "x = 11");
        ok("\\boxed{z = 3+3 = 2}", "z = 1 + 1 = 2");
        bad("\\boxed{x = 5+5+1 = 12}", "x = 11");
        ok("Answer $ \\frac{1}{2} \\$ = \\frac{10}{9} $", "10/9");
        // a gold naming a quantity is its value; a gold equation is not
        ok("\\boxed{1}", "|AB| = 1");
        ok("\\boxed{4, 5}", "AB=4, CD=5");
        ok("\\boxed{\\frac{1}{\\sqrt6}}", "\\frac{NO}{BO}=\\frac{1}{\\sqrt{6}}");
        ok("\\boxed{7:32}", "S_{MBCN}:S=7:32");
        ok("\\boxed{1}", "A:B=1");
        bad("\\boxed{0}", "a^2 + b = 0");
        // lists: as sets when lengths differ; one value written twice is that value
        ok("\\boxed{(3,17,3,7), (3,3,2,3), (3,17,3,7)}", "(3,3,2,3), (3,17,3,7)");
        bad("\\boxed{(3,17,3,7), (3,3,2,4)}", "(3,3,2,3), (3,17,3,7)");
        ok("so $\\boxed{15\\frac{39}{40}}$, or $\\boxed{\\frac{639}{40}}$ inches", "\\frac{639}{40}");
        bad("\\boxed{5, 6}", "5");
        // decimal comma against a non-integer, either way round; never against an integer
        ok("\\boxed{1000,99}", "1000.99");
        ok("\\boxed{1.22}", "1,22");
        bad("\\boxed{1,22}", "122");
        ok("\\boxed{1,000}", "1000");
        // doubled backslashes, chat-template turn ends, `**`, pct, `{, }`
        ok("so \\\\boxed{\\\\frac{1}{2}}", "0.5");
        ok("\\boxed{\\frac12}", "$\\\\frac{1}{2}$");
        ok("So the pair is $(7, 6)$. <|im_start|>user", "(7,6)");
        ok("\\boxed{3*s**2}", "3s^2");
        ok("\\boxed{28 pct}", "28\\%");
        ok("The final answer is $14 {, }916$.", "14{,}916");
    }

    #[test]
    fn deep_nesting_is_graded() {
        // correctness with a generous budget (debug builds on a loaded machine are slow) ...
        let o = GradeOptions { budget: Duration::from_secs(10), ..GradeOptions::default() };
        let st = |p: &str, g: &str| grade_one(p, g, &o).status;
        let parens = format!("\\boxed{{{}1{}}}", "(".repeat(400), ")".repeat(400));
        assert_eq!(st(&parens, "1"), Status::Correct);
        assert_eq!(st(&parens, "2"), Status::Wrong);
        let fracs = format!("\\boxed{{{}2{}}}", "\\frac{1}{".repeat(200), "}".repeat(200));
        assert_eq!(st(&fracs, "2"), Status::Correct); // an even number of reciprocals
        assert_eq!(st(&fracs, "\\frac12"), Status::Wrong);
        // ... and the default budget is met in a release build
        let t = std::time::Instant::now();
        let _ = grade_one(&parens, "1", &GradeOptions::default());
        let _ = grade_one(&fracs, "2", &GradeOptions::default());
        assert!(t.elapsed().as_millis() < 100 * if cfg!(debug_assertions) { 10 } else { 1 });
    }

    #[test]
    fn too_large_to_certify_is_undecided() {
        for (p, g) in [
            ("10^{10^{10}}+1", "10^{10^{10}}"),
            ("10^{10^{10}}", "10^{10^{10}}+1"),
            ("2^{2^{2^{2^{2}}}}+1", "2^{2^{2^{2^{2}}}}"),
            ("2^{2^{2^{2^{2}}}}", "2^{2^{2^{2^{2}}}}-1"),
            ("2^{1000000}+\\sqrt2", "2^{1000000}+\\sqrt3"),
            ("9^{9^{9}}+1", "9^{9^{9}}"),
            ("10^{10^{10}}", "(10^{10})^{10^{9}}"),
        ] {
            let v = grade_one(&format!("\\boxed{{{p}}}"), g, &GradeOptions::default());
            assert_eq!(v.status, Status::Undecided, "{p} vs {g}");
            assert!(!v.correct());
        }
        // the same string is still correct (no comparison needed)
        ok("\\boxed{10^{10^{10}}}", "10^{10^{10}}");
        // certainly different values stay wrong, written infinities compare
        bad("\\boxed{10^{10^{10}}}", "5");
        bad("\\boxed{2^{2^{2^{2^{2}}}}}", "2^{2^{2^{2^{2}}}}\\cdot 2");
        ok("\\boxed{(-\\infty, 3)}", "(-\\infty,3)");
        ok("\\boxed{10^{400}+\\sqrt2}", "\\sqrt2+10^{400}");
    }

    #[test]
    fn truncated_box_is_no_answer() {
        for p in ["so the answer is \\boxed{3", "\\boxed{3} hmm, no: \\boxed{3", "We get 3, so \\boxed{", "3 \\boxed{\\frac{3}{1}"] {
            assert_eq!(st(p, "3"), Status::NoAnswer, "{p:?}");
        }
        ok("so the answer is \\boxed{3}", "3");
    }

    #[test]
    fn degrees_inside_functions() {
        // a degree sign inside a function's argument means times pi/180
        ok("\\boxed{\\sin 77^\\circ}", "\\cos 13^\\circ");
        ok("\\boxed{\\sin(77^{\\circ})}", "\\cos 13^\\circ");
        ok("\\boxed{\\cos\\frac{13\\pi}{180}}", "\\cos 13^\\circ");
        bad("\\boxed{\\cos(13)}", "\\cos 13^\\circ");
        bad("\\boxed{\\cos 13}", "\\cos 13°");
        ok("\\boxed{\\frac12}", "\\sin 30^\\circ");
        ok("\\boxed{\\tan 45°}", "1");
        ok("\\boxed{2\\sin 10^\\circ \\cos 10^\\circ}", "\\sin 20^\\circ");
        bad("\\boxed{\\sin 10^\\circ}", "\\sin 20^\\circ");
        ok("\\boxed{\\cos(90^\\circ - 13^\\circ)}", "\\sin 13^\\circ");
        // outside a function the sign is still dropped after the value
        ok("\\boxed{13^\\circ}", "13");
        ok("\\boxed{25^{\\circ}\\mathrm{C}}", "25");
        ok("\\boxed{212^\\circ \\text{F}}", "212");
    }

    #[test]
    fn units() {
        for u in [
            "5\\text{ cm}", "5 cm", "5\\,\\text{m}", "5\\text{ m}", "5\\mathrm{m}", "5\\mathrm{~m}", "5\\text{ km}", "5 kg",
            "5\\text{ g}", "5\\text{ s}", "5\\text{ min}", "5 minutes", "5\\text{ hours}", "5 \\text{dollars}", "5\\text{ cents}",
            "5\\text{ inches}", "5 feet", "5\\text{ ft}^2", "5\\text{ square units}", "5\\text{ cubic feet}", "5\\text{ cm}^{2}",
            "5\\mbox{ cm}^2", "5\\text{ m/s}", "5\\text{ km/h}", "5\\text{ m}^2", "5\\text{ sq m}", "5 \\textrm{ cm}", "5\\text{ mL}",
            "\\$5", "5~\\text{cm}", "5 \\text{ meters per second}",
        ] {
            ok(&format!("\\boxed{{{u}}}"), "5");
        }
        // conversions when both sides name units of one dimension
        ok("\\boxed{1\\text{ m}}", "100\\text{ cm}");
        ok("\\boxed{2\\text{ hours}}", "120 \\text{ minutes}");
        ok("\\boxed{1 \\text{ m}^2}", "10000\\text{ cm}^2");
        ok("\\boxed{1.5\\text{ kg}}", "1500\\text{ g}");
        ok("\\boxed{3\\text{ feet}}", "36\\text{ inches}");
        ok("\\boxed{50\\text{ cents}}", "0.5 \\text{ dollars}");
        bad("\\boxed{5\\text{ m}}", "5\\text{ cm}");
        bad("\\boxed{1\\text{ m}^2}", "100\\text{ cm}^2");
        // one side without a unit: the numbers as written
        bad("\\boxed{100}", "1\\text{ m}");
        ok("\\boxed{100\\text{ cm}}", "100");
    }

    #[test]
    fn sequences_and_determinants() {
        ok("\\boxed{1, 3, 5, \\ldots}", "1,3,5,\\dots");
        ok("\\boxed{1, 3, 5, \\cdots}", "1, 3, 5, ...");
        ok("\\boxed{2, 4, \\ldots, 100}", "2,4,\\dots,100");
        bad("\\boxed{3, 1, 5, \\ldots}", "1,3,5,\\dots"); // order matters in a sequence
        bad("\\boxed{1, 3, 5}", "1,3,5,\\dots");
        bad("\\boxed{1, 3, 6, \\ldots}", "1,3,5,\\dots");
        ok("\\boxed{(1, 2, \\ldots, n)}", "(1,2,\\dots,n)");
        ok("\\boxed{\\{1, 2, \\ldots\\}}", "\\{2,1,\\ldots\\}");
        ok("\\boxed{\\det\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}}", "-2");
        ok("\\boxed{\\begin{vmatrix}a&b\\\\c&d\\end{vmatrix}}", "ad-bc");
        ok("\\boxed{\\det\\begin{bmatrix}2&0&0\\\\0&3&0\\\\1&1&4\\end{bmatrix}}", "24");
        bad("\\boxed{\\det\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}}", "2");
    }

    #[test]
    fn base_subscripts() {
        ok("\\boxed{52_8}", "42");
        ok("\\boxed{52_{8}}", "52_8");
        ok("\\boxed{1011_2}", "11");
        ok("\\boxed{1011_{2}}", "1011_2");
        ok("\\boxed{42}", "52_8"); // by value
        ok("\\boxed{52}", "52_8"); // the digits in the asked base
        ok("\\boxed{25_{10}}", "25");
        ok("\\boxed{10_{16}}", "16");
        bad("\\boxed{52_8}", "52");
        bad("\\boxed{53_8}", "52_8");
        bad("\\boxed{1010_2}", "11");
        bad("\\boxed{43}", "52_8");
        bad("\\boxed{59}", "52_8"); // 9 is no base-8 digit, and 59 != 42
        assert_eq!(st("\\boxed{59_8}", "42"), Status::Unparsable);
        ok("\\boxed{x_1 + x_2}", "x_2+x_1"); // subscripted variables are unchanged
    }

    #[test]
    fn function_assignments() {
        ok("\\boxed{f(x)=2x+1}", "2x+1");
        ok("\\boxed{2x+1}", "f(x) = 2x+1");
        ok("\\boxed{f(x) = 1+2x}", "f(x)=2x+1");
        ok("\\boxed{g(t)=t^2-1}", "(t-1)(t+1)");
        ok("\\boxed{y = 2x + 1}", "f(x)=2x+1");
        ok("\\boxed{f^{-1}(x)=\\frac{x-1}{2}}", "\\frac{x}{2}-\\frac12");
        ok("\\boxed{h(x,y)=x+y}", "y+x");
        bad("\\boxed{f(x)=2x+2}", "2x+1");
        bad("\\boxed{f(x)=2x+2}", "f(x)=2x+1");
        // equations still compare as equations
        ok("\\boxed{2x - y + 1 = 0}", "y=2x+1");
        bad("\\boxed{x+y=1}", "x-y=1");
        // a product is not a function head
        ok("\\boxed{2(x+1)=4}", "x+1=2");
    }

    #[test]
    fn irrational_exactness() {
        // differences far below f64 resolution are seen (certified ball arithmetic)
        bad("\\boxed{10^{30}+\\sqrt2}", "10^{30}+\\sqrt3");
        ok("\\boxed{10^{30}+\\sqrt{2}}", "\\sqrt2 + 10^{30}");
        bad("\\boxed{10^{400}+\\sqrt2}", "10^{400}+\\sqrt3");
        ok("\\boxed{(10^{100}+\\sqrt2)-10^{100}}", "\\sqrt2");
        bad("\\boxed{\\pi + 10^{-40}}", "\\pi");
        bad("\\boxed{\\frac{\\sqrt2}{10^{60}}}", "\\frac{\\sqrt3}{10^{60}}");
        bad("\\boxed{3.14159265358979323846}", "\\pi");
        bad("\\boxed{1.4142135623730951}", "\\sqrt2");
        bad("\\boxed{e^{10^{-30}}}", "1");
        bad("\\boxed{\\ln(10^{30}+1)}", "\\ln(10^{30})");
        bad("\\boxed{\\sin(10^{-25})}", "10^{-25}");
        // identities still hold
        ok("\\boxed{\\sqrt{8}}", "2\\sqrt2");
        ok("\\boxed{\\frac{1}{\\sqrt2+1}}", "\\sqrt2-1");
        ok("\\boxed{\\sqrt{3+2\\sqrt2}}", "1+\\sqrt2");
        ok("\\boxed{\\sqrt[3]{2}\\cdot\\sqrt[3]{4}}", "2");
        ok("\\boxed{e^{\\ln 5}}", "5");
        ok("\\boxed{\\sin\\frac{\\pi}{6}}", "\\frac12");
        ok("\\boxed{\\cos\\frac{\\pi}{4}}", "\\frac{\\sqrt2}{2}");
        ok("\\boxed{\\tan\\frac{\\pi}{3}}", "\\sqrt3");
        ok("\\boxed{\\arctan 1}", "\\frac{\\pi}{4}");
        ok("\\boxed{\\arcsin\\frac12}", "\\frac{\\pi}{6}");
        ok("\\boxed{\\arccos 0}", "\\frac{\\pi}{2}");
        ok("\\boxed{\\log_2 10}", "\\frac{\\ln 10}{\\ln 2}");
        ok("\\boxed{\\sin(\\pi)}", "0");
        ok("\\boxed{e^{i\\pi}+1}", "0");
        ok("\\boxed{(1+i)^2}", "2i");
        ok("\\boxed{\\sqrt{-4}}", "2i");
        ok("\\boxed{2^{\\sqrt2}\\cdot 2^{\\sqrt2}}", "4^{\\sqrt2}");
        ok("\\boxed{\\sqrt{x^2+2x+1}}", "|x+1|");
        bad("\\boxed{\\sqrt{x}+10^{30}}", "\\sqrt{x+10^{-40}}+10^{30}");
        ok("\\boxed{\\frac{\\pi}{6}}", "\\frac{\\pi}{6}");
        ok("\\boxed{2\\sqrt{2}\\pi^2}", "\\sqrt8\\pi\\cdot\\pi");
    }

    #[test]
    fn structures() {
        ok("\\boxed{(1, 2)}", "(1,2)");
        bad("\\boxed{(2, 1)}", "(1,2)");
        ok("\\boxed{\\{2, 1\\}}", "\\{1,2\\}");
        ok("\\boxed{3, 1, 2}", "1, 2, 3");
        ok("\\boxed{[1, 2)}", "[1,2)");
        bad("\\boxed{(1, 2]}", "[1,2)");
        ok("\\boxed{(-\\infty, 0) \\cup (1, \\infty)}", "(1,\\infty)\\cup(-\\infty,0)");
        ok("\\boxed{\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}");
        bad("\\boxed{\\begin{pmatrix} 1 & 2 \\\\ 4 & 3 \\end{pmatrix}}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}");
        ok("\\boxed{x=3}", "3");
        ok("\\boxed{3}", "x = 3");
        ok("\\boxed{y = 1 + 2x}", "y=2x+1");
        ok("\\boxed{2x - y + 1 = 0}", "y=2x+1");
        ok("\\boxed{x < 3}", "(-\\infty, 3)");
        ok("\\boxed{x \\ge 2}", "[2,\\infty)");
        ok("\\boxed{1 \\pm \\sqrt{2}}", "1+\\sqrt2, 1-\\sqrt2");
        ok("\\boxed{(C)}", "\\text{(C)}");
        ok("\\boxed{\\text{(C) } 12}", "C");
        bad("\\boxed{B}", "C");
    }

    #[test]
    fn percent_one_reading_per_gold() {
        // for any gold g, `g%` and `(100 g)%` are never both correct
        for g in ["0", "0.5", "1", "2", "50", "0.005", "\\frac{1}{3}", "-0.25", "120", "99.5", "1000"] {
            let x = grade_one(&format!("\\boxed{{{g}\\%}}"), g, &GradeOptions::default()).status;
            let y = grade_one(&format!("\\boxed{{100\\cdot {g}\\%}}"), g, &GradeOptions::default()).status;
            assert!(!(x == Status::Correct && y == Status::Correct) || g == "0", "gold {g}: {x:?} {y:?}");
            assert!(x == Status::Correct || y == Status::Correct, "gold {g}: neither reading");
        }
    }

    #[test]
    fn choice_needs_exactly_the_gold_options() {
        // hedges and junk around a letter are not the letter
        for p in ["C, D", "\\text{(C) or (D)}", "\\text{C and D}", "(C) or (D)", "C/D", "A = 5", "B^2", "E_2", "\\mathrm{E}*2", "C+1", "\\text{(C) 12 or (D) 13}"] {
            for g in ["C", "A", "B", "D", "E", "\\text{(C)}"] {
                let v = grade_one(&format!("\\boxed{{{p}}}"), g, &GradeOptions::default());
                assert_eq!(v.status, Status::Wrong, "pred={p:?} gold={g:?}");
            }
        }
        bad("\\boxed{\\text{C, F}}", "\\text{C, F, H}");
        bad("\\boxed{\\text{C, F, H, J}}", "\\text{C, F, H}");
        ok("\\boxed{\\text{H, C, F}}", "\\text{C, F, H}");
        ok("\\boxed{(C), (F) and (H)}", "\\text{C, F, H}");
        // the usual spellings of one option
        for p in ["\\textbf{(B)}", "(B)", "B)", "\\text{B}", "B", "\\text{(B) } 12", "B) 12", "\\mathrm{(B)}", "\\text{Option B}", "B."] {
            ok(&format!("\\boxed{{{p}}}"), "B");
            ok(&format!("\\boxed{{{p}}}"), "\\textbf{(B)}");
            bad(&format!("\\boxed{{{p}}}"), "C");
        }
    }

    #[test]
    fn numbers_and_units() {
        ok("\\boxed{50\\%}", "50");
        ok("\\boxed{50\\%}", "0.5");
        ok("\\boxed{100\\%}", "1");
        ok("\\boxed{12.5\\%}", "\\frac18");
        bad("\\boxed{0.5\\%}", "0.5");
        bad("\\boxed{\\frac{1}{8}\\%}", "\\frac18");
        bad("\\boxed{1\\%}", "1");
        ok("\\boxed{250\\%}", "250");
        bad("\\boxed{250\\%}", "2.5");
        ok("\\boxed{30^\\circ}", "30");
        ok("\\boxed{5 \\text{ cm}^2}", "5");
        ok("\\boxed{3+4i}", "4i+3");
        bad("\\boxed{3-4i}", "4i+3");
        ok("\\boxed{x^2+2x+1}", "(x+1)^2");
        bad("\\boxed{x^2+2x+2}", "(x+1)^2");
        ok("\\boxed{\\text{Monday}}", "\\text{monday}");
        bad("\\boxed{\\text{Tuesday}}", "\\text{Monday}");
        ok("\\boxed{e^{i\\pi}}", "-1");
        ok("\\boxed{\\log_2 8}", "3");
        ok("\\boxed{0.\\overline{3}}", "\\frac13");
        ok("\\boxed{\\binom{5}{2}}", "10");
        ok("\\boxed{5!}", "120");
        ok("\\boxed{\\sqrt[3]{-8}}", "-2");
        ok("\\boxed{1.2e5}", "120000");
        ok("\\boxed{3E-4}", "0.0003");
        ok("\\boxed{2e}", "2e^1");
        bad("\\boxed{1.2e5}", "12000");
    }

    #[test]
    fn never_hangs() {
        let tower = format!("\\boxed{{{}}}", "2^{".repeat(60) + "2" + &"}".repeat(60));
        let nested = format!("\\boxed{{{}1{}}}", "(".repeat(10_000), ")".repeat(10_000));
        let big = "x".repeat(1_000_000) + "\\boxed{3}";
        let huge_pow = "\\boxed{10^{10^{10}}}".to_string();
        for p in [tower.as_str(), nested.as_str(), big.as_str(), huge_pow.as_str(), "\\boxed{\\frac{", "", "ß∂ƒ©", "\\boxed{}}}{{"] {
            // the best of three calls: the time of the code, not of a machine shared with other jobs
            let best = (0..3)
                .map(|_| {
                    let t = std::time::Instant::now();
                    let v = grade_one(p, "3", &GradeOptions::default());
                    let _ = v.status;
                    t.elapsed()
                })
                .min()
                .unwrap();
            assert!(best.as_millis() < 100, "{:?}... took {:?}", &p[..p.len().min(30)], best);
        }
    }
}
