//! Certified real and complex ball arithmetic at a chosen binary precision, for comparing
//! irrational values exactly enough (the verifier's rule: exact where exact is possible).
//!
//! A [`Ball`] is a midpoint `m·2^e` (big integer `m`, at most `prec` significant bits) and a radius
//! [`Mag`] (a 32-bit mantissa and an exponent, always rounded up), and stands for every real in
//! `[mid - rad, mid + rad]`. Every operation returns a ball that contains the exact result for all
//! inputs in its argument balls, so two values whose balls are disjoint are certainly different.
//! Functions (`exp`, `ln`, `sin`, `cos`, `atan`, roots) are evaluated at the midpoint with a
//! bounded series and widened by a Lipschitz bound times the input radius.
//!
//! [`certified_eq`] evaluates both sides of a comparison with big-rational exactness where the
//! values stay rational and balls elsewhere, at 320 bits first and at more bits when values span a
//! wide range of magnitudes (`10^{30}+\sqrt2`), up to 8,192 bits: "different" when the balls
//! separate, "equal" when the ball of the difference has a radius below `2^{-prec/2}` relative to
//! the values (about 1e-48 at the lowest precision; far beyond any real answer's precision), and
//! "don't know" (`None`) when the expression leaves the supported set (complex logs, complex trig,
//! free variables without a rational value, infinities) or is too ill-conditioned to decide.

use crate::error::Limits;
use crate::num::{Num, MAX_BITS};
use crate::parse::{Const, Expr, Func};
use num_bigint::{BigInt, Sign};
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};
use std::cell::RefCell;

/// Precision of the first evaluation.
pub const BASE_PREC: u64 = 320;
/// Highest precision used.
pub const MAX_PREC: u64 = 8_192;

// ------------------------------------------------------------------------------------------------
// Mag: a non-negative bound m·2^e

/// A non-negative magnitude `m·2^e` with `m <= 2^32`; operations round up unless told otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mag {
    m: u64,
    e: i64,
}

const MAG_BITS: u32 = 32;

impl Mag {
    pub const ZERO: Mag = Mag { m: 0, e: 0 };

    fn norm(m: u128, e: i64, up: bool) -> Mag {
        if m == 0 {
            return Mag::ZERO;
        }
        let bits = 128 - m.leading_zeros();
        if bits <= MAG_BITS {
            return Mag { m: m as u64, e };
        }
        let s = bits - MAG_BITS;
        let mut q = m >> s;
        if up && (m & ((1u128 << s) - 1)) != 0 {
            q += 1;
        }
        Mag { m: q as u64, e: e + s as i64 }
    }
    pub fn pow2(e: i64) -> Mag {
        Mag { m: 1, e }
    }
    pub fn small(v: u64, e: i64) -> Mag {
        Mag::norm(v as u128, e, true)
    }
    pub fn is_zero(&self) -> bool {
        self.m == 0
    }
    /// The value is below `2^log2_up()` (`i64::MIN / 2` for zero).
    pub fn log2_up(&self) -> i64 {
        if self.m == 0 {
            return i64::MIN / 2;
        }
        self.e + (64 - self.m.leading_zeros()) as i64
    }
    /// The value is at least `2^log2_low()` (for non-zero values).
    pub fn log2_low(&self) -> i64 {
        if self.m == 0 {
            return i64::MIN / 2;
        }
        self.e + (63 - self.m.leading_zeros()) as i64
    }
    #[allow(clippy::should_implement_trait)] // an upper bound of the sum (rounded up), not exact addition
    pub fn add(self, o: Mag) -> Mag {
        if self.is_zero() {
            return o;
        }
        if o.is_zero() {
            return self;
        }
        let (a, b) = if self.e >= o.e { (self, o) } else { (o, self) };
        let gap = a.e - b.e;
        if gap > 60 {
            // b < 2^(b.e + 33) <= 2^(a.e - 27): one unit of a covers it
            return Mag::norm(a.m as u128 + 1, a.e, true);
        }
        Mag::norm(((a.m as u128) << gap) + b.m as u128, b.e, true)
    }
    pub fn mul(self, o: Mag, up: bool) -> Mag {
        Mag::norm(self.m as u128 * o.m as u128, self.e + o.e, up)
    }
    /// `self / o`, rounded up; `o` must be non-zero.
    pub fn div_up(self, o: Mag) -> Mag {
        let n = (self.m as u128) << 64;
        let d = o.m as u128;
        let q = n / d + u128::from(!n.is_multiple_of(d));
        Mag::norm(q, self.e - o.e - 64, true)
    }
    pub fn mul_2exp(self, k: i64) -> Mag {
        if self.is_zero() {
            self
        } else {
            Mag { m: self.m, e: self.e + k }
        }
    }
    /// Bound of `|m|·2^e`, up or down.
    pub fn from_big(m: &BigInt, e: i64, up: bool) -> Mag {
        let bits = m.bits();
        if bits == 0 {
            return Mag::ZERO;
        }
        if bits <= 64 {
            return Mag::norm(m.magnitude().to_u64().unwrap() as u128, e, up);
        }
        let s = bits - 64;
        let top = (m.magnitude() >> s).to_u64().unwrap() as u128;
        Mag::norm(top + u128::from(up), e + s as i64, up)
    }
}

// ------------------------------------------------------------------------------------------------
// Ball

#[derive(Clone, Debug)]
pub struct Ball {
    m: BigInt,
    e: i64,
    r: Mag,
}

impl Ball {
    pub fn exact_int(v: i64) -> Ball {
        Ball { m: BigInt::from(v), e: 0, r: Mag::ZERO }
    }
    fn zero() -> Ball {
        Ball::exact_int(0)
    }
    pub fn is_exact_zero(&self) -> bool {
        self.m.is_zero() && self.r.is_zero()
    }
    fn mid_up(&self) -> Mag {
        Mag::from_big(&self.m, self.e, true)
    }
    /// Upper bound of |x| over the ball.
    pub fn abs_up(&self) -> Mag {
        self.mid_up().add(self.r)
    }
    /// A lower bound of |x| over the ball, if the radius is at most half the midpoint.
    fn abs_low_half(&self) -> Option<Mag> {
        if self.m.is_zero() {
            return None;
        }
        let low = Mag::from_big(&self.m, self.e, false);
        if self.r.is_zero() {
            return Some(low);
        }
        if self.r.log2_up() < low.log2_low() {
            Some(low.mul_2exp(-1))
        } else {
            None
        }
    }
    /// The ball certainly excludes zero.
    pub fn excludes_zero(&self) -> bool {
        if self.m.is_zero() {
            return false;
        }
        let low = Mag::from_big(&self.m, self.e, false);
        self.r.is_zero() || self.r.log2_up() <= low.log2_low()
    }
    /// log2 of the midpoint's magnitude (0 for zero).
    pub fn mag_log2(&self) -> i64 {
        if self.m.is_zero() {
            0
        } else {
            self.m.bits() as i64 + self.e
        }
    }
    fn sign(&self) -> Sign {
        self.m.sign()
    }

    fn normalize(mut self, prec: u64) -> Ball {
        let bits = self.m.bits();
        if bits > prec {
            let s = bits - prec;
            self.m >>= s;
            self.e += s as i64;
            self.r = self.r.add(Mag::pow2(self.e));
        }
        self
    }

    fn mid_only(&self) -> Ball {
        Ball { m: self.m.clone(), e: self.e, r: Mag::ZERO }
    }

    pub fn from_rat(q: &BigRational, prec: u64) -> Ball {
        let n = q.numer();
        let d = q.denom();
        if d.is_one() {
            return Ball { m: n.clone(), e: 0, r: Mag::ZERO }.normalize(prec);
        }
        let tz = d.trailing_zeros().unwrap_or(0);
        if d.bits() == tz + 1 {
            // a power of two
            return Ball { m: n.clone(), e: -(tz as i64), r: Mag::ZERO }.normalize(prec);
        }
        let a = Ball { m: n.clone(), e: 0, r: Mag::ZERO };
        let b = Ball { m: d.clone(), e: 0, r: Mag::ZERO };
        a.div(&b, prec).expect("non-zero denominator")
    }

    pub fn neg(&self) -> Ball {
        Ball { m: -&self.m, e: self.e, r: self.r }
    }

    pub fn add(&self, o: &Ball, prec: u64) -> Ball {
        if self.m.is_zero() {
            return Ball { m: o.m.clone(), e: o.e, r: o.r.add(self.r) };
        }
        if o.m.is_zero() {
            return Ball { m: self.m.clone(), e: self.e, r: self.r.add(o.r) };
        }
        let la = self.mag_log2();
        let lb = o.mag_log2();
        let slack = prec as i64 + 64;
        if lb < la - slack {
            return Ball { m: self.m.clone(), e: self.e, r: self.r.add(o.abs_up()) }.normalize(prec);
        }
        if la < lb - slack {
            return Ball { m: o.m.clone(), e: o.e, r: o.r.add(self.abs_up()) }.normalize(prec);
        }
        let e = self.e.min(o.e);
        let m = (&self.m << (self.e - e) as u64) + (&o.m << (o.e - e) as u64);
        Ball { m, e, r: self.r.add(o.r) }.normalize(prec)
    }

    pub fn sub(&self, o: &Ball, prec: u64) -> Ball {
        self.add(&o.neg(), prec)
    }

    pub fn mul(&self, o: &Ball, prec: u64) -> Ball {
        let r = self.mid_up().mul(o.r, true).add(o.mid_up().mul(self.r, true)).add(self.r.mul(o.r, true));
        Ball { m: &self.m * &o.m, e: self.e + o.e, r }.normalize(prec)
    }

    pub fn mul_2exp(&self, k: i64) -> Ball {
        Ball { m: self.m.clone(), e: self.e + k, r: self.r.mul_2exp(k) }
    }

    pub fn mul_int(&self, k: i64, prec: u64) -> Ball {
        self.mul(&Ball::exact_int(k), prec)
    }

    /// `self / o`; `None` when `o` is not certainly away from zero.
    pub fn div(&self, o: &Ball, prec: u64) -> Option<Ball> {
        let den_low = o.abs_low_half()?;
        let shift = (prec as i64 + o.m.bits() as i64 - self.m.bits() as i64 + 2).max(0) as u64;
        let q = (&self.m << shift) / &o.m;
        let e = self.e - shift as i64 - o.e;
        let unit = Mag::pow2(e);
        let q_abs_up = Mag::from_big(&q, e, true).add(unit);
        let prop = self.r.add(q_abs_up.mul(o.r, true)).div_up(den_low);
        Some(Ball { m: q, e, r: unit.add(prop) }.normalize(prec))
    }

    /// Non-negative q-th root (q >= 1) of a positive ball; the real root of a negative one for odd q.
    pub fn root(&self, q: u32, prec: u64) -> Option<Ball> {
        if q == 1 {
            return Some(self.clone());
        }
        if self.is_exact_zero() {
            return Some(Ball::zero());
        }
        if self.sign() == Sign::Minus {
            if q % 2 == 1 {
                return self.neg().root(q, prec).map(|b| b.neg());
            }
            return None;
        }
        self.abs_low_half()?;
        let qi = q as i64;
        let want = (qi * (prec as i64 + 4)) - self.m.bits() as i64;
        let mut s = want.max(0);
        s += (self.e - s).rem_euclid(qi);
        let n = &self.m << s as u64;
        let root = n.nth_root(q);
        let e = (self.e - s) / qi;
        let unit = Mag::pow2(e);
        // |x^(1/q) - mid^(1/q)| <= r / (q * (mid/2)^((q-1)/q)) <= 2r / root^(q-1)
        let root_low = Mag::from_big(&root, e, false);
        let mut den = Mag::small(1, 0);
        for _ in 0..q - 1 {
            den = den.mul(root_low, false);
        }
        let prop = if self.r.is_zero() { Mag::ZERO } else { self.r.mul_2exp(1).div_up(den) };
        Some(Ball { m: root, e, r: unit.add(prop) }.normalize(prec))
    }

    pub fn powi(&self, n: i64, prec: u64) -> Option<Ball> {
        if n == 0 {
            return Some(Ball::exact_int(1));
        }
        if n.unsigned_abs() > 1 << 20 {
            return None;
        }
        let mut acc = Ball::exact_int(1);
        let mut base = self.clone();
        let mut k = n.unsigned_abs();
        while k > 0 {
            if k & 1 == 1 {
                acc = acc.mul(&base, prec);
            }
            k >>= 1;
            if k > 0 {
                base = base.mul(&base, prec);
            }
        }
        if n < 0 {
            Ball::exact_int(1).div(&acc, prec)
        } else {
            Some(acc)
        }
    }

    pub fn abs(&self) -> Ball {
        Ball { m: self.m.abs(), e: self.e, r: self.r }
    }

    /// Lower and upper ends as exact rationals.
    fn ends(&self) -> (BigRational, BigRational) {
        let mid = dyadic(&self.m, self.e);
        let rad = dyadic(&BigInt::from(self.r.m), self.r.e);
        (&mid - &rad, &mid + &rad)
    }
}

fn dyadic(m: &BigInt, e: i64) -> BigRational {
    if e >= 0 {
        BigRational::from_integer(m << e as u64)
    } else {
        BigRational::new(m.clone(), BigInt::one() << (-e) as u64)
    }
}

// ------------------------------------------------------------------------------------------------
// constants and elementary functions

thread_local! {
    static PI_CACHE: RefCell<Option<(u64, Ball)>> = const { RefCell::new(None) };
    static LN2_CACHE: RefCell<Option<(u64, Ball)>> = const { RefCell::new(None) };
}

/// `2^w * atan(1/x)` in fixed point, and a bound on its error in units.
fn atan_inv_fixed(x: u32, w: u64) -> (BigInt, u64) {
    let x2 = BigInt::from(x as u64 * x as u64);
    let mut p = (BigInt::one() << w) / BigInt::from(x);
    let mut sum = p.clone();
    let mut k: u64 = 1;
    loop {
        p = &p / &x2;
        if p.is_zero() {
            break;
        }
        let t = &p / BigInt::from(2 * k + 1);
        if k % 2 == 1 {
            sum -= t;
        } else {
            sum += t;
        }
        k += 1;
    }
    (sum, 3 * k + 4)
}

fn cached(cache: &'static std::thread::LocalKey<RefCell<Option<(u64, Ball)>>>, prec: u64, make: fn(u64) -> Ball) -> Ball {
    cache.with(|c| {
        if let Some((p, b)) = &*c.borrow() {
            if *p >= prec {
                return b.clone().normalize(prec);
            }
        }
        let b = make(prec);
        *c.borrow_mut() = Some((prec, b.clone()));
        b
    })
}

pub fn pi(prec: u64) -> Ball {
    cached(&PI_CACHE, prec, |prec| {
        let w = prec + 32;
        let (a, ea) = atan_inv_fixed(5, w);
        let (b, eb) = atan_inv_fixed(239, w);
        let m = a * 16 - b * 4;
        Ball { m, e: -(w as i64), r: Mag::small(16 * ea + 4 * eb, -(w as i64)) }.normalize(prec)
    })
}

pub fn ln2(prec: u64) -> Ball {
    cached(&LN2_CACHE, prec, |prec| {
        // ln 2 = 2 atanh(1/3)
        let w = prec + 32;
        let z = Ball::exact_int(1).div(&Ball::exact_int(3), w).unwrap();
        atanh_series(&z, w, &Limits::unbounded()).unwrap().mul_2exp(1).normalize(prec)
    })
}

/// `atanh(z) = sum z^(2k+1)/(2k+1)` for |z| <= 1/3, with the tail bounded.
fn atanh_series(z: &Ball, w: u64, lim: &Limits) -> Option<Ball> {
    let z2 = z.mul(z, w);
    let mut pw = z.clone();
    let mut sum = z.clone();
    let mut k: i64 = 1;
    loop {
        pw = pw.mul(&z2, w);
        let t = pw.div(&Ball::exact_int(2 * k + 1), w).unwrap();
        sum = sum.add(&t, w);
        k += 1;
        if pw.abs_up().log2_up() < -(w as i64) - 2 || k > 100_000 {
            // tail: sum_{j>k} |z|^(2j+1) <= |pw| * z^2 / (1 - z^2) <= |pw|
            sum.r = sum.r.add(pw.abs_up());
            return Some(sum);
        }
        if k % 16 == 0 && lim.expired() {
            return None;
        }
    }
}

/// exp at the midpoint of `x`, widened by the Lipschitz bound.
pub fn exp(x: &Ball, prec: u64, lim: &Limits) -> Option<Ball> {
    if x.is_exact_zero() {
        return Some(Ball::exact_int(1));
    }
    if x.r.log2_up() > -1 {
        return None;
    }
    let l = x.mag_log2();
    if l > 16 {
        return None;
    }
    let s = (l + 8).max(0);
    let w = prec + s as u64 + 32;
    let z = x.mid_only().mul_2exp(-s);
    let mut sum = Ball::exact_int(1);
    let mut term = Ball::exact_int(1);
    let mut k: i64 = 1;
    loop {
        term = term.mul(&z, w).div(&Ball::exact_int(k), w)?;
        sum = sum.add(&term, w);
        k += 1;
        if term.abs_up().log2_up() < -(w as i64) - 2 || k > 100_000 {
            sum.r = sum.r.add(term.abs_up());
            break;
        }
        if k % 16 == 0 && lim.expired() {
            return None;
        }
    }
    for _ in 0..s {
        sum = sum.mul(&sum, w);
    }
    // exp(m ± r) ⊂ exp(m)(1 ± 2r) for r <= 1/2
    if !x.r.is_zero() {
        sum.r = sum.r.add(sum.abs_up().mul(x.r.mul_2exp(1), true));
    }
    Some(sum.normalize(prec))
}

/// Natural log of a positive ball.
pub fn ln(x: &Ball, prec: u64, lim: &Limits) -> Option<Ball> {
    if x.sign() != Sign::Plus {
        return None;
    }
    let low = x.abs_low_half()?;
    if x.m.is_one() && x.e == 0 && x.r.is_zero() {
        return Some(Ball::zero());
    }
    const HALVINGS: i64 = 8;
    let w = prec + 48;
    // mid = f * 2^k with f in [1/2, 1)
    let b = x.m.bits() as i64;
    let k = x.e + b;
    let mut f = Ball { m: x.m.clone(), e: -b, r: Mag::ZERO };
    for _ in 0..HALVINGS {
        f = f.root(2, w)?;
    }
    let one = Ball::exact_int(1);
    let z = f.sub(&one, w).div(&f.add(&one, w), w)?;
    let lnf = atanh_series(&z, w, lim)?.mul_2exp(1 + HALVINGS);
    let mut res = lnf.add(&ln2(w).mul_int(k, w), w);
    if !x.r.is_zero() {
        res.r = res.r.add(x.r.div_up(low));
    }
    Some(res.normalize(prec))
}

/// (sin, cos) of a real ball.
pub fn sin_cos(x: &Ball, prec: u64, lim: &Limits) -> Option<(Ball, Ball)> {
    if x.is_exact_zero() {
        return Some((Ball::zero(), Ball::exact_int(1)));
    }
    let l = x.mag_log2();
    if l > 256 {
        return None;
    }
    const HALVINGS: i64 = 8;
    let w = prec + l.max(0) as u64 + HALVINGS as u64 + 40;
    let mut y = x.mid_only();
    if l > 2 {
        let two_pi = pi(w).mul_2exp(1);
        let t = y.div(&two_pi, w)?;
        // k = round(t): the reduction need not be exact, the ball arithmetic tracks its error
        let k = round_mid(&t);
        y = y.sub(&two_pi.mul(&Ball { m: k, e: 0, r: Mag::ZERO }, w), w);
    }
    let z = y.mul_2exp(-HALVINGS);
    // sin z = z - z^3/3! + ..., cos z = 1 - z^2/2! + ...
    let mut s = z.clone();
    let mut c = Ball::exact_int(1);
    let mut term = z.clone(); // z^k / k!
    let mut k: i64 = 1;
    loop {
        term = term.mul(&z, w).div(&Ball::exact_int(k + 1), w)?; // z^(k+1)/(k+1)!
        let sign_c = if ((k + 1) / 2) % 2 == 1 { -1 } else { 1 };
        c = if sign_c < 0 { c.sub(&term, w) } else { c.add(&term, w) };
        term = term.mul(&z, w).div(&Ball::exact_int(k + 2), w)?; // z^(k+2)/(k+2)!
        let sign_s = if ((k + 2) / 2) % 2 == 1 { -1 } else { 1 };
        s = if sign_s < 0 { s.sub(&term, w) } else { s.add(&term, w) };
        k += 2;
        if k % 16 == 1 && lim.expired() {
            return None;
        }
        if term.abs_up().log2_up() < -(w as i64) - 2 || k > 100_000 {
            let tail = term.abs_up();
            s.r = s.r.add(tail);
            c.r = c.r.add(tail);
            break;
        }
    }
    for _ in 0..HALVINGS {
        let s2 = s.mul(&c, w).mul_2exp(1);
        let c2 = c.mul(&c, w).mul_2exp(1).sub(&Ball::exact_int(1), w);
        s = s2;
        c = c2;
    }
    // sin and cos are 1-Lipschitz
    s.r = s.r.add(x.r);
    c.r = c.r.add(x.r);
    Some((s.normalize(prec), c.normalize(prec)))
}

fn round_mid(t: &Ball) -> BigInt {
    if t.e >= 0 {
        return &t.m << t.e as u64;
    }
    let sh = (-t.e) as u64;
    let half = BigInt::one() << (sh - 1);
    (&t.m + half) >> sh
}

pub fn atan(x: &Ball, prec: u64, lim: &Limits) -> Option<Ball> {
    if x.is_exact_zero() {
        return Some(Ball::zero());
    }
    let w = prec + 48;
    let mut y = x.mid_only();
    let one = Ball::exact_int(1);
    let mut offset: Option<bool> = None;
    if y.mag_log2() > 0 {
        // |y| >= 1/2 (roughly): atan(y) = ±pi/2 - atan(1/y) when |y| > 1
        let big = y.abs().sub(&one, w).sign() == Sign::Plus;
        if big {
            offset = Some(y.sign() == Sign::Plus);
            y = one.div(&y, w)?;
        }
    }
    const HALVINGS: i64 = 4;
    for _ in 0..HALVINGS {
        // atan(y) = 2 atan(y / (1 + sqrt(1 + y^2)))
        let d = one.add(&one.add(&y.mul(&y, w), w).root(2, w)?, w);
        y = y.div(&d, w)?;
    }
    let y2 = y.mul(&y, w);
    let mut pw = y.clone();
    let mut sum = y.clone();
    let mut k: i64 = 1;
    loop {
        pw = pw.mul(&y2, w);
        let t = pw.div(&Ball::exact_int(2 * k + 1), w)?;
        sum = if k % 2 == 1 { sum.sub(&t, w) } else { sum.add(&t, w) };
        k += 1;
        if pw.abs_up().log2_up() < -(w as i64) - 2 || k > 100_000 {
            sum.r = sum.r.add(pw.abs_up());
            break;
        }
        if k % 16 == 0 && lim.expired() {
            return None;
        }
    }
    let mut res = sum.mul_2exp(HALVINGS);
    if let Some(pos) = offset {
        let half_pi = pi(w).mul_2exp(-1);
        res = if pos { half_pi.sub(&res, w) } else { half_pi.neg().sub(&res, w) };
    }
    res.r = res.r.add(x.r); // 1-Lipschitz
    Some(res.normalize(prec))
}

pub fn asin(x: &Ball, prec: u64, lim: &Limits) -> Option<Ball> {
    let w = prec + 16;
    let one = Ball::exact_int(1);
    if x.r.is_zero() && x.m.abs().is_one() && x.e == 0 {
        let h = pi(w).mul_2exp(-1);
        return Some(if x.sign() == Sign::Minus { h.neg() } else { h }.normalize(prec));
    }
    let c = one.sub(&x.mul(x, w), w);
    if c.sign() != Sign::Plus || !c.excludes_zero() {
        return None;
    }
    atan(&x.div(&c.root(2, w)?, w)?, prec, lim)
}

// ------------------------------------------------------------------------------------------------
// complex balls

#[derive(Clone, Debug)]
pub struct CBall {
    pub re: Ball,
    pub im: Ball,
}

impl CBall {
    pub fn real(re: Ball) -> CBall {
        CBall { re, im: Ball::zero() }
    }
    pub fn is_real(&self) -> bool {
        self.im.is_exact_zero()
    }
    fn add(&self, o: &CBall, p: u64) -> CBall {
        CBall { re: self.re.add(&o.re, p), im: self.im.add(&o.im, p) }
    }
    fn neg(&self) -> CBall {
        CBall { re: self.re.neg(), im: self.im.neg() }
    }
    fn sub(&self, o: &CBall, p: u64) -> CBall {
        self.add(&o.neg(), p)
    }
    fn mul(&self, o: &CBall, p: u64) -> CBall {
        if self.is_real() && o.is_real() {
            return CBall::real(self.re.mul(&o.re, p));
        }
        CBall {
            re: self.re.mul(&o.re, p).sub(&self.im.mul(&o.im, p), p),
            im: self.re.mul(&o.im, p).add(&self.im.mul(&o.re, p), p),
        }
    }
    fn div(&self, o: &CBall, p: u64) -> Option<CBall> {
        if o.is_real() {
            return Some(CBall { re: self.re.div(&o.re, p)?, im: self.im.div(&o.re, p)? });
        }
        let den = o.re.mul(&o.re, p).add(&o.im.mul(&o.im, p), p);
        let conj = CBall { re: o.re.clone(), im: o.im.neg() };
        let num = self.mul(&conj, p);
        Some(CBall { re: num.re.div(&den, p)?, im: num.im.div(&den, p)? })
    }
    fn powi(&self, n: i64, p: u64) -> Option<CBall> {
        if self.is_real() {
            return Some(CBall::real(self.re.powi(n, p)?));
        }
        if n.unsigned_abs() > 1 << 20 {
            return None;
        }
        let mut acc = CBall::real(Ball::exact_int(1));
        let mut base = self.clone();
        let mut k = n.unsigned_abs();
        while k > 0 {
            if k & 1 == 1 {
                acc = acc.mul(&base, p);
            }
            k >>= 1;
            if k > 0 {
                base = base.mul(&base, p);
            }
        }
        if n < 0 {
            CBall::real(Ball::exact_int(1)).div(&acc, p)
        } else {
            Some(acc)
        }
    }
    fn exp(&self, p: u64, lim: &Limits) -> Option<CBall> {
        let m = exp(&self.re, p, lim)?;
        if self.is_real() {
            return Some(CBall::real(m));
        }
        let (s, c) = sin_cos(&self.im, p, lim)?;
        Some(CBall { re: m.mul(&c, p), im: m.mul(&s, p) })
    }
    /// Principal q-th root of a real value (complex only for the square root of a negative).
    fn root(&self, q: u32, p: u64) -> Option<CBall> {
        if !self.is_real() {
            return None;
        }
        if self.re.sign() == Sign::Minus && q.is_multiple_of(2) {
            if q == 2 {
                return Some(CBall { re: Ball::zero(), im: self.re.neg().root(2, p)? });
            }
            return None;
        }
        Some(CBall::real(self.re.root(q, p)?))
    }
    fn positive_real(&self) -> Option<&Ball> {
        if self.is_real() && self.re.sign() == Sign::Plus {
            Some(&self.re)
        } else {
            None
        }
    }
}

// ------------------------------------------------------------------------------------------------
// evaluation of expressions into exact rationals or balls

/// A value during certified evaluation: exact while rational, a complex ball otherwise.
#[derive(Clone, Debug)]
pub enum BV {
    R(BigRational),
    C(CBall),
}

struct Ctx<'l> {
    prec: u64,
    lim: &'l Limits,
    /// largest and smallest log2 of the values met: their spread decides the precision needed
    max_log2: i64,
    min_log2: i64,
}

fn rat_small(r: &BigRational) -> bool {
    r.numer().bits() <= MAX_BITS && r.denom().bits() <= MAX_BITS
}

impl Ctx<'_> {
    fn ball(&self, v: &BV) -> CBall {
        match v {
            BV::R(r) => CBall::real(Ball::from_rat(r, self.prec)),
            BV::C(c) => c.clone(),
        }
    }

    /// Record the binary magnitude of a value: exact rationals always, balls only when they are
    /// well determined (radius far below the midpoint; not the noise left by a cancellation).
    fn note(&mut self, v: &BV) {
        let mut see = |l: i64| {
            self.max_log2 = self.max_log2.max(l);
            self.min_log2 = self.min_log2.min(l);
        };
        match v {
            BV::R(r) => {
                if !r.is_zero() {
                    see(r.numer().bits() as i64 - r.denom().bits() as i64);
                }
            }
            BV::C(c) => {
                for b in [&c.re, &c.im] {
                    if !b.m.is_zero() && b.r.log2_up() < b.mag_log2() - 64 {
                        see(b.mag_log2());
                    }
                }
            }
        }
    }

    fn eval(&mut self, e: &Expr, env: &[(String, Num)], depth: usize) -> Option<BV> {
        if depth > 2_500 || (depth.is_multiple_of(8) && self.lim.expired()) {
            return None;
        }
        let p = self.prec;
        let d = depth + 1;
        let v = match e {
            Expr::Num(r) => BV::R(r.clone()),
            Expr::Const(c) => match c {
                Const::Pi => BV::C(CBall::real(pi(p))),
                Const::E => BV::C(CBall::real(exp(&Ball::exact_int(1), p, self.lim)?)),
                Const::I => BV::C(CBall { re: Ball::zero(), im: Ball::exact_int(1) }),
                Const::Inf => return None,
            },
            Expr::Var(n) => match env.iter().find(|(k, _)| k == n) {
                Some((_, Num::Rat(r))) => BV::R(r.clone()),
                _ => return None,
            },
            Expr::Neg(a) => match self.eval(a, env, d)? {
                BV::R(r) => BV::R(-r),
                BV::C(c) => BV::C(c.neg()),
            },
            Expr::Add(a, b) | Expr::Sub(a, b) | Expr::Mul(a, b) | Expr::Div(a, b) => {
                let x = self.eval(a, env, d)?;
                let y = self.eval(b, env, d)?;
                if let (BV::R(x), BV::R(y)) = (&x, &y) {
                    let r = match e {
                        Expr::Add(..) => Some(x + y),
                        Expr::Sub(..) => Some(x - y),
                        Expr::Mul(..) if x.numer().bits() + y.numer().bits() <= MAX_BITS => Some(x * y),
                        Expr::Div(..) if y.is_zero() => return None,
                        Expr::Div(..) if x.numer().bits() + y.denom().bits() <= MAX_BITS => Some(x / y),
                        _ => None,
                    };
                    if let Some(r) = r.filter(rat_small) {
                        return self.done(BV::R(r));
                    }
                }
                let (x, y) = (self.ball(&x), self.ball(&y));
                BV::C(match e {
                    Expr::Add(..) => x.add(&y, p),
                    Expr::Sub(..) => x.sub(&y, p),
                    Expr::Mul(..) => x.mul(&y, p),
                    _ => x.div(&y, p)?,
                })
            }
            Expr::Pm(..) => return None,
            Expr::Pow(a, b) => {
                let x = self.eval(a, env, d)?;
                let y = self.eval(b, env, d)?;
                self.pow(x, y)?
            }
            Expr::Root(q, a) => {
                let q = self.eval(q, env, d)?;
                let x = self.eval(a, env, d)?;
                let qr = match &q {
                    BV::R(r) if !r.is_zero() => r.clone(),
                    _ => return None,
                };
                self.pow(x, BV::R(qr.recip()))?
            }
            Expr::Log(base, a) => {
                let x = self.eval(a, env, d)?;
                let b = match base {
                    Some(b) => self.eval(b, env, d)?,
                    None => BV::C(CBall::real(exp(&Ball::exact_int(1), p, self.lim)?)),
                };
                if let (BV::R(br), BV::R(xr)) = (&b, &x) {
                    if let Ok(Num::Rat(k)) = crate::equiv::log(&Num::Rat(br.clone()), &Num::Rat(xr.clone())) {
                        return self.done(BV::R(k));
                    }
                }
                let (xb, bb) = (self.ball(&x), self.ball(&b));
                let lx = ln(xb.positive_real()?, p, self.lim)?;
                let lb = ln(bb.positive_real()?, p, self.lim)?;
                BV::C(CBall::real(lx.div(&lb, p)?))
            }
            Expr::Func(f, a) => {
                let x = self.eval(a, env, d)?;
                self.func(*f, x)?
            }
            Expr::Factorial(a) => match self.eval(a, env, d)? {
                BV::R(r) => match Num::Rat(r).factorial() {
                    Ok(Num::Rat(v)) => BV::R(v),
                    _ => return None,
                },
                _ => return None,
            },
            Expr::Binom(a, b) => match (self.eval(a, env, d)?, self.eval(b, env, d)?) {
                (BV::R(n), BV::R(k)) => match Num::Rat(n).binom(&Num::Rat(k)) {
                    Ok(Num::Rat(v)) => BV::R(v),
                    _ => return None,
                },
                _ => return None,
            },
        };
        self.done(v)
    }

    fn done(&mut self, v: BV) -> Option<BV> {
        self.note(&v);
        Some(v)
    }

    fn pow(&mut self, x: BV, y: BV) -> Option<BV> {
        let p = self.prec;
        if let (BV::R(b), BV::R(k)) = (&x, &y) {
            match Num::Rat(b.clone()).pow(&Num::Rat(k.clone())) {
                Ok(Num::Rat(v)) => return Some(BV::R(v)),
                Err(_) => return None,
                Ok(_) => {}
            }
        }
        let xb = self.ball(&x);
        if let BV::R(k) = &y {
            // rational exponent p/q: q-th root, then the integer power
            let q = k.denom().to_u32().filter(|q| *q <= 64);
            let n = k.numer().to_i64().filter(|n| n.unsigned_abs() <= 1 << 20);
            if let (Some(q), Some(n)) = (q, n) {
                let r = if q == 1 { xb } else { xb.root(q, p)? };
                return Some(BV::C(r.powi(n, p)?));
            }
        }
        // x^y = exp(y ln x) for a positive real base
        let base = xb.positive_real()?;
        let l = CBall::real(ln(base, p, self.lim)?);
        let yb = self.ball(&y);
        Some(BV::C(yb.mul(&l, p).exp(p, self.lim)?))
    }

    fn func(&mut self, f: Func, x: BV) -> Option<BV> {
        let p = self.prec;
        if let BV::R(r) = &x {
            match f {
                Func::Abs => return Some(BV::R(r.abs())),
                Func::Floor => return Some(BV::R(r.floor())),
                Func::Ceil => return Some(BV::R(r.ceil())),
                _ => {}
            }
            if r.is_zero() {
                match f {
                    Func::Sin | Func::Tan | Func::Asin | Func::Atan | Func::Sinh | Func::Tanh => {
                        return Some(BV::R(BigRational::zero()))
                    }
                    Func::Cos | Func::Cosh | Func::Exp => return Some(BV::R(BigRational::one())),
                    _ => {}
                }
            }
            if r.is_one() && f == Func::Ln {
                return Some(BV::R(BigRational::zero()));
            }
        }
        let c = self.ball(&x);
        if f == Func::Exp {
            return Some(BV::C(c.exp(p, self.lim)?));
        }
        if !c.is_real() {
            if f == Func::Abs {
                let n2 = c.re.mul(&c.re, p).add(&c.im.mul(&c.im, p), p);
                return Some(BV::C(CBall::real(n2.root(2, p)?)));
            }
            return None;
        }
        let v = &c.re;
        let one = Ball::exact_int(1);
        let lim = self.lim;
        let out = match f {
            Func::Abs => v.abs(),
            Func::Floor | Func::Ceil => {
                let (lo, hi) = v.ends();
                let (a, b) = if f == Func::Floor { (lo.floor(), hi.floor()) } else { (lo.ceil(), hi.ceil()) };
                if a != b {
                    return None;
                }
                return Some(BV::R(a));
            }
            Func::Sin => sin_cos(v, p, lim)?.0,
            Func::Cos => sin_cos(v, p, lim)?.1,
            Func::Tan => {
                let (s, c) = sin_cos(v, p, lim)?;
                s.div(&c, p)?
            }
            Func::Cot => {
                let (s, c) = sin_cos(v, p, lim)?;
                c.div(&s, p)?
            }
            Func::Sec => one.div(&sin_cos(v, p, lim)?.1, p)?,
            Func::Csc => one.div(&sin_cos(v, p, lim)?.0, p)?,
            Func::Atan => atan(v, p, lim)?,
            Func::Asin => asin(v, p, lim)?,
            Func::Acos => pi(p).mul_2exp(-1).sub(&asin(v, p, lim)?, p),
            Func::Exp => unreachable!(),
            Func::Ln => ln(v, p, lim)?,
            Func::Sinh | Func::Cosh | Func::Tanh => {
                let a = exp(v, p, lim)?;
                let b = exp(&v.neg(), p, lim)?;
                match f {
                    Func::Sinh => a.sub(&b, p).mul_2exp(-1),
                    Func::Cosh => a.add(&b, p).mul_2exp(-1),
                    _ => a.sub(&b, p).div(&a.add(&b, p), p)?,
                }
            }
        };
        Some(BV::C(CBall::real(out)))
    }
}

/// Certified comparison of two scalar expressions at the given variable values: `Some(true)` equal
/// (exactly when both stay rational; else the difference is below `2^{-prec/2}` relative),
/// `Some(false)` certainly different, `None` when undecided (unsupported or ill-conditioned).
pub fn certified_eq(a: &Expr, b: &Expr, env: &[(String, Num)], lim: &Limits) -> Option<bool> {
    match certified_cmp(a, b, env, lim)? {
        Cert::Equal => Some(true),
        Cert::Different => Some(false),
        Cert::Undecided => None,
    }
}

/// The outcome of [`certified_cmp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cert {
    Equal,
    Different,
    /// The balls overlap, but the values span more binary orders than the highest precision can
    /// resolve (`2^{65536}+1` vs `2^{65536}`): equality cannot be certified.
    Undecided,
}

/// [`certified_eq`] with a third outcome: `Undecided` when the balls still overlap at the highest
/// precision although more bits were needed to see a difference of the size of the smallest
/// value involved. `None`: the balls cannot evaluate the expressions.
pub fn certified_cmp(a: &Expr, b: &Expr, env: &[(String, Num)], lim: &Limits) -> Option<Cert> {
    let mut prec = BASE_PREC;
    loop {
        let mut ctx = Ctx { prec, lim, max_log2: 0, min_log2: 0 };
        let va = ctx.eval(a, env, 0)?;
        let vb = ctx.eval(b, env, 0)?;
        if let (BV::R(x), BV::R(y)) = (&va, &vb) {
            return Some(if x == y { Cert::Equal } else { Cert::Different });
        }
        // values spanning many binary orders need more bits to see a small difference
        let spread = (ctx.max_log2 - ctx.min_log2).max(0) as u64;
        let capped = 256 + spread > MAX_PREC;
        let need = (256 + spread).min(MAX_PREC);
        if need > prec {
            prec = need.max(2 * prec).min(MAX_PREC);
            continue;
        }
        let (x, y) = (ctx.ball(&va), ctx.ball(&vb));
        let d = x.sub(&y, prec);
        if d.re.excludes_zero() || d.im.excludes_zero() {
            return Some(Cert::Different);
        }
        let scale = x.re.abs_up().log2_up().max(x.im.abs_up().log2_up()).max(0);
        let bound = scale - (prec as i64) / 2;
        let rad = d.re.abs_up().log2_up().max(d.im.abs_up().log2_up());
        if rad <= bound {
            return Some(if capped { Cert::Undecided } else { Cert::Equal });
        }
        if prec >= MAX_PREC {
            return if capped { Some(Cert::Undecided) } else { None };
        }
        prec = (prec * 4).min(MAX_PREC);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const U: Limits = Limits::UNBOUNDED;

    fn to_f64(b: &Ball) -> f64 {
        b.m.to_f64().unwrap() * 2f64.powi(b.e as i32)
    }

    #[test]
    fn constants() {
        let p = pi(200);
        assert!((to_f64(&p) - std::f64::consts::PI).abs() < 1e-15);
        assert!(p.r.log2_up() < -190);
        let l = ln2(200);
        assert!((to_f64(&l) - std::f64::consts::LN_2).abs() < 1e-15);
        let e = exp(&Ball::exact_int(1), 200, &U).unwrap();
        assert!((to_f64(&e) - std::f64::consts::E).abs() < 1e-15);
        assert!(e.r.log2_up() < -180);
    }

    #[test]
    fn functions_agree_with_f64() {
        let p = 256;
        for v in [-7.25f64, -1.0, -0.3, 0.001, 0.5, 1.0, 2.0, 3.0, 10.5, 1000.0] {
            let b = Ball::from_rat(&BigRational::from_float(v).unwrap(), p);
            let (s, c) = sin_cos(&b, p, &U).unwrap();
            assert!((to_f64(&s) - v.sin()).abs() < 1e-12, "sin {v}");
            assert!((to_f64(&c) - v.cos()).abs() < 1e-12, "cos {v}");
            assert!((to_f64(&atan(&b, p, &U).unwrap()) - v.atan()).abs() < 1e-12, "atan {v}");
            if v.abs() < 50.0 {
                assert!((to_f64(&exp(&b, p, &U).unwrap()) / v.exp() - 1.0).abs() < 1e-12, "exp {v}");
            }
            if v > 0.0 {
                assert!((to_f64(&ln(&b, p, &U).unwrap()) - v.ln()).abs() < 1e-12, "ln {v}");
                assert!((to_f64(&b.root(2, p).unwrap()) - v.sqrt()).abs() < 1e-12, "sqrt {v}");
                assert!((to_f64(&b.root(3, p).unwrap()) - v.cbrt()).abs() < 1e-12, "cbrt {v}");
            }
            if v.abs() < 1.0 {
                assert!((to_f64(&asin(&b, p, &U).unwrap()) - v.asin()).abs() < 1e-12, "asin {v}");
            }
        }
    }

    #[test]
    fn identities_hold_to_high_precision() {
        let p = 1024;
        // sqrt(2)^2 == 2 inside the ball, radius tiny
        let s = Ball::exact_int(2).root(2, p).unwrap();
        let d = s.mul(&s, p).sub(&Ball::exact_int(2), p);
        assert!(!d.excludes_zero());
        assert!(d.abs_up().log2_up() < -1000);
        // exp(ln 3) == 3
        let t = exp(&ln(&Ball::exact_int(3), p, &U).unwrap(), p, &U).unwrap().sub(&Ball::exact_int(3), p);
        assert!(!t.excludes_zero() && t.abs_up().log2_up() < -1000);
        // 4 atan(1) == pi
        let q = atan(&Ball::exact_int(1), p, &U).unwrap().mul_2exp(2).sub(&pi(p), p);
        assert!(!q.excludes_zero() && q.abs_up().log2_up() < -1000);
        // sin(pi/6) == 1/2
        let (s6, _) = sin_cos(&pi(p).div(&Ball::exact_int(6), p).unwrap(), p, &U).unwrap();
        let h = s6.sub(&Ball::from_rat(&BigRational::new(1.into(), 2.into()), p), p);
        assert!(!h.excludes_zero() && h.abs_up().log2_up() < -1000);
    }

    #[test]
    fn separates_close_values() {
        let p = 512;
        let big = Ball::from_rat(&BigRational::from_integer(BigInt::from(10).pow(30u32)), p);
        let a = big.add(&Ball::exact_int(2).root(2, p).unwrap(), p);
        let b = big.add(&Ball::exact_int(3).root(2, p).unwrap(), p);
        assert!(a.sub(&b, p).excludes_zero());
    }
}
