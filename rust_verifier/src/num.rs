//! Numbers for evaluation: exact big rationals where the arithmetic stays rational and small
//! enough, complex f64 otherwise (radicals, pi, e, logs, trig, complex numbers).
//!
//! Exactness rule: two values are compared exactly when both are rationals (so `1/2^{99}` is not
//! `1/2^{98}` and a 30-digit integer off by one is wrong); as soon as either side went through an
//! irrational operation the comparison is relative, to 1e-9.
//!
//! Size bounds keep every operation cheap: a rational whose numerator or denominator would exceed
//! [`MAX_BITS`] bits is not built exactly (the value falls back to f64, which may be infinite).

use num_bigint::BigInt;
use num_complex::Complex64;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

/// Largest numerator / denominator (in bits) an exact result may have.
pub const MAX_BITS: u64 = 20_000;
/// Largest n for which n! is computed exactly.
pub const MAX_FACTORIAL: u64 = 5_000;
/// Largest root index taken exactly (`\sqrt[q]{x}`, `x^{p/q}`).
const MAX_ROOT: u64 = 64;

#[derive(Clone, Debug)]
pub enum Num {
    Rat(BigRational),
    Cx(Complex64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EvalError {
    DivByZero,
    Domain(&'static str),
    Unsupported(&'static str),
    Timeout,
}

pub type NResult = Result<Num, EvalError>;

pub fn rat_to_f64(r: &BigRational) -> f64 {
    r.to_f64().unwrap_or(f64::NAN)
}

fn too_big(r: &BigRational) -> bool {
    r.numer().bits() > MAX_BITS || r.denom().bits() > MAX_BITS
}

/// Keep a rational exact when small enough, else degrade to f64.
fn rat(r: BigRational) -> Num {
    if too_big(&r) {
        Num::Cx(Complex64::new(rat_to_f64(&r), 0.0))
    } else {
        Num::Rat(r)
    }
}

impl Num {
    pub fn int(v: i64) -> Num {
        Num::Rat(BigRational::from_integer(BigInt::from(v)))
    }
    pub fn real(v: f64) -> Num {
        Num::Cx(Complex64::new(v, 0.0))
    }
    pub fn to_c(&self) -> Complex64 {
        match self {
            Num::Rat(r) => Complex64::new(rat_to_f64(r), 0.0),
            Num::Cx(c) => *c,
        }
    }
    pub fn is_zero(&self) -> bool {
        match self {
            Num::Rat(r) => r.is_zero(),
            Num::Cx(c) => c.re == 0.0 && c.im == 0.0,
        }
    }
    /// The value as a real number, if it is (numerically) real.
    pub fn as_real(&self) -> Option<f64> {
        match self {
            Num::Rat(r) => Some(rat_to_f64(r)),
            Num::Cx(c) => {
                if c.im == 0.0 || c.im.abs() <= 1e-12 * c.re.abs().max(1e-300) {
                    Some(c.re)
                } else {
                    None
                }
            }
        }
    }
    pub fn as_rat(&self) -> Option<&BigRational> {
        match self {
            Num::Rat(r) => Some(r),
            _ => None,
        }
    }

    pub fn add(&self, o: &Num) -> Num {
        match (self, o) {
            (Num::Rat(a), Num::Rat(b)) => rat(a + b),
            _ => Num::Cx(self.to_c() + o.to_c()),
        }
    }
    pub fn sub(&self, o: &Num) -> Num {
        match (self, o) {
            (Num::Rat(a), Num::Rat(b)) => rat(a - b),
            _ => Num::Cx(self.to_c() - o.to_c()),
        }
    }
    pub fn mul(&self, o: &Num) -> Num {
        match (self, o) {
            (Num::Rat(a), Num::Rat(b)) => {
                if a.numer().bits() + b.numer().bits() > MAX_BITS + 64
                    || a.denom().bits() + b.denom().bits() > MAX_BITS + 64
                {
                    Num::Cx(self.to_c() * o.to_c())
                } else {
                    rat(a * b)
                }
            }
            _ => Num::Cx(self.to_c() * o.to_c()),
        }
    }
    pub fn div(&self, o: &Num) -> NResult {
        if o.is_zero() {
            return Err(EvalError::DivByZero);
        }
        Ok(match (self, o) {
            (Num::Rat(a), Num::Rat(b)) => {
                if a.numer().bits() + b.denom().bits() > MAX_BITS + 64
                    || a.denom().bits() + b.numer().bits() > MAX_BITS + 64
                {
                    Num::Cx(self.to_c() / o.to_c())
                } else {
                    rat(a / b)
                }
            }
            _ => {
                let (a, b) = (self.to_c(), o.to_c());
                if a.im == 0.0 && b.im == 0.0 {
                    Num::real(a.re / b.re) // keeps 1/inf = 0 (complex division gives NaN)
                } else {
                    Num::Cx(a / b)
                }
            }
        })
    }
    pub fn neg(&self) -> Num {
        match self {
            Num::Rat(a) => Num::Rat(-a),
            Num::Cx(c) => Num::Cx(-c),
        }
    }

    pub fn pow(&self, e: &Num) -> NResult {
        if let (Num::Rat(b), Num::Rat(x)) = (self, e) {
            return rat_pow(b, x);
        }
        let b = self.to_c();
        let x = e.to_c();
        if b.re == 0.0 && b.im == 0.0 {
            if x.re > 0.0 {
                return Ok(Num::real(0.0));
            }
            if x.re == 0.0 && x.im == 0.0 {
                return Ok(Num::int(1));
            }
            return Err(EvalError::DivByZero);
        }
        // A real base to a real power stays real where the real answer exists.
        if b.im == 0.0 && x.im == 0.0 && b.re > 0.0 {
            return Ok(Num::real(b.re.powf(x.re)));
        }
        if b.im == 0.0 && x.im == 0.0 && x.re.fract() == 0.0 && x.re.abs() < 1e15 {
            return Ok(Num::real(b.re.powf(x.re)));
        }
        Ok(Num::Cx(b.powc(x)))
    }

    /// Principal square root; exact when the argument is the square of a rational.
    pub fn sqrt(&self) -> NResult {
        self.root(2)
    }

    /// q-th root: exact for perfect powers; the real root for negative reals and odd q;
    /// principal complex root otherwise.
    pub fn root(&self, q: u64) -> NResult {
        if q == 0 {
            return Err(EvalError::Domain("zeroth root"));
        }
        if let Num::Rat(r) = self {
            if let Some(x) = exact_root(r, q) {
                return Ok(Num::Rat(x));
            }
            let v = rat_to_f64(r);
            if v >= 0.0 {
                return Ok(Num::real(v.powf(1.0 / q as f64)));
            }
            if q % 2 == 1 {
                return Ok(Num::real(-(-v).powf(1.0 / q as f64)));
            }
            return Ok(Num::Cx(Complex64::new(v, 0.0).powf(1.0 / q as f64)));
        }
        let c = self.to_c();
        if c.im == 0.0 && c.re < 0.0 && q % 2 == 1 {
            return Ok(Num::real(-(-c.re).powf(1.0 / q as f64)));
        }
        if c.im == 0.0 && c.re >= 0.0 {
            return Ok(Num::real(c.re.powf(1.0 / q as f64)));
        }
        Ok(Num::Cx(c.powf(1.0 / q as f64)))
    }

    pub fn factorial(&self) -> NResult {
        match self {
            Num::Rat(r) if r.is_integer() && !r.is_negative() => {
                let n = r.to_integer().to_u64().ok_or(EvalError::Domain("factorial too large"))?;
                if n > MAX_FACTORIAL {
                    return Ok(Num::real(f64::INFINITY));
                }
                let mut acc = BigInt::one();
                for k in 2..=n {
                    acc *= k;
                    if acc.bits() > MAX_BITS {
                        return Ok(Num::real(f64::INFINITY));
                    }
                }
                Ok(Num::Rat(BigRational::from_integer(acc)))
            }
            _ => Err(EvalError::Domain("factorial of a non-natural number")),
        }
    }

    pub fn binom(&self, k: &Num) -> NResult {
        match (self, k) {
            (Num::Rat(n), Num::Rat(k)) if n.is_integer() && k.is_integer() => {
                let n = n.to_integer();
                let k = k.to_integer();
                if k.is_negative() || (!n.is_negative() && k > n) {
                    return Ok(Num::int(0));
                }
                let k = k.to_u64().filter(|k| *k <= 5_000).ok_or(EvalError::Domain("binomial too large"))?;
                let mut acc = BigRational::one();
                for j in 0..k {
                    acc = acc * BigRational::from_integer(&n - BigInt::from(j))
                        / BigRational::from_integer(BigInt::from(j + 1));
                    if too_big(&acc) {
                        return Err(EvalError::Domain("binomial too large"));
                    }
                }
                Ok(Num::Rat(acc))
            }
            _ => Err(EvalError::Domain("binomial of non-integers")),
        }
    }

    pub fn abs(&self) -> Num {
        match self {
            Num::Rat(r) => Num::Rat(r.abs()),
            Num::Cx(c) => Num::real(c.norm()),
        }
    }
    pub fn floor(&self) -> NResult {
        match self {
            Num::Rat(r) => Ok(Num::Rat(r.floor())),
            Num::Cx(c) if c.im == 0.0 => Ok(Num::real(c.re.floor())),
            _ => Err(EvalError::Domain("floor of a complex number")),
        }
    }
    pub fn ceil(&self) -> NResult {
        match self {
            Num::Rat(r) => Ok(Num::Rat(r.ceil())),
            Num::Cx(c) if c.im == 0.0 => Ok(Num::real(c.re.ceil())),
            _ => Err(EvalError::Domain("ceil of a complex number")),
        }
    }
}

fn rat_pow(b: &BigRational, x: &BigRational) -> NResult {
    if x.is_zero() {
        return Ok(Num::int(1));
    }
    if b.is_zero() {
        return if x.is_positive() { Ok(Num::int(0)) } else { Err(EvalError::DivByZero) };
    }
    if b.is_one() {
        return Ok(Num::int(1));
    }
    if *b == -BigRational::one() && x.is_integer() {
        return Ok(Num::int(if x.to_integer().is_even() { 1 } else { -1 }));
    }
    let q = x.denom().to_u64().filter(|q| *q <= MAX_ROOT);
    let p = x.numer().to_i64();
    if let (Some(q), Some(p)) = (q, p) {
        // exact base^(1/q) first, then the integer power
        let base = if q == 1 { Some(b.clone()) } else { exact_root(b, q) };
        if let Some(base) = base {
            let bits = base.numer().bits().max(base.denom().bits());
            if (bits as u128) * (p.unsigned_abs() as u128) <= MAX_BITS as u128 {
                let e = p.unsigned_abs() as usize;
                let mut r = num_traits::pow(base, e);
                if p < 0 {
                    r = r.recip();
                }
                return Ok(Num::Rat(r));
            }
            // too large to hold exactly: f64 (may be +-inf or 0)
            let v = rat_to_f64(&base).powf(p as f64);
            return Ok(Num::real(v));
        }
        let v = rat_to_f64(b);
        let e = p as f64 / q as f64;
        if v < 0.0 && q % 2 == 1 {
            let mag = (-v).powf(e);
            return Ok(Num::real(if p % 2 == 0 { mag } else { -mag }));
        }
        if v > 0.0 {
            return Ok(Num::real(v.powf(e)));
        }
        return Ok(Num::Cx(Complex64::new(v, 0.0).powf(e)));
    }
    // huge or non-small-denominator exponent
    let v = rat_to_f64(b);
    let e = rat_to_f64(x);
    if v > 0.0 {
        return Ok(Num::real(v.powf(e)));
    }
    Ok(Num::Cx(Complex64::new(v, 0.0).powf(e)))
}

/// Exact q-th root of a rational, if it is a rational.
pub fn exact_root(r: &BigRational, q: u64) -> Option<BigRational> {
    if q == 1 {
        return Some(r.clone());
    }
    let neg = r.is_negative();
    if neg && q.is_multiple_of(2) {
        return None;
    }
    let q32 = u32::try_from(q).ok()?;
    let n = r.numer().abs();
    let d = r.denom().abs();
    let rn = n.nth_root(q32);
    if num_traits::pow(rn.clone(), q as usize) != n {
        return None;
    }
    let rd = d.nth_root(q32);
    if num_traits::pow(rd.clone(), q as usize) != d {
        return None;
    }
    let v = BigRational::new(rn, rd);
    Some(if neg { -v } else { v })
}

/// Parse a decimal literal ("12", "1.50", ".5") exactly.
pub fn parse_decimal(s: &str) -> Option<BigRational> {
    let (int_part, frac_part) = match s.find('.') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit()) || !frac_part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{}{}", int_part, frac_part);
    let n: BigInt = if digits.is_empty() { BigInt::zero() } else { digits.parse().ok()? };
    let d = num_traits::pow(BigInt::from(10u32), frac_part.len());
    Some(BigRational::new(n, d))
}

/// Compare two evaluated values: exactly when both are rationals, else relative to 1e-9.
pub fn num_eq(a: &Num, b: &Num) -> bool {
    if let (Num::Rat(x), Num::Rat(y)) = (a, b) {
        return x == y;
    }
    let x = a.to_c();
    let y = b.to_c();
    let fin = |c: Complex64| c.re.is_finite() && c.im.is_finite();
    if !fin(x) || !fin(y) {
        // +inf = +inf and -inf = -inf (interval endpoints); nothing else
        return x.im == 0.0 && y.im == 0.0 && x.re.is_infinite() && x.re == y.re;
    }
    let scale = x.norm().max(y.norm());
    let diff = (x - y).norm();
    if scale == 0.0 {
        return true;
    }
    // An exact zero on one side against a computed value that cancelled to rounding noise.
    if (a.is_zero() || b.is_zero()) && scale < 1e-12 {
        return true;
    }
    diff <= 1e-9 * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: i64, d: i64) -> Num {
        Num::Rat(BigRational::new(BigInt::from(n), BigInt::from(d)))
    }

    #[test]
    fn exact_powers() {
        let two = Num::int(2);
        let a = two.pow(&Num::int(99)).unwrap();
        let b = two.pow(&Num::int(98)).unwrap();
        assert!(!num_eq(&a, &b));
        assert!(num_eq(&Num::int(8).pow(&r(1, 3)).unwrap(), &Num::int(2)));
        assert!(num_eq(&Num::int(-8).root(3).unwrap(), &Num::int(-2)));
        assert!(matches!(Num::int(4).sqrt().unwrap(), Num::Rat(_)));
        assert!(matches!(Num::int(2).sqrt().unwrap(), Num::Cx(_)));
    }

    #[test]
    fn huge_power_is_bounded() {
        let t = std::time::Instant::now();
        let v = Num::int(10).pow(&Num::int(10_000_000_000)).unwrap();
        assert!(t.elapsed().as_millis() < 50);
        assert!(v.to_c().re.is_infinite());
    }

    #[test]
    fn decimals() {
        assert!(num_eq(&Num::Rat(parse_decimal("0.50").unwrap()), &r(1, 2)));
        assert!(num_eq(&Num::Rat(parse_decimal(".5").unwrap()), &r(1, 2)));
        assert!(parse_decimal(".").is_none());
    }

    #[test]
    fn tolerance() {
        let pi = Num::real(std::f64::consts::PI);
        assert!(!num_eq(&pi, &Num::Rat(parse_decimal("3.14159").unwrap())));
        assert!(num_eq(&Num::int(2).sqrt().unwrap().mul(&Num::int(2).sqrt().unwrap()), &Num::int(2)));
    }
}
