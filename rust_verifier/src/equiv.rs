//! Evaluation of expressions and equivalence of answers.
//!
//! Scalars: expressions without variables are evaluated once (exactly where rational); with
//! variables they are evaluated at several fixed pseudo-random rational points (the same points for
//! both sides), exactly where the arithmetic stays rational. Structures compare by their kind:
//! tuples in order, sets / bare lists / unions as multisets, intervals by endpoints and closedness,
//! matrices by shape and entries, equations up to a non-zero factor, inequalities up to a positive
//! factor or as intervals when they bound one variable.

use crate::error::Limits;
use crate::lex::RelOp;
use crate::num::{num_eq, EvalError, NResult, Num};
use crate::parse::{Answer, Const, Expr, Func};
use num_bigint::BigInt;
use num_complex::Complex64;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive};
use std::collections::BTreeSet;

#[derive(Debug, PartialEq, Eq)]
pub struct Timeout;

type Env<'a> = &'a [(String, Num)];

pub fn eval(e: &Expr, env: Env, lim: &Limits, depth: usize) -> NResult {
    if depth > 2_500 {
        return Err(EvalError::Unsupported("too deep"));
    }
    if depth.is_multiple_of(8) && lim.expired() {
        return Err(EvalError::Timeout);
    }
    let d = depth + 1;
    Ok(match e {
        Expr::Num(r) => Num::Rat(r.clone()),
        Expr::Const(c) => match c {
            Const::Pi => Num::real(std::f64::consts::PI),
            Const::E => Num::real(std::f64::consts::E),
            Const::I => Num::Cx(Complex64::new(0.0, 1.0)),
            Const::Inf => Num::real(f64::INFINITY),
        },
        Expr::Var(n) => match env.iter().find(|(k, _)| k == n) {
            Some((_, v)) => v.clone(),
            None => return Err(EvalError::Unsupported("free variable")),
        },
        Expr::Neg(a) => eval(a, env, lim, d)?.neg(),
        Expr::Add(a, b) => eval(a, env, lim, d)?.add(&eval(b, env, lim, d)?),
        Expr::Sub(a, b) => eval(a, env, lim, d)?.sub(&eval(b, env, lim, d)?),
        Expr::Pm(_, _) => return Err(EvalError::Unsupported("unexpanded ±")),
        Expr::Mul(a, b) => eval(a, env, lim, d)?.mul(&eval(b, env, lim, d)?),
        Expr::Div(a, b) => eval(a, env, lim, d)?.div(&eval(b, env, lim, d)?)?,
        Expr::Pow(a, b) => eval(a, env, lim, d)?.pow(&eval(b, env, lim, d)?)?,
        Expr::Root(q, a) => {
            let q = eval(q, env, lim, d)?;
            let a = eval(a, env, lim, d)?;
            match q.as_rat() {
                Some(r) if r.is_integer() && r.is_positive() && r.to_integer() <= BigInt::from(64) => {
                    a.root(r.to_integer().to_u64().unwrap())?
                }
                _ => a.pow(&Num::int(1).div(&q)?)?,
            }
        }
        Expr::Log(base, a) => {
            let x = eval(a, env, lim, d)?;
            let b = match base {
                Some(b) => eval(b, env, lim, d)?,
                None => Num::real(std::f64::consts::E),
            };
            log(&b, &x)?
        }
        Expr::Func(f, a) => func(*f, &eval(a, env, lim, d)?)?,
        Expr::Factorial(a) => eval(a, env, lim, d)?.factorial()?,
        Expr::Binom(a, b) => eval(a, env, lim, d)?.binom(&eval(b, env, lim, d)?)?,
    })
}

pub fn log(b: &Num, x: &Num) -> NResult {
    if x.is_zero() {
        return Err(EvalError::Domain("log of zero"));
    }
    // exact when x is an integer power of a rational base
    if let (Num::Rat(br), Num::Rat(xr)) = (b, x) {
        if br.is_positive() && xr.is_positive() && !br.is_one() {
            let k = (xr.to_f64().unwrap_or(f64::NAN)).ln() / (br.to_f64().unwrap_or(f64::NAN)).ln();
            if k.is_finite() && k.abs() < 10_000.0 && (k - k.round()).abs() < 1e-9 {
                let ki = k.round() as i64;
                if let Ok(Num::Rat(p)) = b.pow(&Num::int(ki)) {
                    if &p == xr {
                        return Ok(Num::int(ki));
                    }
                }
            }
        }
    }
    let lb = clog(b.to_c());
    if lb.norm() == 0.0 {
        return Err(EvalError::Domain("log base 1"));
    }
    Ok(Num::Cx(clog(x.to_c()) / lb))
}

fn clog(c: Complex64) -> Complex64 {
    if c.im == 0.0 && c.re > 0.0 {
        Complex64::new(c.re.ln(), 0.0)
    } else {
        c.ln()
    }
}

fn func(f: Func, x: &Num) -> NResult {
    match f {
        Func::Abs => return Ok(x.abs()),
        Func::Floor => return x.floor(),
        Func::Ceil => return x.ceil(),
        _ => {}
    }
    if x.is_zero() {
        match f {
            Func::Sin | Func::Tan | Func::Asin | Func::Atan | Func::Sinh | Func::Tanh => return Ok(Num::int(0)),
            Func::Cos | Func::Cosh | Func::Exp => return Ok(Num::int(1)),
            _ => {}
        }
    }
    let c = x.to_c();
    if c.im == 0.0 {
        let v = c.re;
        let real = match f {
            Func::Sin => Some(v.sin()),
            Func::Cos => Some(v.cos()),
            Func::Tan => Some(v.tan()),
            Func::Cot => Some(1.0 / v.tan()),
            Func::Sec => Some(1.0 / v.cos()),
            Func::Csc => Some(1.0 / v.sin()),
            Func::Asin if v.abs() <= 1.0 => Some(v.asin()),
            Func::Acos if v.abs() <= 1.0 => Some(v.acos()),
            Func::Atan => Some(v.atan()),
            Func::Sinh => Some(v.sinh()),
            Func::Cosh => Some(v.cosh()),
            Func::Tanh => Some(v.tanh()),
            Func::Exp => Some(v.exp()),
            Func::Ln if v > 0.0 => Some(v.ln()),
            _ => None,
        };
        if let Some(r) = real {
            return Ok(Num::real(r));
        }
    }
    let one = Complex64::new(1.0, 0.0);
    Ok(Num::Cx(match f {
        Func::Sin => c.sin(),
        Func::Cos => c.cos(),
        Func::Tan => c.tan(),
        Func::Cot => one / c.tan(),
        Func::Sec => one / c.cos(),
        Func::Csc => one / c.sin(),
        Func::Asin => c.asin(),
        Func::Acos => c.acos(),
        Func::Atan => c.atan(),
        Func::Sinh => c.sinh(),
        Func::Cosh => c.cosh(),
        Func::Tanh => c.tanh(),
        Func::Exp => c.exp(),
        Func::Ln => c.ln(),
        Func::Abs | Func::Floor | Func::Ceil => unreachable!(),
    }))
}

pub fn vars(e: &Expr, out: &mut BTreeSet<String>) {
    if let Expr::Var(n) = e {
        out.insert(n.clone());
    }
    for c in e.children() {
        vars(c, out);
    }
}

fn has_pm(e: &Expr) -> bool {
    e.any_node(&|x| matches!(x, Expr::Pm(_, _)))
}

/// All sign choices of the first `±` (recursively), at most 8 expressions.
fn expand_pm(e: &Expr) -> Vec<Expr> {
    if !has_pm(e) {
        return vec![e.clone()];
    }
    fn go(e: &Expr, plus: bool, done: &mut bool) -> Expr {
        let bx = Box::new;
        match e {
            Expr::Pm(a, b) if !*done => {
                *done = true;
                if plus {
                    Expr::Add(a.clone(), b.clone())
                } else {
                    Expr::Sub(a.clone(), b.clone())
                }
            }
            Expr::Neg(a) => Expr::Neg(bx(go(a, plus, done))),
            Expr::Func(f, a) => Expr::Func(*f, bx(go(a, plus, done))),
            Expr::Factorial(a) => Expr::Factorial(bx(go(a, plus, done))),
            Expr::Add(a, b) => Expr::Add(bx(go(a, plus, done)), bx(go(b, plus, done))),
            Expr::Sub(a, b) => Expr::Sub(bx(go(a, plus, done)), bx(go(b, plus, done))),
            Expr::Pm(a, b) => Expr::Pm(bx(go(a, plus, done)), bx(go(b, plus, done))),
            Expr::Mul(a, b) => Expr::Mul(bx(go(a, plus, done)), bx(go(b, plus, done))),
            Expr::Div(a, b) => Expr::Div(bx(go(a, plus, done)), bx(go(b, plus, done))),
            Expr::Pow(a, b) => Expr::Pow(bx(go(a, plus, done)), bx(go(b, plus, done))),
            Expr::Root(a, b) => Expr::Root(bx(go(a, plus, done)), bx(go(b, plus, done))),
            Expr::Binom(a, b) => Expr::Binom(bx(go(a, plus, done)), bx(go(b, plus, done))),
            other => other.clone(),
        }
    }
    let mut out = Vec::new();
    for plus in [true, false] {
        let mut done = false;
        let x = go(e, plus, &mut done);
        for y in expand_pm(&x) {
            if out.len() < 8 {
                out.push(y);
            }
        }
    }
    out
}

/// Fixed pseudo-random rational points for the variables (deterministic).
fn point(j: usize, k: usize) -> Num {
    let mut h: u64 = (j as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (k as u64 + 1).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    h ^= h >> 29;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 32;
    let num = (h % 61) as i64 - 30;
    let num = if num == 0 { 7 } else { num };
    let den = ((h >> 8) % 11) as i64 + 2;
    Num::Rat(BigRational::new(BigInt::from(num * 3 + 1), BigInt::from(den)))
}

const N_POINTS: usize = 5;

pub struct Comparer<'l> {
    pub lim: &'l Limits,
    /// Set when some scalar comparison found two values it could not tell apart but could not
    /// certify equal either (values beyond the precision ceiling, or overflowing f64): that
    /// comparison counted as "not equal", and a final "not equal" is then `undecided`.
    pub undecided: std::cell::Cell<bool>,
}

/// The value overflowed or is too large for the f64 comparison to mean anything.
fn too_large(x: &Num) -> bool {
    let c = x.to_c();
    !(c.re.is_finite() && c.im.is_finite()) || c.norm() > 1e200
}

fn has_inf(e: &Expr) -> bool {
    e.any_node(&|x| matches!(x, Expr::Const(Const::Inf)))
}

impl<'l> Comparer<'l> {
    pub fn new(lim: &'l Limits) -> Self {
        Comparer { lim, undecided: std::cell::Cell::new(false) }
    }

    fn check(&self) -> Result<(), Timeout> {
        if self.lim.expired() {
            Err(Timeout)
        } else {
            Ok(())
        }
    }

    fn ev(&self, e: &Expr, env: Env) -> Result<Option<Num>, Timeout> {
        match eval(e, env, self.lim, 0) {
            Ok(v) => Ok(Some(v)),
            Err(EvalError::Timeout) => Err(Timeout),
            Err(_) => Ok(None),
        }
    }

    /// Two evaluated values of `a` and `b` (at `env`): exact when both are rational; else certified
    /// by ball arithmetic ([`crate::ball`]); f64 at 1e-9 relative only where the balls cannot
    /// decide (complex logs and trig, infinities, ill-conditioned values).
    fn values_eq(&self, a: &Expr, b: &Expr, env: Env, x: &Num, y: &Num) -> Result<bool, Timeout> {
        if let (Num::Rat(p), Num::Rat(q)) = (x, y) {
            return Ok(p == q);
        }
        use crate::ball::Cert;
        match crate::ball::certified_cmp(a, b, env, self.lim) {
            Some(Cert::Equal) => Ok(true),
            Some(Cert::Different) => Ok(false),
            Some(Cert::Undecided) => {
                self.undecided.set(true);
                Ok(false)
            }
            None => {
                self.check()?;
                let eq = num_eq(x, y);
                // overflowing values (`10^{10^{10}}+1` vs `10^{10^{10}}`) look equal in f64:
                // not certified (a written infinity is another matter)
                if eq && (too_large(x) || too_large(y)) && !has_inf(a) && !has_inf(b) {
                    self.undecided.set(true);
                    return Ok(false);
                }
                Ok(eq)
            }
        }
    }

    /// Scalar expressions equal as functions of their variables.
    pub fn expr_eq(&self, a: &Expr, b: &Expr) -> Result<bool, Timeout> {
        self.check()?;
        if has_pm(a) || has_pm(b) {
            let xa: Vec<Answer> = expand_pm(a).into_iter().map(Answer::Expr).collect();
            let xb: Vec<Answer> = expand_pm(b).into_iter().map(Answer::Expr).collect();
            return self.multiset_eq(&xa, &xb);
        }
        let mut vs = BTreeSet::new();
        vars(a, &mut vs);
        vars(b, &mut vs);
        if vs.is_empty() {
            let (va, vb) = (self.ev(a, &[])?, self.ev(b, &[])?);
            return Ok(match (va, vb) {
                (Some(x), Some(y)) => self.values_eq(a, b, &[], &x, &y)?,
                _ => false,
            });
        }
        if vs.len() > 16 {
            return Ok(false);
        }
        let names: Vec<String> = vs.into_iter().collect();
        let mut compared = 0;
        for j in 0..N_POINTS + 3 {
            let env: Vec<(String, Num)> = names.iter().enumerate().map(|(k, n)| (n.clone(), point(j, k))).collect();
            let (va, vb) = (self.ev(a, &env)?, self.ev(b, &env)?);
            if let (Some(x), Some(y)) = (va, vb) {
                if !self.values_eq(a, b, &env, &x, &y)? {
                    return Ok(false);
                }
                compared += 1;
                if compared == N_POINTS {
                    break;
                }
            }
        }
        Ok(compared >= 2)
    }

    /// f and g (with variables) differ by a constant non-zero factor (positive if `positive`).
    fn proportional(&self, f: &Expr, g: &Expr, positive: bool) -> Result<bool, Timeout> {
        let mut vs = BTreeSet::new();
        vars(f, &mut vs);
        vars(g, &mut vs);
        let names: Vec<String> = vs.into_iter().collect();
        if names.len() > 16 {
            return Ok(false);
        }
        let mut ratio: Option<Num> = None;
        let mut compared = 0;
        for j in 0..N_POINTS + 3 {
            let env: Vec<(String, Num)> = names.iter().enumerate().map(|(k, n)| (n.clone(), point(j, k))).collect();
            let (fv, gv) = match (self.ev(f, &env)?, self.ev(g, &env)?) {
                (Some(x), Some(y)) => (x, y),
                _ => continue,
            };
            let fz = num_eq(&fv, &Num::int(0));
            let gz = num_eq(&gv, &Num::int(0));
            if fz != gz {
                return Ok(false);
            }
            compared += 1;
            if fz {
                continue;
            }
            let r = match fv.div(&gv) {
                Ok(r) => r,
                Err(_) => return Ok(false),
            };
            if positive && !matches!(r.as_real(), Some(v) if v > 0.0) {
                return Ok(false);
            }
            match &ratio {
                None => ratio = Some(r),
                Some(r0) => {
                    if !num_eq(r0, &r) {
                        return Ok(false);
                    }
                }
            }
            if compared >= N_POINTS {
                break;
            }
        }
        Ok(compared >= 1 && (ratio.is_some() || names.is_empty() || compared >= 2))
    }

    /// Equal as multisets, or (lengths differing) as sets: every member of each side equals some
    /// member of the other (`(3,17,3,7)` listed twice is still the one solution).
    pub fn multiset_eq(&self, a: &[Answer], b: &[Answer]) -> Result<bool, Timeout> {
        if a.len() != b.len() {
            if a.is_empty() || b.is_empty() || a.len() > 64 || b.len() > 64 {
                return Ok(false);
            }
            for (x, ys) in a.iter().map(|x| (x, b)).chain(b.iter().map(|y| (y, a))) {
                let mut found = false;
                for y in ys {
                    let same = if std::ptr::eq(ys, b) { self.eq(x, y)? } else { self.eq(y, x)? };
                    if same {
                        found = true;
                        break;
                    }
                }
                if !found {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        let mut used = vec![false; b.len()];
        for x in a {
            let mut found = false;
            for (k, y) in b.iter().enumerate() {
                if !used[k] && self.eq(x, y)? {
                    used[k] = true;
                    found = true;
                    break;
                }
            }
            if !found {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn ordered_eq(&self, a: &[Answer], b: &[Answer]) -> Result<bool, Timeout> {
        if a.len() != b.len() {
            return Ok(false);
        }
        for (x, y) in a.iter().zip(b) {
            if !self.eq(x, y)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn rel_eq(&self, ea: &[Expr], oa: &[RelOp], eb: &[Expr], ob: &[RelOp]) -> Result<bool, Timeout> {
        // `x = 5+5+1 = 11` vs `x = 11`, `z = 3+3 = 2` vs `z = 1+1 = 2`: chains of `=` that start
        // with the same variable compare by their last values
        let all_eq = |o: &[RelOp]| o.iter().all(|x| *x == RelOp::Eq);
        if (oa.len() > 1 || ob.len() > 1) && all_eq(oa) && all_eq(ob) {
            if let (Expr::Var(va), Expr::Var(vb)) = (&ea[0], &eb[0]) {
                let (la, lb) = (ea.last().unwrap(), eb.last().unwrap());
                if va == vb && free_of_vars(la) && free_of_vars(lb) {
                    return self.expr_eq(la, lb);
                }
            }
        }
        if oa.len() != ob.len() {
            return Ok(false);
        }
        if oa.len() == 1 {
            // x = 3 vs x = 3.0: same variable, equal values
            if oa[0] == RelOp::Eq && ob[0] == RelOp::Eq {
                if let (Some((va, xa)), Some((vb, xb))) = (assignment(ea), assignment(eb)) {
                    // same variable, or a function head on either side (`f(x) = ..` vs `y = ..`)
                    if va == vb || va.contains('(') || vb.contains('(') {
                        return self.expr_eq(xa, xb);
                    }
                }
            }
            return self.single_rel_eq(&ea[0], oa[0], &ea[1], &eb[0], ob[0], &eb[1]);
        }
        // chains: pairwise in the same order or reversed
        let same = (0..oa.len()).try_fold(true, |acc, k| -> Result<bool, Timeout> {
            Ok(acc && self.single_rel_eq(&ea[k], oa[k], &ea[k + 1], &eb[k], ob[k], &eb[k + 1])?)
        })?;
        if same {
            return Ok(true);
        }
        let n = oa.len();
        (0..n).try_fold(true, |acc, k| -> Result<bool, Timeout> {
            let kb = n - 1 - k;
            Ok(acc && self.single_rel_eq(&ea[k], oa[k], &ea[k + 1], &eb[kb], ob[kb], &eb[kb + 1])?)
        })
    }

    fn single_rel_eq(&self, a0: &Expr, oa: RelOp, a1: &Expr, b0: &Expr, ob: RelOp, b1: &Expr) -> Result<bool, Timeout> {
        let (fa, sa) = rel_form(a0, oa, a1);
        let (fb, sb) = rel_form(b0, ob, b1);
        if sa != sb {
            return Ok(false);
        }
        let positive = !matches!(sa, RelOp::Eq | RelOp::Ne);
        self.proportional(&fa, &fb, positive)
    }

    /// The main equivalence on answers (gold first).
    pub fn eq(&self, g: &Answer, p: &Answer) -> Result<bool, Timeout> {
        self.check()?;
        use Answer::*;
        Ok(match (g, p) {
            (Choice(a), Choice(b)) => a == b,
            (Ellipsis, Ellipsis) => true,
            (Ellipsis, _) | (_, Ellipsis) => false,
            (Choice(a), Expr(crate::parse::Expr::Var(v))) => v.len() == 1 && v.starts_with(*a),
            (Text(a), Text(b)) => a == b,
            (Text(_), _) | (_, Text(_)) | (Choice(_), _) | (_, Choice(_)) => false,
            (Expr(a), Expr(b)) => self.expr_eq(a, b)?,
            (Relation(ea, oa), Relation(eb, ob)) => self.rel_eq(ea, oa, eb, ob)?,
            // a relation against a value: an inequality as its interval, an assignment as its
            // value; a prediction may also name an expression (`a+b = 4`), a gold may not (the
            // gold `a^2+b = 0` asks for the equation)
            (Relation(es, ops), other) => {
                if let Some(iv) = rel_interval(es, ops) {
                    return self.eq(&iv, other);
                }
                match assignment_rel(es, ops, false).or_else(|| named_quantity(es, ops)) {
                    Some(x) => self.eq(&Answer::Expr(x.clone()), other)?,
                    None => false,
                }
            }
            (other, Relation(es, ops)) => {
                if let Some(iv) = rel_interval(es, ops) {
                    return self.eq(other, &iv);
                }
                match assignment_rel(es, ops, true) {
                    Some(x) => self.eq(other, &Answer::Expr(x.clone()))?,
                    None => false,
                }
            }
            (Tuple(a, _), Tuple(b, _)) => self.ordered_eq(a, b)?,
            (Tuple(a, true), Interval { lo, hi, lo_closed: false, hi_closed: false })
            | (Interval { lo, hi, lo_closed: false, hi_closed: false }, Tuple(a, true)) => {
                a.len() == 2 && self.eq(&a[0], &Expr(lo.clone()))? && self.eq(&a[1], &Expr(hi.clone()))?
            }
            (
                Interval { lo: l1, hi: h1, lo_closed: lc1, hi_closed: hc1 },
                Interval { lo: l2, hi: h2, lo_closed: lc2, hi_closed: hc2 },
            ) => {
                (lc1 == lc2 || is_inf(l1)) && (hc1 == hc2 || is_inf(h1)) && self.expr_eq(l1, l2)? && self.expr_eq(h1, h2)?
            }
            (Set(a) | List(a) | Union(a), Set(b) | List(b) | Union(b)) => {
                self.multiset_eq(a, b)? || (a.len() == 1 && self.eq(&a[0], p)?) || (b.len() == 1 && self.eq(g, &b[0])?)
            }
            (Tuple(a, _), List(b)) | (List(a), Tuple(b, _)) => self.ordered_eq(a, b)?,
            (Set(a) | List(a) | Union(a), other) if a.len() == 1 => self.eq(&a[0], other)?,
            (other, Set(b) | List(b) | Union(b)) if b.len() == 1 => self.eq(other, &b[0])?,
            // one value written several ways (`\boxed{15\frac{39}{40}}, or \boxed{\frac{639}{40}}`): as a
            // set, that value
            (Set(a) | List(a), other @ Expr(_)) if a.len() <= 8 => {
                let mut all = true;
                for x in a {
                    if !self.eq(x, other)? {
                        all = false;
                        break;
                    }
                }
                all
            }
            (other @ Expr(_), Set(b) | List(b)) if b.len() <= 8 => {
                let mut all = true;
                for y in b {
                    if !self.eq(other, y)? {
                        all = false;
                        break;
                    }
                }
                all
            }
            (Matrix(a), Matrix(b)) => {
                a.len() == b.len() && {
                    let mut ok = true;
                    for (ra, rb) in a.iter().zip(b) {
                        if !self.ordered_eq(ra, rb)? {
                            ok = false;
                            break;
                        }
                    }
                    ok
                }
            }
            (Matrix(m), Tuple(t, _)) | (Tuple(t, _), Matrix(m)) => {
                let flat: Vec<Answer> = if m.iter().all(|r| r.len() == 1) {
                    m.iter().map(|r| r[0].clone()).collect()
                } else if m.len() == 1 {
                    m[0].clone()
                } else {
                    return Ok(false);
                };
                self.ordered_eq(&flat, t)?
            }
            _ => false,
        })
    }
}

fn is_inf(e: &Expr) -> bool {
    match e {
        Expr::Const(Const::Inf) => true,
        Expr::Neg(a) => is_inf(a),
        _ => false,
    }
}

/// `var = value` or `value = var` with a lone variable on one side and none on the other.
fn assignment(es: &[Expr]) -> Option<(&str, &Expr)> {
    if es.len() != 2 {
        return None;
    }
    if let Expr::Var(v) = &es[0] {
        let mut s = BTreeSet::new();
        vars(&es[1], &mut s);
        if !s.contains(v) {
            return Some((v.as_str(), &es[1]));
        }
    }
    if let Expr::Var(v) = &es[1] {
        let mut s = BTreeSet::new();
        vars(&es[0], &mut s);
        if s.is_empty() {
            return Some((v.as_str(), &es[0]));
        }
    }
    None
}

fn assignment_rel<'a>(es: &'a [Expr], ops: &[RelOp], names: bool) -> Option<&'a Expr> {
    if ops.len() == 1 && ops[0] == RelOp::Eq {
        if let Some((_, e)) = assignment(es) {
            return Some(e);
        }
        // `a+b = 4`, `xy = 6`, `|AB| = 1`: an expression of names only (numbers only in
        // exponents) equal to a value is that value (`x+1 = 4` is not 4)
        if names && names_only(&es[0]) && free_of_vars(&es[1]) {
            return Some(&es[1]);
        }
        // `\frac12 \$ = \frac{10}{9}`: a computation's last value
        if names && free_of_vars(&es[0]) && free_of_vars(&es[1]) {
            return Some(&es[1]);
        }
        return None;
    }
    // `x = y = 3`: the last value
    if !ops.is_empty() && ops.iter().all(|o| *o == RelOp::Eq) {
        let last = es.last()?;
        let mut s = BTreeSet::new();
        vars(last, &mut s);
        if s.is_empty() {
            return Some(last);
        }
    }
    None
}

/// `a op b` as (f, op') with f op' 0 and op' in {=, !=, <, <=}.
fn rel_form(a: &Expr, op: RelOp, b: &Expr) -> (Expr, RelOp) {
    let sub = |x: &Expr, y: &Expr| Expr::Sub(Box::new(x.clone()), Box::new(y.clone()));
    match op {
        RelOp::Eq | RelOp::Ne | RelOp::Lt | RelOp::Le => (sub(a, b), op),
        RelOp::Gt => (sub(b, a), RelOp::Lt),
        RelOp::Ge => (sub(b, a), RelOp::Le),
    }
}

/// A gold `|AB| = 1`, `\frac{NO}{BO} = \frac{1}{\sqrt6}`, `AB = 4`: a named quantity (a product or
/// ratio of names, or its absolute value) and its value.
fn named_quantity<'a>(es: &'a [Expr], ops: &[RelOp]) -> Option<&'a Expr> {
    fn quantity(e: &Expr) -> bool {
        match e {
            Expr::Var(_) => true,
            Expr::Mul(a, b) | Expr::Div(a, b) => quantity(a) && quantity(b),
            Expr::Func(Func::Abs, a) => quantity(a),
            _ => false,
        }
    }
    (ops == [RelOp::Eq] && quantity(&es[0]) && free_of_vars(&es[1])).then(|| &es[1])
}

/// Variables combined by + - * / and powers, with numbers only in exponents.
fn names_only(e: &Expr) -> bool {
    match e {
        Expr::Var(_) => true,
        Expr::Add(a, b) | Expr::Sub(a, b) | Expr::Mul(a, b) | Expr::Div(a, b) => names_only(a) && names_only(b),
        Expr::Neg(a) | Expr::Func(Func::Abs, a) => names_only(a),
        Expr::Pow(a, _) => names_only(a),
        _ => false,
    }
}

fn free_of_vars(e: &Expr) -> bool {
    let mut s = BTreeSet::new();
    vars(e, &mut s);
    s.is_empty()
}

/// An inequality bounding one variable, as an interval: `x < 3`, `2 <= x < 5`, `x >= -1`.
fn rel_interval(es: &[Expr], ops: &[RelOp]) -> Option<Answer> {
    let inf = || Expr::Const(Const::Inf);
    let ninf = || Expr::Neg(Box::new(Expr::Const(Const::Inf)));
    let lower = |op: RelOp| matches!(op, RelOp::Lt | RelOp::Le);
    if ops.iter().any(|o| matches!(o, RelOp::Eq | RelOp::Ne)) {
        return None;
    }
    if es.len() == 2 {
        let op = ops[0];
        let closed = matches!(op, RelOp::Le | RelOp::Ge);
        if matches!(es[0], Expr::Var(_)) && free_of_vars(&es[1]) {
            // x < b  -> (-inf, b) ; x > b -> (b, inf)
            return Some(if lower(op) {
                Answer::Interval { lo: ninf(), hi: es[1].clone(), lo_closed: false, hi_closed: closed }
            } else {
                Answer::Interval { lo: es[1].clone(), hi: inf(), lo_closed: closed, hi_closed: false }
            });
        }
        if matches!(es[1], Expr::Var(_)) && free_of_vars(&es[0]) {
            // a < x -> (a, inf)
            return Some(if lower(op) {
                Answer::Interval { lo: es[0].clone(), hi: inf(), lo_closed: closed, hi_closed: false }
            } else {
                Answer::Interval { lo: ninf(), hi: es[0].clone(), lo_closed: false, hi_closed: closed }
            });
        }
        return None;
    }
    if es.len() == 3 && matches!(es[1], Expr::Var(_)) && free_of_vars(&es[0]) && free_of_vars(&es[2]) {
        let (o1, o2) = (ops[0], ops[1]);
        if lower(o1) && lower(o2) {
            return Some(Answer::Interval {
                lo: es[0].clone(),
                hi: es[2].clone(),
                lo_closed: o1 == RelOp::Le,
                hi_closed: o2 == RelOp::Le,
            });
        }
        if !lower(o1) && !lower(o2) {
            return Some(Answer::Interval {
                lo: es[2].clone(),
                hi: es[0].clone(),
                lo_closed: o2 == RelOp::Ge,
                hi_closed: o1 == RelOp::Ge,
            });
        }
    }
    None
}

/// Canonical form before comparison: `±` in a top-level expression or in the value of an
/// assignment becomes a list of the choices; a bare list of single-variable inequalities is a union.
pub fn canon(a: Answer) -> Answer {
    match a {
        Answer::Expr(e) if has_pm(&e) => Answer::List(expand_pm(&e).into_iter().map(Answer::Expr).collect()),
        Answer::Relation(es, ops) if ops.len() == 1 && es.iter().any(has_pm) => {
            let lhs = expand_pm(&es[0]);
            let rhs = expand_pm(&es[1]);
            let mut out = Vec::new();
            for l in &lhs {
                for r in &rhs {
                    out.push(Answer::Relation(vec![l.clone(), r.clone()], ops.clone()));
                }
            }
            Answer::List(out)
        }
        Answer::List(items) => {
            let items: Vec<Answer> = items.into_iter().map(canon).collect();
            let all_iv = items.len() > 1
                && items.iter().all(|x| matches!(x, Answer::Relation(es, ops) if rel_interval(es, ops).is_some()));
            if all_iv {
                Answer::Union(
                    items
                        .into_iter()
                        .map(|x| match x {
                            Answer::Relation(es, ops) => rel_interval(&es, &ops).unwrap(),
                            o => o,
                        })
                        .collect(),
                )
            } else {
                // flatten lists produced by ± expansion
                let mut flat = Vec::new();
                for x in items {
                    match x {
                        Answer::List(inner) => flat.extend(inner),
                        o => flat.push(o),
                    }
                }
                Answer::List(flat)
            }
        }
        Answer::Set(items) => {
            // `\{1\pm\sqrt5, -2\}`: the choices of a `±` are members of the set
            let mut flat = Vec::new();
            for x in items.into_iter().map(canon) {
                match x {
                    Answer::List(inner) => flat.extend(inner),
                    o => flat.push(o),
                }
            }
            Answer::Set(flat)
        }
        Answer::Tuple(items, p) => Answer::Tuple(items.into_iter().map(canon).collect(), p),
        Answer::Union(items) => Answer::Union(items.into_iter().map(canon).collect()),
        other => other,
    }
}

fn expr_has_pi(e: &Expr) -> bool {
    e.any_node(&|x| matches!(x, Expr::Const(Const::Pi)))
}

/// Some scalar of the answer mentions pi (an angle in radians).
pub fn mentions_pi(a: &Answer) -> bool {
    match a {
        Answer::Expr(e) => expr_has_pi(e),
        Answer::List(xs) | Answer::Set(xs) | Answer::Tuple(xs, _) => xs.iter().any(mentions_pi),
        _ => false,
    }
}

/// Scalars (alone or in lists, sets, tuples) converted from radians to degrees (x * 180 / pi).
pub fn radians_to_degrees(a: &Answer) -> Option<Answer> {
    Some(match a {
        Answer::Expr(e) => Answer::Expr(Expr::Div(
            Box::new(Expr::Mul(Box::new(e.clone()), Box::new(Expr::Num(BigRational::from_integer(BigInt::from(180)))))),
            Box::new(Expr::Const(Const::Pi)),
        )),
        Answer::List(xs) => Answer::List(xs.iter().map(radians_to_degrees).collect::<Option<_>>()?),
        Answer::Set(xs) => Answer::Set(xs.iter().map(radians_to_degrees).collect::<Option<_>>()?),
        Answer::Tuple(xs, p) => Answer::Tuple(xs.iter().map(radians_to_degrees).collect::<Option<_>>()?, *p),
        _ => return None,
    })
}

/// A scalar answer multiplied by `f` (unit conversions).
pub fn scale_by(a: &Answer, f: &BigRational) -> Option<Answer> {
    match a {
        Answer::Expr(e) => Some(Answer::Expr(Expr::Mul(Box::new(e.clone()), Box::new(Expr::Num(f.clone()))))),
        _ => None,
    }
}

/// Scale a percent answer: the scalar value divided by 100.
pub fn scale_percent(a: &Answer) -> Option<Answer> {
    match a {
        Answer::Expr(e) => Some(Answer::Expr(Expr::Div(
            Box::new(e.clone()),
            Box::new(Expr::Num(BigRational::from_integer(BigInt::from(100)))),
        ))),
        _ => None,
    }
}

