//! Answer extraction from a generation or a gold solution. Every function is linear in the input
//! length (one pass, no backtracking), so 1 MB generations stay cheap.
//!
//! Prediction: the last complete `\boxed{..}` / `\fbox{..}` (balanced braces; `\boxed 5` too), else
//! the text after the last "final answer is" / "final answer:", else after the last `####`, else
//! (if enabled) the last number.
//! Gold: the last boxed answer of a MATH solution, else the number after `####` of a GSM8K
//! solution, else the whole string (a bare answer).

/// Longest extracted answer kept (longer ones are cut; they could not be graded in budget anyway).
pub const MAX_ANSWER_CHARS: usize = 4_000;

/// Content of the last complete `\boxed{...}` or `\fbox{...}`, in one forward pass.
pub fn last_boxed(s: &str) -> Option<&str> {
    let (best, _) = scan_boxes(s);
    best.map(|(_, a, z)| &s[a..z])
}

/// The generation was cut off inside its last box: a `\boxed{` (or a bare `\boxed` at the very
/// end) after the last complete box never closes. Such a generation has no answer.
pub fn box_truncated(s: &str) -> bool {
    let (best, open) = scan_boxes(s);
    match open {
        Some(o) => best.map_or(true, |(bs, _, _)| o > bs),
        None => false,
    }
}

/// One pass over the text: the last complete box (command start, content start, content end)
/// and the start of the last box command left open.
fn scan_boxes(s: &str) -> (Option<(usize, usize, usize)>, Option<usize>) {
    let b = s.as_bytes();
    let n = b.len();
    // stack of open braces: (position, opened a box)
    let mut stack: Vec<(usize, bool)> = Vec::new();
    let mut pending_box = false;
    let mut best: Option<(usize, usize, usize)> = None; // (start of the command, content start, content end)
    let mut box_cmd_start = 0usize;
    let mut box_starts: Vec<usize> = Vec::new();
    let mut last_open: Option<usize> = None;
    let mut i = 0;
    while i < n {
        let c = b[i];
        if c == b'\\' {
            let rest = &b[i + 1..];
            let name_len = if rest.starts_with(b"boxed") {
                5
            } else if rest.starts_with(b"fbox") {
                4
            } else {
                0
            };
            if name_len > 0 && !(i + 1 + name_len < n && b[i + 1 + name_len].is_ascii_alphabetic()) {
                box_cmd_start = i;
                let mut j = i + 1 + name_len;
                while j < n && (b[j] == b' ' || b[j] == b'\t') {
                    j += 1;
                }
                if j < n && b[j] == b'{' {
                    pending_box = true;
                    i = j;
                    continue;
                }
                // `\boxed 5`: up to whitespace or `$`
                if j > i + 1 + name_len && j < n {
                    let mut k = j;
                    while k < n && !matches!(b[k], b' ' | b'\t' | b'\n' | b'$' | b'\\') {
                        k += 1;
                    }
                    if k > j && best.map_or(true, |(bs, _, _)| i > bs) {
                        best = Some((i, j, k));
                    }
                    i = k;
                    continue;
                }
                if j >= n {
                    // `\boxed` and nothing after it
                    last_open = Some(i);
                }
                i = j;
                continue;
            }
            // escaped char (`\{`, `\}`, `\\`) or another command
            i += 2;
            continue;
        }
        if c == b'{' {
            stack.push((i, pending_box));
            if pending_box {
                box_starts.push(box_cmd_start);
            }
            pending_box = false;
        } else if c == b'}' {
            if let Some((open, is_box)) = stack.pop() {
                if is_box {
                    let cmd = box_starts.pop().unwrap_or(open);
                    if best.map_or(true, |(bs, _, _)| cmd > bs) {
                        best = Some((cmd, open + 1, i));
                    }
                }
            }
        } else if !(c == b' ' || c == b'\t') {
            pending_box = false;
        }
        i += 1;
    }
    // boxes whose brace is still open at the end
    if let Some(&o) = box_starts.last() {
        last_open = Some(last_open.map_or(o, |l| l.max(o)));
    }
    if pending_box {
        last_open = Some(last_open.map_or(box_cmd_start, |l| l.max(box_cmd_start)));
    }
    (best, last_open)
}

fn find_last_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() > hay.len() {
        return None;
    }
    (0..=hay.len() - needle.len()).rev().find(|&i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

/// The rest of the line after the last "final answer is" (or "final answer:").
pub fn after_final_answer(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let mut best: Option<usize> = None;
    for pat in [&b"final answer is"[..], &b"final answer:"[..], &b"final answer ="[..]] {
        if let Some(p) = find_last_ci(b, pat) {
            let end = p + pat.len();
            if best.map_or(true, |bb| end > bb) {
                best = Some(end);
            }
        }
    }
    let start = best?;
    let rest = &s[start..];
    let line = rest.split('\n').next().unwrap_or("");
    let mut t = line.trim().trim_start_matches(':').trim();
    // math between the first pair of unescaped `$` (a `\$` is a dollar sign)
    let dollars: Vec<usize> = t
        .char_indices()
        .filter(|&(i, c)| c == '$' && !(i > 0 && t.as_bytes()[i - 1] == b'\\'))
        .map(|(i, _)| i)
        .collect();
    if dollars.len() >= 2 {
        let (a, mut z) = (dollars[0], dollars[1]);
        let mut a2 = a + 1;
        // `$$...$$`
        if z == a + 1 && dollars.len() >= 4 {
            a2 = a + 2;
            z = dollars[2];
        }
        t = &t[a2..z];
    }
    let t = trim_punct(t, &['.', ',', ';']);
    if t.is_empty() {
        None
    } else {
        Some(t)
    }
}

/// Trailing sentence punctuation off, but an ellipsis (`1, 2, 3, ...`) kept.
fn trim_punct<'a>(t: &'a str, chars: &[char]) -> &'a str {
    let t = t.trim();
    if t.ends_with("...") {
        return t;
    }
    t.trim_end_matches(chars).trim()
}

/// The rest of the line after the last `####`.
pub fn after_hashes(s: &str) -> Option<&str> {
    let p = s.rfind("####")?;
    let rest = &s[p + 4..];
    let t = trim_punct(rest.split('\n').next().unwrap_or(""), &['.']);
    if t.is_empty() {
        None
    } else {
        Some(t)
    }
}

/// The last number in the text: `-1,234.5`, `3/4`, `.5`.
pub fn last_number(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let last_digit = b.iter().rposition(|c| c.is_ascii_digit())?;
    let mut end = last_digit + 1;
    let mut start = last_digit;
    let num_char = |c: u8| c.is_ascii_digit() || c == b'.' || c == b',' || c == b'/';
    while start > 0 && num_char(b[start - 1]) {
        start -= 1;
    }
    // trim separators at the ends
    while start < end && matches!(b[start], b',' | b'/') {
        start += 1;
    }
    while end > start && matches!(b[end - 1], b'.' | b',' | b'/') {
        end -= 1;
    }
    if start > 0 && b[start - 1] == b'-' {
        start -= 1;
    }
    let t = &s[start..end];
    // a comma not followed by exactly 3 digits separates numbers: take the last one
    if let Some(c) = t.rfind(',') {
        let tail = &t[c + 1..];
        let digits = tail.bytes().take_while(|x| x.is_ascii_digit()).count();
        if digits != 3 {
            return Some(tail);
        }
    }
    Some(t)
}

fn cap(s: &str) -> &str {
    if s.len() <= MAX_ANSWER_CHARS {
        return s;
    }
    let mut k = MAX_ANSWER_CHARS;
    while !s.is_char_boundary(k) {
        k -= 1;
    }
    &s[..k]
}

/// Boxed, "final answer is", `####`: the explicit answer markers of a generation.
pub fn extract_marked(s: &str) -> Option<&str> {
    if box_truncated(s) {
        return None;
    }
    if let Some(x) = last_boxed(s) {
        if !x.trim().is_empty() {
            return Some(cap(x.trim()));
        }
    }
    if let Some(x) = after_final_answer(s) {
        return Some(cap(x));
    }
    after_hashes(s).map(cap)
}

pub fn extract_pred(s: &str, fallback_last_number: bool) -> Option<&str> {
    if box_truncated(s) {
        return None;
    }
    if let Some(x) = last_boxed(s) {
        if !x.trim().is_empty() {
            return Some(cap(x.trim()));
        }
    }
    if let Some(x) = after_final_answer(s) {
        return Some(cap(x));
    }
    if let Some(x) = after_hashes(s) {
        return Some(cap(x));
    }
    if fallback_last_number {
        return last_number(s);
    }
    None
}

pub fn extract_gold(s: &str) -> Option<&str> {
    if let Some(x) = last_boxed(s) {
        if !x.trim().is_empty() {
            return Some(cap(x.trim()));
        }
    }
    if let Some(x) = after_hashes(s) {
        return Some(cap(x));
    }
    let t = s.trim();
    if t.is_empty() {
        None
    } else {
        Some(cap(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxed() {
        assert_eq!(last_boxed("a \\boxed{1} b \\boxed{\\frac{1}{2}} c"), Some("\\frac{1}{2}"));
        assert_eq!(last_boxed("\\boxed{1} then \\boxed{2"), Some("1"));
        assert_eq!(last_boxed("so \\boxed 5$."), Some("5"));
        assert_eq!(last_boxed("\\fbox{x=3}"), Some("x=3"));
        assert_eq!(last_boxed("\\boxed{\\{1,2\\}}"), Some("\\{1,2\\}"));
        assert_eq!(last_boxed("no box"), None);
        assert_eq!(last_boxed("\\boxed{\\boxed{3}}"), Some("3"));
    }

    #[test]
    fn truncated_box() {
        for t in ["so \\boxed{3", "\\boxed{1} then \\boxed{2", "\\boxed{\\frac{1}{2}", "x \\boxed", "\\boxed{", "\\boxed{3}. Or \\boxed{\\frac{7}{"] {
            assert!(box_truncated(t), "{t:?}");
        }
        for t in ["so \\boxed{3}", "no box", "\\boxed{2 then \\boxed{3}}", "{ \\boxed{3}", "\\boxed{3} and {"] {
            assert!(!box_truncated(t), "{t:?}");
        }
    }

    #[test]
    fn others() {
        assert_eq!(after_final_answer("The final answer is $\\frac{1}{2}$. I hope"), Some("\\frac{1}{2}"));
        assert_eq!(after_final_answer("Final Answer: 42."), Some("42"));
        assert_eq!(after_final_answer("the final answer is $\\$32,\\!348$."), Some("\\$32,\\!348"));
        assert_eq!(after_final_answer("final answer is $$x=1$$"), Some("x=1"));
        assert_eq!(after_hashes("blah\n#### 1,000\n"), Some("1,000"));
        assert_eq!(after_final_answer("Final answer: 1, 3, 5, ..."), Some("1, 3, 5, ..."));
        assert_eq!(after_final_answer("Final answer: 7."), Some("7"));
        assert_eq!(last_number("it costs $1,234.50."), Some("1,234.50"));
        assert_eq!(last_number("x is -3"), Some("-3"));
        assert_eq!(last_number("so 3/4"), Some("3/4"));
        assert_eq!(last_number("1,2"), Some("2"));
        assert_eq!(last_number("none"), None);
    }

    #[test]
    fn linear_on_huge_input() {
        let s = "\\boxed{".repeat(150_000);
        let t = std::time::Instant::now();
        assert_eq!(last_boxed(&s), None);
        assert!(t.elapsed().as_millis() < 100);
    }
}
