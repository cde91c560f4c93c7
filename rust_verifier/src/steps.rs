//! Step splitting: the step id of every response token, from the decoded text and each token's
//! character offsets (as HF fast tokenizers return with `return_offsets_mapping`; offsets count
//! Unicode code points, like Python string indices).
//!
//! Modes (docs/algorithms.md, "Steps"):
//! - `fixed:N`: every N tokens (text unused).
//! - `newline`: a step ends at every token whose text contains a newline.
//! - `double_newline`: a step ends at every token containing a paragraph break, i.e. a newline
//!   whose previous non-blank character (spaces, tabs, carriage returns skipped) is a newline.
//! - `balanced:MIN,MAX`: newline steps, then steps under MIN tokens merged forward into the next
//!   one (a short last step joins the one before it), then steps over MAX tokens cut every MAX.
//!
//! Step ids start at 0, are non-decreasing and increase by 1 at each boundary.

use crate::error::VerifyError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Fixed(usize),
    Newline,
    DoubleNewline,
    Balanced(usize, usize),
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, VerifyError> {
        let bad = || VerifyError::InvalidMode(s.to_string());
        let t = s.trim();
        if t == "newline" {
            return Ok(Mode::Newline);
        }
        if t == "double_newline" {
            return Ok(Mode::DoubleNewline);
        }
        if let Some(n) = t.strip_prefix("fixed:") {
            let n: usize = n.trim().parse().map_err(|_| bad())?;
            if n == 0 {
                return Err(bad());
            }
            return Ok(Mode::Fixed(n));
        }
        if let Some(r) = t.strip_prefix("balanced:") {
            let mut it = r.split(',');
            let lo: usize = it.next().ok_or_else(bad)?.trim().parse().map_err(|_| bad())?;
            let hi: usize = it.next().ok_or_else(bad)?.trim().parse().map_err(|_| bad())?;
            if it.next().is_some() || lo == 0 || hi < lo {
                return Err(bad());
            }
            return Ok(Mode::Balanced(lo, hi));
        }
        Err(bad())
    }
    pub fn needs_text(&self) -> bool {
        !matches!(self, Mode::Fixed(_))
    }
}

/// Prefix counts of boundary characters per code point: `pre[k]` = marks among chars `0..k`.
fn mark_prefix(text: &str, paragraph: bool) -> Vec<u32> {
    let mut pre = Vec::with_capacity(text.len() + 1);
    pre.push(0u32);
    let mut acc = 0u32;
    let mut last_non_blank_nl = false; // previous non-blank char was '\n'
    for ch in text.chars() {
        let mark = if ch == '\n' {
            let m = !paragraph || last_non_blank_nl;
            last_non_blank_nl = true;
            m
        } else {
            if !matches!(ch, ' ' | '\t' | '\r') {
                last_non_blank_nl = false;
            }
            false
        };
        if mark {
            acc += 1;
        }
        pre.push(acc);
    }
    pre
}

/// Which tokens close a step (text modes).
fn closers(text: &str, offsets: &[[i64; 2]], paragraph: bool, row: usize) -> Result<Vec<bool>, VerifyError> {
    let pre = mark_prefix(text, paragraph);
    let nchars = pre.len() - 1;
    let mut out = Vec::with_capacity(offsets.len());
    for (t, &[s, e]) in offsets.iter().enumerate() {
        if s < 0 || e < s || e as usize > nchars {
            return Err(VerifyError::InvalidOffsets { row, token: t, start: s, end: e, text_chars: nchars });
        }
        out.push(pre[e as usize] > pre[s as usize]);
    }
    Ok(out)
}

fn ids_from_closers(cl: &[bool]) -> Vec<i32> {
    let mut ids = Vec::with_capacity(cl.len());
    let mut cur = 0i32;
    for &c in cl {
        ids.push(cur);
        if c {
            cur += 1;
        }
    }
    ids
}

fn ids_from_lengths(lens: &[usize], n: usize) -> Vec<i32> {
    let mut ids = Vec::with_capacity(n);
    for (k, &l) in lens.iter().enumerate() {
        ids.extend(std::iter::repeat_n(k as i32, l));
    }
    ids
}

/// Step lengths of newline steps, merged (under `lo`) and cut (over `hi`).
pub fn balance(lens: &[usize], lo: usize, hi: usize) -> Vec<usize> {
    let mut merged: Vec<usize> = Vec::new();
    let mut cur = 0usize;
    for &l in lens {
        cur += l;
        if cur >= lo {
            merged.push(cur);
            cur = 0;
        }
    }
    if cur > 0 {
        match merged.last_mut() {
            Some(last) => *last += cur,
            None => merged.push(cur),
        }
    }
    let mut out = Vec::new();
    for l in merged {
        let mut rest = l;
        while rest > hi {
            out.push(hi);
            rest -= hi;
        }
        if rest > 0 {
            out.push(rest);
        }
    }
    out
}

/// Step id per token for one text.
pub fn split_one(text: &str, offsets: &[[i64; 2]], mode: Mode, row: usize) -> Result<Vec<i32>, VerifyError> {
    let n = offsets.len();
    match mode {
        Mode::Fixed(k) => Ok((0..n).map(|t| (t / k) as i32).collect()),
        Mode::Newline => Ok(ids_from_closers(&closers(text, offsets, false, row)?)),
        Mode::DoubleNewline => Ok(ids_from_closers(&closers(text, offsets, true, row)?)),
        Mode::Balanced(lo, hi) => {
            let cl = closers(text, offsets, false, row)?;
            let mut lens = Vec::new();
            let mut cur = 0;
            for c in cl {
                cur += 1;
                if c {
                    lens.push(cur);
                    cur = 0;
                }
            }
            if cur > 0 {
                lens.push(cur);
            }
            Ok(ids_from_lengths(&balance(&lens, lo, hi), n))
        }
    }
}

/// Step ids for many texts. `offsets` is flat ([total_tokens][2]); `counts[i]` tokens per text.
pub fn split_many(
    texts: &[&str],
    offsets: &[[i64; 2]],
    counts: &[usize],
    mode: Mode,
    threads: Option<usize>,
) -> Result<Vec<Vec<i32>>, VerifyError> {
    if texts.len() != counts.len() {
        return Err(VerifyError::LengthMismatch { what: "texts and offsets".into(), left: texts.len(), right: counts.len() });
    }
    let total: usize = counts.iter().sum();
    if total != offsets.len() {
        return Err(VerifyError::InvalidArgument(format!(
            "offsets hold {} tokens but the per-text counts add up to {total}",
            offsets.len()
        )));
    }
    let mut starts = Vec::with_capacity(counts.len());
    let mut acc = 0;
    for &c in counts {
        starts.push(acc);
        acc += c;
    }
    let rows = crate::parallel::map_indexed(texts.len(), threads, |i| {
        split_one(texts[i], &offsets[starts[i]..starts[i] + counts[i]], mode, i)
    })?;
    rows.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offs(tokens: &[&str]) -> (String, Vec<[i64; 2]>) {
        let mut text = String::new();
        let mut o = Vec::new();
        for t in tokens {
            let s = text.chars().count() as i64;
            text.push_str(t);
            o.push([s, text.chars().count() as i64]);
        }
        (text, o)
    }

    #[test]
    fn modes() {
        let (text, o) = offs(&["a", "b\n", "c", "\n\n", "d", "é\n", "f"]);
        assert_eq!(split_one(&text, &o, Mode::Newline, 0).unwrap(), vec![0, 0, 1, 1, 2, 2, 3]);
        assert_eq!(split_one(&text, &o, Mode::DoubleNewline, 0).unwrap(), vec![0, 0, 0, 0, 1, 1, 1]);
        assert_eq!(split_one(&text, &o, Mode::Fixed(3), 0).unwrap(), vec![0, 0, 0, 1, 1, 1, 2]);
        // newline lengths [2, 2, 2, 1] -> merged (min 3) [4, 3] -> cut (max 3) [3, 1, 3]
        assert_eq!(split_one(&text, &o, Mode::Balanced(3, 3), 0).unwrap(), vec![0, 0, 0, 1, 2, 2, 2]);
        assert_eq!(split_one("", &[], Mode::Newline, 0).unwrap(), Vec::<i32>::new());
    }

    #[test]
    fn parse_modes() {
        assert_eq!(Mode::parse("fixed:256").unwrap(), Mode::Fixed(256));
        assert_eq!(Mode::parse("balanced:4,64").unwrap(), Mode::Balanced(4, 64));
        for bad in ["fixed:0", "fixed:x", "balanced:5,2", "balanced:0,3", "lines", "balanced:1,2,3"] {
            assert!(Mode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_offsets() {
        let e = split_one("ab", &[[0, 3]], Mode::Newline, 7).unwrap_err();
        assert!(matches!(e, VerifyError::InvalidOffsets { row: 7, token: 0, .. }));
    }

    #[test]
    fn balance_property() {
        for lens in [vec![1usize, 1, 1, 1, 1], vec![10], vec![2, 9, 1], vec![]] {
            let out = balance(&lens, 2, 4);
            assert_eq!(out.iter().sum::<usize>(), lens.iter().sum::<usize>());
            assert!(out.iter().all(|&l| (1..=4).contains(&l)));
        }
    }
}
