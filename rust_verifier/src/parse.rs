//! Parsing of a normalised answer into an [`Answer`]: a scalar expression, or a structure of them
//! (tuple, set, bare list, interval, union, matrix, equation / inequality chain, text, choice).
//!
//! Expression grammar (recursive descent, depth-bounded):
//! ```text
//! sum     := term (('+' | '-' | '\pm') term)*
//! term    := unary (('*' | '/' | implicit) unary)*
//! unary   := ('-' | '+') unary | power
//! power   := postfix ('^' exponent)?
//! postfix := primary ('!' | '_' sub | '%')*
//! primary := number | letter | constant | '(' sum ')' | '{' sum '}' | '[' sum ']' | '|' sum '|'
//!          | \frac a b | \sqrt[n] x | \binom a b | \func arg | \lfloor sum \rfloor | \lceil sum \rceil
//! ```

use crate::error::Limits;
use crate::lex::{is_unit, unit_scale, RelOp, Tok};
use crate::num::parse_decimal;
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, Zero};

/// Deepest nesting the parser follows.
/// Deepest nesting the parser follows, in parser frames (about six per bracket level: 400 nested
/// parentheses or 200 nested `\frac` fit). Deep answers are graded on a thread with a large
/// stack (see `grade`).
pub const MAX_DEPTH: usize = 4_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Const {
    Pi,
    E,
    I,
    Inf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Sin,
    Cos,
    Tan,
    Cot,
    Sec,
    Csc,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Exp,
    Ln,
    Abs,
    Floor,
    Ceil,
}

#[derive(Clone, Debug)]
pub enum Expr {
    Num(BigRational),
    Const(Const),
    Var(String),
    Neg(Box<Expr>),
    Add(Box<Expr>, Box<Expr>),
    Sub(Box<Expr>, Box<Expr>),
    /// a ± b
    Pm(Box<Expr>, Box<Expr>),
    Mul(Box<Expr>, Box<Expr>),
    Div(Box<Expr>, Box<Expr>),
    Pow(Box<Expr>, Box<Expr>),
    /// q-th root (q = index expression)
    Root(Box<Expr>, Box<Expr>),
    Log(Option<Box<Expr>>, Box<Expr>),
    Func(Func, Box<Expr>),
    Factorial(Box<Expr>),
    Binom(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// The direct sub-expressions (a logarithm's base, if written, before its argument).
    pub fn children(&self) -> impl Iterator<Item = &Expr> {
        let (a, b): (Option<&Expr>, Option<&Expr>) = match self {
            Expr::Num(_) | Expr::Const(_) | Expr::Var(_) => (None, None),
            Expr::Neg(a) | Expr::Func(_, a) | Expr::Factorial(a) => (Some(a), None),
            Expr::Log(b, a) => (b.as_deref(), Some(a)),
            Expr::Add(a, b)
            | Expr::Sub(a, b)
            | Expr::Pm(a, b)
            | Expr::Mul(a, b)
            | Expr::Div(a, b)
            | Expr::Pow(a, b)
            | Expr::Root(a, b)
            | Expr::Binom(a, b) => (Some(a), Some(b)),
        };
        a.into_iter().chain(b)
    }

    /// Whether this expression or any sub-expression satisfies `p`.
    pub fn any_node(&self, p: &dyn Fn(&Expr) -> bool) -> bool {
        p(self) || self.children().any(|c| c.any_node(p))
    }
}

#[derive(Clone, Debug)]
pub enum Answer {
    Expr(Expr),
    /// (a, b, ...) / [a, b, c] / \langle a, b \rangle; `paren` = written with round brackets
    Tuple(Vec<Answer>, bool),
    Interval { lo: Expr, hi: Expr, lo_closed: bool, hi_closed: bool },
    Union(Vec<Answer>),
    Set(Vec<Answer>),
    /// a bare comma-separated list (unordered)
    List(Vec<Answer>),
    Matrix(Vec<Vec<Answer>>),
    /// e0 op0 e1 op1 e2 ...
    Relation(Vec<Expr>, Vec<RelOp>),
    Text(String),
    Choice(char),
    /// `\ldots` / `\dots` / `...` as an item of a sequence
    Ellipsis,
}

#[derive(Debug)]
pub enum ParseError {
    Syntax(String),
    Timeout,
}

type PResult<T> = Result<T, ParseError>;

fn syn<T>(m: impl Into<String>) -> PResult<T> {
    Err(ParseError::Syntax(m.into()))
}

/// Result of parsing one answer string.
#[derive(Clone, Debug)]
pub struct Parsed {
    pub ans: Answer,
    /// A `%` was written (the value may be compared as is or divided by 100).
    pub percent: bool,
    /// The whole answer is one number written in a base: `52_8` (base 8).
    pub base: Option<u32>,
    /// The one unit written after the value, if known: (dimension * 10 + power, size in base
    /// units), e.g. `5 cm^2` is (12, 1/10000). Compound (`m/s`) or several units give `None`.
    pub unit: Option<(u8, BigRational)>,
}

fn is_open(t: &Tok) -> bool {
    matches!(t, Tok::LParen | Tok::LBrack | Tok::LBrace | Tok::LSet | Tok::LAngle | Tok::Begin(_))
}
fn is_close(t: &Tok) -> bool {
    matches!(t, Tok::RParen | Tok::RBrack | Tok::RBrace | Tok::RSet | Tok::RAngle | Tok::End(_))
}

/// Split at top-level tokens satisfying `pred`.
fn split_top(toks: &[Tok], pred: impl Fn(&Tok) -> bool) -> Vec<&[Tok]> {
    let mut parts = Vec::new();
    let mut depth: i64 = 0;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        if is_open(t) {
            depth += 1;
        } else if is_close(t) {
            depth -= 1;
        } else if depth <= 0 && pred(t) {
            parts.push(&toks[start..i]);
            start = i + 1;
        }
    }
    parts.push(&toks[start..]);
    parts
}

/// Index of the closer matching the opener at 0 (any bracket kind closes any).
fn matching_close(toks: &[Tok]) -> Option<usize> {
    let mut depth: i64 = 0;
    for (i, t) in toks.iter().enumerate() {
        if is_open(t) {
            depth += 1;
        } else if is_close(t) {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

pub struct AnswerParser<'l> {
    lim: &'l Limits,
    pub percent: bool,
    /// None: no unit seen; Some(None): several or compound units; Some(Some(u)): one unit
    unit: Option<Option<(u8, BigRational)>>,
}

impl<'l> AnswerParser<'l> {
    pub fn new(lim: &'l Limits) -> Self {
        AnswerParser { lim, percent: false, unit: None }
    }

    /// Parse a whole answer from its tokens (after word handling).
    pub fn parse(&mut self, mut toks: Vec<Tok>) -> PResult<Parsed> {
        // `^\circ C`, `^\circ F`: a temperature unit, dropped with the degree sign
        let mut k = 1;
        while k < toks.len() {
            if toks[k - 1] == Tok::Degree && matches!(&toks[k], Tok::Ident(c) | Tok::Word(c) if c == "C" || c == "F") {
                toks.remove(k);
            }
            k += 1;
        }
        // words inside a subscript are part of a name: `S_{MBCN}`
        let mut k = 0;
        while k + 1 < toks.len() {
            if toks[k] == Tok::Underscore && toks[k + 1] == Tok::LBrace {
                let mut j = k + 2;
                while j < toks.len() && toks[j] != Tok::RBrace {
                    if let Tok::Word(w) = &toks[j] {
                        toks[j] = Tok::Ident(w.clone());
                    }
                    j += 1;
                }
                k = j;
            }
            k += 1;
        }
        let toks = self.handle_words(toks)?;
        let toks = match toks {
            Ok(t) => t,
            Err(ans) => return Ok(Parsed { ans, percent: false, base: None, unit: None }),
        };
        // percent anywhere at top level
        let mut toks: Vec<Tok> = toks;
        if toks.contains(&Tok::Percent) {
            self.percent = true;
            toks.retain(|t| *t != Tok::Percent);
        }
        // drop a trailing colon / comma
        while matches!(toks.last(), Some(Tok::Comma) | Some(Tok::Colon)) {
            toks.pop();
        }
        if toks.is_empty() {
            return syn("empty answer");
        }
        let base = match toks.as_slice() {
            [Tok::Num(_), Tok::Underscore, Tok::Num(b)] | [Tok::Num(_), Tok::Underscore, Tok::LBrace, Tok::Num(b), Tok::RBrace] => {
                b.parse::<u32>().ok().filter(|b| (2..=36).contains(b))
            }
            _ => None,
        };
        let ans = self.list(&toks, 0)?;
        Ok(Parsed { ans, percent: self.percent, base, unit: self.unit.clone().flatten() })
    }

    /// Words: connectives become commas, units after a value are dropped; an answer made of
    /// words is text; a lone letter A-E (optionally in parentheses) is a choice.
    fn handle_words(&mut self, toks: Vec<Tok>) -> PResult<Result<Vec<Tok>, Answer>> {
        // multiple choice: (A), A, \text{(B)}, (C) followed by anything
        let letters: Vec<&Tok> = toks.iter().collect();
        let choice = match letters.as_slice() {
            [Tok::Ident(c)] | [Tok::LParen, Tok::Ident(c), Tok::RParen] => Some(c.clone()),
            _ => None,
        };
        if let Some(c) = choice {
            let ch = c.chars().next().unwrap();
            if ('A'..='E').contains(&ch) {
                return Ok(Err(Answer::Choice(ch)));
            }
        }
        if !toks.iter().any(|t| matches!(t, Tok::Word(_))) {
            return Ok(Ok(toks));
        }
        // connectives -> commas, "percent" -> %, units dropped (with a following `^2` / `^{3}`)
        let mut res: Vec<Tok> = Vec::with_capacity(toks.len());
        let mut i = 0;
        while i < toks.len() {
            if let Tok::Word(w) = &toks[i] {
                let lw = w.to_ascii_lowercase();
                if lw == "and" || lw == "or" {
                    res.push(Tok::Comma);
                    i += 1;
                    continue;
                }
                if lw == "percent" || lw == "pct" || lw == "percentage" {
                    res.push(Tok::Percent);
                    i += 1;
                    continue;
                }
                if is_unit(&lw) {
                    let mut power: u32 = 1;
                    if i > 0 {
                        if let Tok::Word(prev) = &toks[i - 1] {
                            match prev.to_ascii_lowercase().as_str() {
                                "square" | "sq" => power = 2,
                                "cubic" => power = 3,
                                _ => {}
                            }
                        }
                    }
                    let scale = unit_scale(&lw);
                    i += 1;
                    if toks.get(i) == Some(&Tok::Caret) {
                        let p = match (toks.get(i + 1), toks.get(i + 2), toks.get(i + 3)) {
                            (Some(Tok::Num(p)), _, _) => {
                                i += 2;
                                Some(p.clone())
                            }
                            (Some(Tok::LBrace), Some(Tok::Num(p)), Some(Tok::RBrace)) => {
                                i += 4;
                                Some(p.clone())
                            }
                            _ => None,
                        };
                        if let Some(p) = p.and_then(|p| p.parse::<u32>().ok()).filter(|p| (1..=3).contains(p)) {
                            power = p;
                        }
                    }
                    // `cm^{-1}`: a reciprocal unit, dropped whole
                    let mut compound = false;
                    if let (Some(Tok::Caret), Some(Tok::LBrace), Some(Tok::Minus), Some(Tok::Num(_)), Some(Tok::RBrace)) =
                        (toks.get(i), toks.get(i + 1), toks.get(i + 2), toks.get(i + 3), toks.get(i + 4))
                    {
                        i += 5;
                        compound = true;
                    }
                    // `m/s`, `km/h`, `erg/s`, `m/s^2`: a compound unit, dropped whole
                    while toks.get(i) == Some(&Tok::Slash) && matches!(toks.get(i + 1), Some(Tok::Word(w)) | Some(Tok::Ident(w)) if is_unit(w)) {
                        i += 2;
                        compound = true;
                        if toks.get(i) == Some(&Tok::Caret) && matches!(toks.get(i + 1), Some(Tok::Num(_))) {
                            i += 2;
                        }
                    }
                    if let Some((dim, n, d)) = scale {
                        let u = if compound {
                            None
                        } else {
                            let f = BigRational::new(BigInt::from(n), BigInt::from(d));
                            Some((dim * 10 + power as u8, num_traits::pow(f, power as usize)))
                        };
                        self.unit = match &self.unit {
                            None => Some(u),
                            Some(_) => Some(None),
                        };
                    }
                    continue;
                }
            }
            res.push(toks[i].clone());
            i += 1;
        }
        let all_text = || {
            let all: Vec<String> = toks.iter().map(tok_text).collect();
            Answer::Text(norm_text(&all.join(" ")))
        };
        if res.iter().all(|t| matches!(t, Tok::Comma | Tok::Percent)) {
            // nothing but unit words: text such as "cm"
            return Ok(Err(all_text()));
        }
        let first_word = match res.iter().position(|t| matches!(t, Tok::Word(_))) {
            None => return Ok(Ok(res)),
            Some(p) => p,
        };
        // math then only words ("18 eggs"): the words describe the value
        let math_before = res[..first_word].iter().any(|t| !matches!(t, Tok::Comma));
        let only_words_after = res[first_word..].iter().all(|t| matches!(t, Tok::Word(_) | Tok::Comma));
        if math_before && only_words_after {
            res.truncate(first_word);
            while matches!(res.last(), Some(Tok::Comma)) {
                res.pop();
            }
            return Ok(Ok(res));
        }
        Ok(Err(all_text()))
    }

    fn tick(&self) -> PResult<()> {
        if self.lim.expired() {
            Err(ParseError::Timeout)
        } else {
            Ok(())
        }
    }

    fn list(&mut self, toks: &[Tok], depth: usize) -> PResult<Answer> {
        if depth > MAX_DEPTH {
            return syn("nested too deeply");
        }
        self.tick()?;
        let parts = split_top(toks, |t| *t == Tok::Comma);
        if parts.len() > 1 {
            let mut items = Vec::with_capacity(parts.len());
            for p in parts {
                if p.is_empty() {
                    continue;
                }
                items.push(self.item(p, depth + 1)?);
            }
            if items.len() == 1 {
                return Ok(items.pop().unwrap());
            }
            if items.iter().any(|x| matches!(x, Answer::Ellipsis)) {
                // `1, 3, 5, \ldots`: a sequence, compared in order
                return Ok(Answer::Tuple(items, false));
            }
            return Ok(Answer::List(items));
        }
        self.item(toks, depth + 1)
    }

    fn item(&mut self, toks: &[Tok], depth: usize) -> PResult<Answer> {
        if depth > MAX_DEPTH {
            return syn("nested too deeply");
        }
        self.tick()?;
        if toks.is_empty() {
            return syn("empty item");
        }
        if toks == [Tok::Dots] {
            return Ok(Answer::Ellipsis);
        }
        // `\det` of a matrix: its determinant
        if toks[0] == Tok::Cmd("det".into()) && toks.len() > 1 {
            let m = self.item(&toks[1..], depth + 1)?;
            return match m {
                Answer::Matrix(rows) => Ok(Answer::Expr(determinant(&rows)?)),
                _ => syn("\\det of something other than a matrix"),
            };
        }
        // `x \in [1, 2]`
        if toks.len() > 2 && matches!(toks[0], Tok::Ident(_)) && toks[1] == Tok::In {
            return self.item(&toks[2..], depth + 1);
        }
        // `\frac{1}{\sqrt3} \approx 0.577`: the exact value; `x \approx 0.577`: the value
        let approx = split_top(toks, |t| *t == Tok::Approx);
        if approx.len() > 1 {
            let left = approx[0];
            let keep = if left.is_empty() || is_name(left) { approx[approx.len() - 1] } else { left };
            return self.item(keep, depth + 1);
        }
        // `(p, q) = (3, 2)`, `V_1:V_2 = 11:21`: the value of a tuple or ratio of names
        let eqs = split_top(toks, |t| matches!(t, Tok::Rel(_)));
        if eqs.len() == 2 && !eqs[1].is_empty() && is_name_tuple(eqs[0]) && toks.contains(&Tok::Rel(RelOp::Eq)) {
            let eq_at = eqs[0].len();
            if toks[eq_at] == Tok::Rel(RelOp::Eq) {
                return self.item(eqs[1], depth + 1);
            }
        }
        // `-\begin{pmatrix}..\end{pmatrix}`, `2\begin{pmatrix}..`: a scalar times a matrix
        if let Some(k) = toks.iter().position(|t| matches!(t, Tok::Begin(_))) {
            if k > 0 && matching_close(&toks[k..]) == Some(toks.len() - 1 - k) {
                if let Answer::Matrix(rows) = self.item(&toks[k..], depth + 1)? {
                    let factor = if toks[..k] == [Tok::Minus] {
                        Expr::Num(-BigRational::one())
                    } else if toks[k - 1] == Tok::Minus && k > 1 {
                        Expr::Neg(bx(self.expr(&toks[..k - 1], depth + 1)?))
                    } else {
                        self.expr(&toks[..k], depth + 1)?
                    };
                    let scaled = rows
                        .into_iter()
                        .map(|r| {
                            r.into_iter()
                                .map(|c| match c {
                                    Answer::Expr(e) => Ok(Answer::Expr(Expr::Mul(bx(factor.clone()), bx(e)))),
                                    _ => syn("a scalar times a matrix of non-scalars"),
                                })
                                .collect::<PResult<Vec<Answer>>>()
                        })
                        .collect::<PResult<Vec<Vec<Answer>>>>()?;
                    return Ok(Answer::Matrix(scaled));
                }
            }
        }
        let unions = split_top(toks, |t| *t == Tok::Cup || matches!(t, Tok::Ident(s) if s == "U"));
        if unions.len() > 1 {
            let mut items = Vec::new();
            for p in unions {
                items.push(self.item(p, depth + 1)?);
            }
            return Ok(Answer::Union(items));
        }
        // a ratio `3:1` is an ordered pair
        let ratio = split_top(toks, |t| *t == Tok::Colon);
        if ratio.len() > 1 && ratio.iter().all(|p| !p.is_empty()) {
            let mut items = Vec::new();
            for p in ratio {
                items.push(Answer::Expr(self.expr(p, depth + 1)?));
            }
            return Ok(Answer::Tuple(items, false));
        }
        let rels = split_top(toks, |t| matches!(t, Tok::Rel(_)));
        if rels.len() > 1 {
            let mut ops = Vec::new();
            let mut depth_now: i64 = 0;
            for t in toks {
                if is_open(t) {
                    depth_now += 1;
                } else if is_close(t) {
                    depth_now -= 1;
                } else if depth_now <= 0 {
                    if let Tok::Rel(op) = t {
                        ops.push(*op);
                    }
                }
            }
            let mut exprs = Vec::new();
            let single_eq = ops.len() == 1 && ops[0] == RelOp::Eq;
            for (k, p) in rels.into_iter().enumerate() {
                if p.is_empty() {
                    return syn("relation with an empty side");
                }
                // `f(x) = 2x+1`: the left side names a function, an assignment like `y = 2x+1`
                if k == 0 && single_eq {
                    if let Some(name) = func_head(p) {
                        exprs.push(Expr::Var(name));
                        continue;
                    }
                }
                exprs.push(self.expr(p, depth + 1)?);
            }
            return Ok(Answer::Relation(exprs, ops));
        }
        let first = &toks[0];
        if is_open(first) {
            if let Some(close) = matching_close(toks) {
                if close == toks.len() - 1 {
                    let inner = &toks[1..close];
                    let last = &toks[close];
                    match (first, last) {
                        (Tok::LSet, Tok::RSet) => {
                            if inner.is_empty() {
                                return Ok(Answer::Set(vec![]));
                            }
                            let parts = split_top(inner, |t| *t == Tok::Comma);
                            let mut items = Vec::new();
                            for p in parts {
                                if !p.is_empty() {
                                    items.push(self.item(p, depth + 1)?);
                                }
                            }
                            return Ok(Answer::Set(items));
                        }
                        (Tok::Begin(env), Tok::End(_)) => {
                            return self.matrix(env, inner, depth + 1);
                        }
                        (Tok::LBrace, Tok::RBrace) => {
                            return self.list(inner, depth + 1);
                        }
                        // `\left[\begin{array}..\end{array}\right]`: brackets around a matrix
                        _ if matches!(inner.first(), Some(Tok::Begin(_))) && matching_close(inner) == Some(inner.len() - 1) => {
                            return self.item(inner, depth + 1);
                        }
                        _ => {}
                    }
                    let parts = split_top(inner, |t| *t == Tok::Comma);
                    if parts.len() >= 2 {
                        let lo_open = matches!(first, Tok::LParen | Tok::LBrack);
                        let hi_close = matches!(last, Tok::RParen | Tok::RBrack);
                        if parts.len() == 2 && lo_open && hi_close && !(*first == Tok::LParen && *last == Tok::RParen) {
                            let lo = self.expr(parts[0], depth + 1)?;
                            let hi = self.expr(parts[1], depth + 1)?;
                            return Ok(Answer::Interval {
                                lo,
                                hi,
                                lo_closed: *first == Tok::LBrack,
                                hi_closed: *last == Tok::RBrack,
                            });
                        }
                        let mut items = Vec::new();
                        for p in parts {
                            if p.is_empty() {
                                return syn("empty tuple entry");
                            }
                            items.push(self.item(p, depth + 1)?);
                        }
                        return Ok(Answer::Tuple(items, *first == Tok::LParen));
                    }
                }
            }
        }
        Ok(Answer::Expr(self.expr(toks, depth + 1)?))
    }

    fn matrix(&mut self, env: &str, inner: &[Tok], depth: usize) -> PResult<Answer> {
        if !env.ends_with("matrix") && env != "array" {
            return syn(format!("unsupported environment {env}"));
        }
        let mut rows = Vec::new();
        for row in split_top(inner, |t| *t == Tok::RowSep) {
            if row.is_empty() {
                continue;
            }
            let mut cells = Vec::new();
            for cell in split_top(row, |t| *t == Tok::Amp) {
                cells.push(self.item(cell, depth + 1)?);
            }
            rows.push(cells);
        }
        if rows.is_empty() {
            return syn("empty matrix");
        }
        if env == "vmatrix" {
            // |a b; c d| is a determinant
            return Ok(Answer::Expr(determinant(&rows)?));
        }
        Ok(Answer::Matrix(rows))
    }

    fn expr(&mut self, toks: &[Tok], depth: usize) -> PResult<Expr> {
        let mut p = ExprParser {
            toks: toks.to_vec(),
            pos: 0,
            depth,
            lim: self.lim,
            abs_depth: 0,
            percent: false,
            func_depth: 0,
            degrees: false,
        };
        let e = p.sum()?;
        if p.pos < p.toks.len() {
            return syn(format!("unexpected {:?}", p.toks[p.pos]));
        }
        if p.percent {
            self.percent = true;
        }
        Ok(e)
    }
}

pub fn tok_text(t: &Tok) -> String {
    match t {
        Tok::Num(s) | Tok::Ident(s) | Tok::Word(s) => s.clone(),
        Tok::Cmd(s) => format!("\\{s}"),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::Comma => ",".into(),
        Tok::Minus => "-".into(),
        Tok::Plus => "+".into(),
        _ => String::new(),
    }
}

/// A function head `f(x)`, `g(t)`, `h(x, y)`, `f^{-1}(x)`: a letter (not the constants e, i) and a
/// parenthesised list of letters. Returns its name, e.g. `f(x)`.
pub fn func_head(p: &[Tok]) -> Option<String> {
    let name = match p.first() {
        Some(Tok::Ident(f)) if f.len() == 1 && f != "e" && f != "i" && f.chars().all(|c| c.is_ascii_alphabetic()) => f.clone(),
        _ => return None,
    };
    let mut k = 1;
    let mut head = name;
    if p.get(1) == Some(&Tok::Caret) {
        match p.get(2..7) {
            Some([Tok::LBrace, Tok::Minus, Tok::Num(one), Tok::RBrace, Tok::LParen]) if one == "1" => {
                head.push_str("^{-1}");
                k = 6;
            }
            _ => return None,
        }
    }
    if p.get(k) != Some(&Tok::LParen) || p.last() != Some(&Tok::RParen) {
        return None;
    }
    let inner = &p[k + 1..p.len() - 1];
    if inner.is_empty() {
        return None;
    }
    let mut args = Vec::new();
    for (j, t) in inner.iter().enumerate() {
        match (j % 2, t) {
            (0, Tok::Ident(v)) => args.push(v.clone()),
            (1, Tok::Comma) => {}
            _ => return None,
        }
    }
    if inner.len().is_multiple_of(2) {
        return None;
    }
    Some(format!("{head}({})", args.join(",")))
}

/// A name: one letter, optionally subscripted (`x`, `x_1`, `a_{n}`), or a decorated one.
fn is_name(p: &[Tok]) -> bool {
    match p {
        [Tok::Ident(_)] => true,
        [Tok::Ident(_), Tok::Underscore, rest @ ..] => matches!(rest, [Tok::Num(_)] | [Tok::Ident(_)])
            || (rest.first() == Some(&Tok::LBrace) && rest.last() == Some(&Tok::RBrace) && rest.len() <= 6),
        _ => false,
    }
}

/// `(p, q)`, `(x, y, z)`: a parenthesised tuple of two or more names; or a ratio of names
/// (`A:B`, `V_1:V_2`).
fn is_name_tuple(p: &[Tok]) -> bool {
    let ratio = split_top(p, |t| *t == Tok::Colon);
    if ratio.len() >= 2 && ratio.iter().all(|x| is_name(x)) {
        return true;
    }
    if p.len() < 5 || p[0] != Tok::LParen || *p.last().unwrap() != Tok::RParen || matching_close(p) != Some(p.len() - 1) {
        return false;
    }
    let parts = split_top(&p[1..p.len() - 1], |t| *t == Tok::Comma);
    parts.len() >= 2 && parts.iter().all(|x| is_name(x))
}

/// Canonical text of a subscript token: `x_0` and `x_{0}` name the same symbol.
fn sub_key(t: &Tok) -> String {
    match t {
        Tok::Num(s) | Tok::Ident(s) | Tok::Word(s) => s.clone(),
        Tok::Cmd(c) => format!("\\{c}"),
        Tok::Plus => "+".into(),
        Tok::Minus => "-".into(),
        Tok::Comma => ",".into(),
        Tok::Star => "*".into(),
        Tok::Slash => "/".into(),
        Tok::Caret => "^".into(),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        other => format!("{other:?}"),
    }
}

/// Text comparison form: lowercase, alphanumerics only.
pub fn norm_text(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(|c| c.to_lowercase()).collect()
}

struct ExprParser<'l> {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
    lim: &'l Limits,
    abs_depth: usize,
    percent: bool,
    /// Inside a function's argument: a degree sign there means times pi/180.
    func_depth: usize,
    /// A degree sign was dropped after a value outside any function (`30^\circ`).
    degrees: bool,
}

fn bx(e: Expr) -> Box<Expr> {
    Box::new(e)
}

impl<'l> ExprParser<'l> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == Some(t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, t: &Tok) -> PResult<()> {
        if self.eat(t) {
            Ok(())
        } else {
            syn(format!("expected {:?}, found {:?}", t, self.peek()))
        }
    }
    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return syn("nested too deeply");
        }
        if self.lim.expired() {
            return Err(ParseError::Timeout);
        }
        Ok(())
    }
    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn sum(&mut self) -> PResult<Expr> {
        self.enter()?;
        let mut acc = self.term()?;
        loop {
            match self.peek() {
                Some(Tok::Plus) => {
                    self.pos += 1;
                    let r = self.term()?;
                    acc = Expr::Add(bx(acc), bx(r));
                }
                Some(Tok::Minus) => {
                    self.pos += 1;
                    let r = self.term()?;
                    acc = Expr::Sub(bx(acc), bx(r));
                }
                Some(Tok::PlusMinus) => {
                    self.pos += 1;
                    let r = self.term()?;
                    acc = Expr::Pm(bx(acc), bx(r));
                }
                _ => break,
            }
        }
        self.leave();
        Ok(acc)
    }

    fn starts_factor(&self) -> bool {
        match self.peek() {
            Some(Tok::Num(_)) | Some(Tok::Ident(_)) | Some(Tok::LParen) | Some(Tok::LBrace) | Some(Tok::Infty) => true,
            Some(Tok::LBrack) => true,
            Some(Tok::Pipe) => self.abs_depth == 0,
            Some(Tok::Cmd(c)) => !matches!(c.as_str(), "rfloor" | "rceil" | "right" | "overline"),
            _ => false,
        }
    }

    fn term(&mut self) -> PResult<Expr> {
        self.enter()?;
        let start = self.pos;
        let mut acc = self.unary()?;
        // mixed number: an integer literal directly followed by \frac of two integer literals
        // (`1\frac{4}{5}` = 9/5, `-2\frac12` = -5/2), the MATH convention
        if self.peek() == Some(&Tok::Cmd("frac".into())) && is_int_lit(&acc) && self.pos == start + 1 + usize::from(matches!(acc, Expr::Neg(_))) {
            let save = self.pos;
            let saved_toks = self.toks.clone(); // arg() may split digit tokens in place
            self.pos += 1;
            let a = self.arg()?;
            let b = self.arg()?;
            if is_int_lit(&a) && is_int_lit(&b) && !matches!(a, Expr::Neg(_)) && !matches!(b, Expr::Neg(_)) && self.peek().is_none_or(|t| !matches!(t, Tok::Caret)) {
                let frac = Expr::Div(bx(a), bx(b));
                acc = match acc {
                    Expr::Neg(x) => Expr::Neg(bx(Expr::Add(x, bx(frac)))),
                    x => Expr::Add(bx(x), bx(frac)),
                };
            } else {
                self.pos = save;
                self.toks = saved_toks;
            }
        }
        loop {
            match self.peek() {
                Some(Tok::Star) => {
                    self.pos += 1;
                    let r = self.unary()?;
                    acc = Expr::Mul(bx(acc), bx(r));
                }
                Some(Tok::Slash) => {
                    self.pos += 1;
                    let r = self.unary()?;
                    acc = Expr::Div(bx(acc), bx(r));
                }
                _ if self.starts_factor() => {
                    let r = self.power()?;
                    acc = Expr::Mul(bx(acc), bx(r));
                }
                _ => break,
            }
        }
        self.leave();
        Ok(acc)
    }

    fn unary(&mut self) -> PResult<Expr> {
        self.enter()?;
        let r = match self.peek() {
            Some(Tok::Minus) => {
                self.pos += 1;
                Expr::Neg(bx(self.unary()?))
            }
            Some(Tok::Plus) => {
                self.pos += 1;
                self.unary()?
            }
            Some(Tok::PlusMinus) => {
                self.pos += 1;
                let r = self.unary()?;
                Expr::Pm(bx(Expr::Num(BigRational::zero())), bx(r))
            }
            _ => self.power()?,
        };
        self.leave();
        Ok(r)
    }

    fn power(&mut self) -> PResult<Expr> {
        self.enter()?;
        let base = self.postfix()?;
        let r = if self.eat(&Tok::Caret) {
            let e = self.exponent()?;
            let p = Expr::Pow(bx(base), bx(e));
            // factorial after a power is rare; percent after a power
            self.post_ops(p)?
        } else {
            base
        };
        self.leave();
        Ok(r)
    }

    fn exponent(&mut self) -> PResult<Expr> {
        self.enter()?;
        let r = match self.peek() {
            Some(Tok::Minus) => {
                self.pos += 1;
                Expr::Neg(bx(self.exponent()?))
            }
            Some(Tok::Plus) => {
                self.pos += 1;
                self.exponent()?
            }
            _ => {
                let b = self.postfix()?;
                if self.eat(&Tok::Caret) {
                    let e = self.exponent()?;
                    Expr::Pow(bx(b), bx(e))
                } else {
                    b
                }
            }
        };
        self.leave();
        Ok(r)
    }

    fn post_ops(&mut self, mut e: Expr) -> PResult<Expr> {
        loop {
            match self.peek() {
                Some(Tok::Bang) => {
                    self.pos += 1;
                    e = Expr::Factorial(bx(e));
                }
                Some(Tok::Percent) => {
                    self.pos += 1;
                    self.percent = true;
                }
                Some(Tok::Degree) => {
                    self.pos += 1;
                    if self.func_depth > 0 {
                        // `\cos 13^\circ`: the angle in radians
                        let k = Expr::Div(bx(Expr::Const(Const::Pi)), bx(Expr::Num(BigRational::from_integer(BigInt::from(180)))));
                        e = Expr::Mul(bx(e), bx(k));
                    } else {
                        self.degrees = true;
                    }
                }
                _ => break,
            }
        }
        Ok(e)
    }

    fn postfix(&mut self) -> PResult<Expr> {
        self.enter()?;
        let mut e = self.primary()?;
        loop {
            match self.peek() {
                Some(Tok::Underscore) => {
                    self.pos += 1;
                    let sub = self.sub_text()?;
                    e = match e {
                        Expr::Var(n) => Expr::Var(format!("{n}_{sub}")),
                        other => other,
                    };
                }
                Some(Tok::Bang) | Some(Tok::Percent) | Some(Tok::Degree) => {
                    e = self.post_ops(e)?;
                }
                _ => break,
            }
        }
        self.leave();
        Ok(e)
    }

    /// The text of a subscript: `_1`, `_{10}`, `_{n+1}`.
    fn sub_text(&mut self) -> PResult<String> {
        match self.next() {
            Some(Tok::LBrace) => {
                let mut depth = 1;
                let mut s = String::new();
                while let Some(t) = self.next() {
                    match t {
                        Tok::LBrace => depth += 1,
                        Tok::RBrace => {
                            depth -= 1;
                            if depth == 0 {
                                return Ok(s);
                            }
                        }
                        _ => {}
                    }
                    s.push_str(&sub_key(&t));
                }
                syn("unclosed subscript")
            }
            Some(Tok::Num(n)) => {
                // `x_12` in LaTeX subscripts only the first digit; keep the rest as a factor
                let first: String = n.chars().take(1).collect();
                if n.len() > 1 {
                    self.pos -= 1;
                    self.toks[self.pos] = Tok::Num(n[1..].to_string());
                }
                Ok(first)
            }
            Some(t) => Ok(sub_key(&t)),
            None => syn("missing subscript"),
        }
    }

    /// A macro argument: `{...}`, or a single token (`\frac12` takes one digit at a time).
    fn arg(&mut self) -> PResult<Expr> {
        self.enter()?;
        let r = match self.peek().cloned() {
            Some(Tok::LBrace) => {
                self.pos += 1;
                let e = self.sum()?;
                self.expect(&Tok::RBrace)?;
                e
            }
            Some(Tok::Num(n)) => {
                self.pos += 1;
                let first: String = n.chars().take(1).collect();
                if n.len() > 1 {
                    self.pos -= 1;
                    self.toks[self.pos] = Tok::Num(n[1..].to_string());
                }
                num_lit(&first)?
            }
            Some(_) => self.primary()?,
            None => return syn("missing argument"),
        };
        self.leave();
        Ok(r)
    }

    fn group_until(&mut self, close: &Tok) -> PResult<Expr> {
        let e = self.sum()?;
        self.expect(close)?;
        Ok(e)
    }

    fn primary(&mut self) -> PResult<Expr> {
        self.enter()?;
        let t = match self.next() {
            Some(t) => t,
            None => return syn("unexpected end"),
        };
        let r = match t {
            Tok::Num(s) if self.peek() == Some(&Tok::Underscore) && s.bytes().all(|b| b.is_ascii_digit()) => {
                // a number in a base: `52_8`, `1011_{2}`, `25_{10}`
                let save = self.pos;
                self.pos += 1;
                let b = match (self.next(), self.peek().cloned()) {
                    (Some(Tok::Num(b)), _) => Some(b),
                    (Some(Tok::LBrace), Some(Tok::Num(b))) => {
                        self.pos += 1;
                        self.expect(&Tok::RBrace)?;
                        Some(b)
                    }
                    _ => None,
                };
                match b {
                    Some(b) => base_number(&s, &b)?,
                    None => {
                        // not a base (`5_{x}`): the subscript is dropped, as before
                        self.pos = save;
                        num_lit(&s)?
                    }
                }
            }
            Tok::Num(s) => {
                let mut v = num_lit(&s)?;
                // repeating decimal: 0.\overline{3}
                if self.peek() == Some(&Tok::Cmd("overline".into())) {
                    self.pos += 1;
                    v = self.repeating(&s)?;
                }
                v
            }
            Tok::Ident(s) => match s.as_str() {
                "e" => Expr::Const(Const::E),
                "i" => Expr::Const(Const::I),
                "π" => Expr::Const(Const::Pi),
                _ => Expr::Var(s),
            },
            Tok::Infty => Expr::Const(Const::Inf),
            Tok::LParen => self.group_until(&Tok::RParen)?,
            Tok::LBrack => self.group_until(&Tok::RBrack)?,
            Tok::LBrace => self.group_until(&Tok::RBrace)?,
            Tok::Pipe => {
                self.abs_depth += 1;
                let e = self.sum()?;
                self.abs_depth -= 1;
                self.expect(&Tok::Pipe)?;
                Expr::Func(Func::Abs, bx(e))
            }
            Tok::Cmd(c) => self.command(&c)?,
            other => return syn(format!("unexpected {:?}", other)),
        };
        self.leave();
        Ok(r)
    }

    fn repeating(&mut self, s: &str) -> PResult<Expr> {
        // read the repeated digits
        let digits = match self.next() {
            Some(Tok::LBrace) => match (self.next(), self.next()) {
                (Some(Tok::Num(d)), Some(Tok::RBrace)) => d,
                _ => return syn("bad \\overline"),
            },
            Some(Tok::Num(d)) => d[..1].to_string(),
            _ => return syn("bad \\overline"),
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 50 {
            return syn("bad \\overline digits");
        }
        let a = parse_decimal(s).ok_or_else(|| ParseError::Syntax("bad number".into()))?;
        let k = s.find('.').map_or(0, |d| s.len() - d - 1);
        let r: BigInt = digits.parse().unwrap();
        let den = num_traits::pow(BigInt::from(10), k) * (num_traits::pow(BigInt::from(10), digits.len()) - BigInt::one());
        Ok(Expr::Num(a + BigRational::new(r, den)))
    }

    fn func_arg(&mut self) -> PResult<Expr> {
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.sum()?;
            self.expect(&Tok::RParen)?;
            // `\sin(x)^2` is rare; return the group
            return Ok(e);
        }
        // `\sin x`, `\sin 2x`: a product of factors without operators
        let mut acc = self.power()?;
        while matches!(self.peek(), Some(Tok::Ident(_)) | Some(Tok::Num(_))) {
            let r = self.power()?;
            acc = Expr::Mul(bx(acc), bx(r));
        }
        Ok(acc)
    }

    fn command(&mut self, c: &str) -> PResult<Expr> {
        let func = |f: Func| f;
        let f = match c {
            "frac" => {
                let a = self.arg()?;
                let b = self.arg()?;
                return Ok(Expr::Div(bx(a), bx(b)));
            }
            "binom" | "choose" => {
                let a = self.arg()?;
                let b = self.arg()?;
                return Ok(Expr::Binom(bx(a), bx(b)));
            }
            "sqrt" => {
                let idx = if self.eat(&Tok::LBrack) {
                    let e = self.sum()?;
                    self.expect(&Tok::RBrack)?;
                    e
                } else {
                    Expr::Num(BigRational::from_integer(BigInt::from(2)))
                };
                let a = self.arg()?;
                return Ok(Expr::Root(bx(idx), bx(a)));
            }
            "pi" => return Ok(Expr::Const(Const::Pi)),
            "infty" => return Ok(Expr::Const(Const::Inf)),
            "e" => return Ok(Expr::Const(Const::E)),
            "lfloor" => {
                let e = self.sum()?;
                self.expect(&Tok::Cmd("rfloor".into()))?;
                return Ok(Expr::Func(Func::Floor, bx(e)));
            }
            "lceil" => {
                let e = self.sum()?;
                self.expect(&Tok::Cmd("rceil".into()))?;
                return Ok(Expr::Func(Func::Ceil, bx(e)));
            }
            "log" | "lg" => {
                let base = if self.eat(&Tok::Underscore) { Some(bx(self.arg()?)) } else { None };
                let pow = if self.eat(&Tok::Caret) { Some(self.exponent()?) } else { None };
                self.func_depth += 1;
                let a = self.func_arg()?;
                self.func_depth -= 1;
                let l = Expr::Log(base.or(Some(bx(Expr::Num(BigRational::from_integer(BigInt::from(10)))))), bx(a));
                return Ok(match pow {
                    Some(p) => Expr::Pow(bx(l), bx(p)),
                    None => l,
                });
            }
            "sin" => func(Func::Sin),
            "cos" => Func::Cos,
            "tan" => Func::Tan,
            "cot" => Func::Cot,
            "sec" => Func::Sec,
            "csc" => Func::Csc,
            "arcsin" => Func::Asin,
            "arccos" => Func::Acos,
            "arctan" => Func::Atan,
            "sinh" => Func::Sinh,
            "cosh" => Func::Cosh,
            "tanh" => Func::Tanh,
            "exp" => Func::Exp,
            "ln" => Func::Ln,
            "overline" | "hat" | "vec" | "bar" | "widehat" | "tilde" | "dot" => {
                // decorated symbol: a variable named after the decoration
                let a = self.arg()?;
                return Ok(match a {
                    Expr::Var(n) => Expr::Var(format!("{c}_{n}")),
                    other => other,
                });
            }
            "angle" | "triangle" | "deg" => return syn(format!("unsupported \\{c}")),
            other => {
                if other.chars().all(|ch| ch.is_ascii_alphabetic()) && other.len() <= 12 {
                    // greek letters and other symbols are variables
                    return Ok(Expr::Var(format!("\\{other}")));
                }
                return syn(format!("unsupported \\{other}"));
            }
        };
        let pow = if self.eat(&Tok::Caret) { Some(self.exponent()?) } else { None };
        self.func_depth += 1;
        let a = self.func_arg()?;
        self.func_depth -= 1;
        let e = Expr::Func(f, bx(a));
        Ok(match pow {
            // \sin^{-1} x is arcsin
            Some(Expr::Neg(ref one)) if matches!(**one, Expr::Num(ref n) if n.is_one()) => match e {
                Expr::Func(Func::Sin, a) => Expr::Func(Func::Asin, a),
                Expr::Func(Func::Cos, a) => Expr::Func(Func::Acos, a),
                Expr::Func(Func::Tan, a) => Expr::Func(Func::Atan, a),
                other => Expr::Pow(bx(other), bx(Expr::Neg(bx(Expr::Num(BigRational::one()))))),
            },
            Some(p) => Expr::Pow(bx(e), bx(p)),
            None => e,
        })
    }
}

fn is_int_lit(e: &Expr) -> bool {
    match e {
        Expr::Num(r) => r.is_integer(),
        Expr::Neg(x) => matches!(&**x, Expr::Num(r) if r.is_integer()),
        _ => false,
    }
}

/// The determinant of a square matrix of scalars (up to 6 x 6), as an expression (Laplace
/// expansion along the first row).
fn determinant(rows: &[Vec<Answer>]) -> PResult<Expr> {
    let n = rows.len();
    if n > 6 || rows.iter().any(|r| r.len() != n) {
        return syn("determinant of a non-square or too large matrix");
    }
    let mut cells: Vec<Vec<Expr>> = Vec::with_capacity(n);
    for r in rows {
        let mut row = Vec::with_capacity(n);
        for c in r {
            match c {
                Answer::Expr(e) => row.push(e.clone()),
                _ => return syn("determinant of non-scalar entries"),
            }
        }
        cells.push(row);
    }
    fn det(m: &[Vec<Expr>]) -> Expr {
        let n = m.len();
        if n == 1 {
            return m[0][0].clone();
        }
        let mut acc: Option<Expr> = None;
        for j in 0..n {
            let minor: Vec<Vec<Expr>> =
                m[1..].iter().map(|r| r.iter().enumerate().filter(|(k, _)| *k != j).map(|(_, e)| e.clone()).collect()).collect();
            let term = Expr::Mul(bx(m[0][j].clone()), bx(det(&minor)));
            acc = Some(match acc {
                None => term,
                Some(a) if j % 2 == 1 => Expr::Sub(bx(a), bx(term)),
                Some(a) => Expr::Add(bx(a), bx(term)),
            });
        }
        acc.unwrap()
    }
    Ok(det(&cells))
}

/// `digits` read in base `base` (2..=36; digits must be below the base).
fn base_number(digits: &str, base: &str) -> PResult<Expr> {
    let b: u32 = match base.parse() {
        Ok(b) if (2..=36).contains(&b) => b,
        _ => return syn(format!("bad base {base}")),
    };
    if digits.len() > 2_000 {
        return syn("number too long");
    }
    match BigInt::parse_bytes(digits.as_bytes(), b) {
        Some(v) => Ok(Expr::Num(BigRational::from_integer(v))),
        None => syn(format!("{digits} is not a base-{b} number")),
    }
}

/// A non-negative integer's decimal digits read in another base (`52` as base 8 is 42).
pub fn reread_in_base(a: &Answer, base: u32) -> Option<Answer> {
    match a {
        Answer::Expr(Expr::Num(r)) if r.is_integer() && !r.is_negative() => {
            let digits = r.to_integer().to_string();
            BigInt::parse_bytes(digits.as_bytes(), base).map(|v| Answer::Expr(Expr::Num(BigRational::from_integer(v))))
        }
        _ => None,
    }
}

fn num_lit(s: &str) -> PResult<Expr> {
    if s.len() > 2_000 {
        return syn("number too long");
    }
    match parse_decimal(s) {
        Some(r) => Ok(Expr::Num(r)),
        None => syn(format!("bad number {s}")),
    }
}
