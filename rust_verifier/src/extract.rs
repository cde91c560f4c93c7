//! Answer extraction from a generation or a gold solution. Every function is linear in the input
//! length (one pass, no backtracking), so 1 MB generations stay cheap.
//!
//! Prediction: the last complete `\boxed{..}` / `\fbox{..}` (balanced braces; `\boxed 5` too), else
//! the text after the last "final answer is" / "final answer:", else after the last `####`, else
//! (if enabled) the last number.
//! Gold: the last boxed answer of a MATH solution, else the number after `####` of a GSM8K
//! solution, else the whole string (a bare answer).

use std::borrow::Cow;

/// Longest extracted answer kept (longer ones are cut; they could not be graded in budget anyway).
pub const MAX_ANSWER_CHARS: usize = 4_000;
/// A gold longer than this without a box or `####` may be a generation: its "final answer" phrase.
const BARE_GOLD_CHARS: usize = 200;

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
        Some(o) => best.is_none_or(|(bs, _, _)| o > bs),
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
                    if k > j && best.is_none_or(|(bs, _, _)| i > bs) {
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
                    if best.is_none_or(|(bs, _, _)| cmd > bs) {
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
    let first = needle[0].to_ascii_lowercase();
    (0..=hay.len() - needle.len())
        .rev()
        .find(|&i| hay[i].to_ascii_lowercase() == first && hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

/// The answer after the last "final answer is" / "final answer:" / "final answer =".
pub fn after_final_answer(s: &str) -> Option<Cow<'_, str>> {
    final_answer_at(s).map(|(_, t)| t)
}

/// The position of the last "final answer" marker and the answer after it, on its line: the math
/// right after it (`$..$`, `$$..$$`, `\(..\)`, `\[..\]`), else its sentence (up to ". "), where a
/// sentence like "The largest $n$ is 34" gives what follows its last " is ", and then the first
/// math span of what is left, if any.
pub fn final_answer_at(s: &str) -> Option<(usize, Cow<'_, str>)> {
    let b = s.as_bytes();
    let mut best: Option<(usize, usize)> = None;
    for pat in [&b"final answer is"[..], &b"final answer:"[..], &b"final answer ="[..]] {
        if let Some(p) = find_last_ci(b, pat) {
            let end = p + pat.len();
            if best.is_none_or(|(_, bb)| end > bb) {
                best = Some((p, end));
            }
        }
    }
    let (at, start) = best?;
    let rest = &s[start..];
    let line = rest.split('\n').next().unwrap_or("");
    let t = line.trim().trim_start_matches(':').trim().trim_start_matches(['"', '\'', '“']).trim();
    if let Some(m) = leading_math_list(t) {
        return Some((at, m));
    }
    let mut sent = cut_sentence(t);
    if let Some(k) = rfind_outside_math(sent, " is ") {
        sent = &sent[k + 4..];
    }
    let t = first_math_span(sent).unwrap_or(sent);
    let t = trim_punct(t, &['.', ',', ';']);
    (!t.is_empty()).then_some((at, Cow::Borrowed(t)))
}

/// Words and macros that only join answers: `$1$ and $-2$`, `$3$, $4$`, `$12$ \text{and} $13$`.
fn skip_connectors(t: &str) -> &str {
    let mut t = t;
    loop {
        let before = t.len();
        t = t.trim_start().trim_start_matches([',', ';', '&']);
        for w in ["\\text{and}", "\\text{ and }", "\\quad", "\\qquad", "and ", "or ", "\\text{or}", "\\text{ or }"] {
            if let Some(r) = t.strip_prefix(w) {
                t = r;
            }
        }
        if t.len() == before {
            return t;
        }
    }
}

/// The math spans at the start of `t` joined by connectors only (`$12$ and $13$`): one span as
/// is, several as a list (`12, 13`); trailing sentence punctuation off.
fn leading_math_list(t: &str) -> Option<Cow<'_, str>> {
    let (first, mut end) = leading_math_end(t)?;
    let mut parts = vec![trim_punct(first, &['.', ',', ';'])];
    while let Some((m, e)) = {
        let r = skip_connectors(&t[end..]);
        leading_math_end(r).map(|(m, e)| (m, t.len() - r.len() + e))
    } {
        parts.push(trim_punct(m, &['.', ',', ';']));
        end = e;
    }
    parts.retain(|p| !p.is_empty());
    match parts.len() {
        0 => None,
        1 => Some(Cow::Borrowed(parts[0])),
        _ => Some(Cow::Owned(cap(&parts.join(", ")).to_string())),
    }
}

/// Positions of the unescaped `$` signs, for "inside math" tests.
fn in_math_mask(t: &str) -> Vec<bool> {
    let b = t.as_bytes();
    let mut m = vec![false; b.len()];
    let mut inside = false;
    for i in 0..b.len() {
        if b[i] == b'$' && !(i > 0 && b[i - 1] == b'\\') {
            inside = !inside;
        }
        m[i] = inside;
    }
    m
}

/// `t` up to its first ". " outside math.
fn cut_sentence(t: &str) -> &str {
    let m = in_math_mask(t);
    let b = t.as_bytes();
    for i in 0..b.len().saturating_sub(1) {
        if b[i] == b'.' && b[i + 1] == b' ' && !m[i] {
            return &t[..i];
        }
    }
    t
}

/// The last occurrence of `pat` outside math.
fn rfind_outside_math(t: &str, pat: &str) -> Option<usize> {
    let m = in_math_mask(t);
    let mut end = t.len();
    while let Some(k) = t[..end].rfind(pat) {
        if !m[k] {
            return Some(k);
        }
        end = k;
    }
    None
}

/// The content of the first math span in `t`.
fn first_math_span(t: &str) -> Option<&str> {
    let b = t.as_bytes();
    for i in 0..b.len() {
        let opens = (b[i] == b'$' && !(i > 0 && b[i - 1] == b'\\')) || (b[i] == b'\\' && i + 1 < b.len() && matches!(b[i + 1], b'(' | b'['));
        if opens {
            return leading_math(&t[i..]).map(str::trim).filter(|m| !m.is_empty());
        }
    }
    None
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

fn cap_cow(c: Cow<'_, str>) -> Cow<'_, str> {
    match c {
        Cow::Borrowed(b) => Cow::Borrowed(cap(b)),
        Cow::Owned(o) => Cow::Owned(cap(&o).to_string()),
    }
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

/// Boxed (several boxes on the last line joined), "final answer is", `####`: the explicit answer
/// markers of a generation. This is all that `strict` grading reads.
pub fn extract_marked(s: &str) -> Option<std::borrow::Cow<'_, str>> {
    match find_marked(s) {
        Marked::Found(x) => Some(x),
        Marked::Truncated | Marked::Nothing => None,
    }
}

/// What the explicit markers of a generation give.
pub enum Marked<'a> {
    /// Cut off inside its last box: no answer at all.
    Truncated,
    Found(std::borrow::Cow<'a, str>),
    Nothing,
}

/// [`extract_marked`], telling a truncated box apart from no marker (one pass over the boxes).
pub fn find_marked(s: &str) -> Marked<'_> {
    use std::borrow::Cow;
    let (best, open) = scan_boxes(s);
    if open.is_some_and(|o| best.is_none_or(|(bs, _, _)| o > bs)) {
        return Marked::Truncated;
    }
    // a phrase is searched after the last box only (linear, and what matters)
    let tail_from = best.map_or(0, |(_, _, z)| z);
    let phrase = final_answer_at(&s[tail_from..]).map(|(at, t)| (at + tail_from, t));
    if let Some((cmd, a, z)) = best {
        let x = s[a..z].trim();
        // a "final answer" phrase after the last box is the last word: `\boxed{255} ... The final
        // answer is $10,455$`
        // (only a phrase that states a value: "The final answer is positive, because ..." is not one)
        let phrase_later = phrase.as_ref().is_some_and(|(at, t)| *at > z && t.bytes().any(|c| c.is_ascii_digit() || c == b'\\'));
        if !x.is_empty() && !phrase_later {
            if let Some(joined) = joined_boxes(s, cmd, z) {
                return Marked::Found(Cow::Owned(joined));
            }
            return Marked::Found(Cow::Borrowed(cap(x)));
        }
    }
    if let Some((_, x)) = phrase {
        return Marked::Found(cap_cow(x));
    }
    match after_hashes(s) {
        Some(x) => Marked::Found(Cow::Borrowed(cap(x))),
        None => Marked::Nothing,
    }
}

/// `\boxed{k = 45} and \boxed{n = 2}`: two or more boxes on the line of the last one, with only
/// connectors between them (spaces, `$`, `,`, `;`, "and", `\quad`), joined as a list.
fn joined_boxes(s: &str, last_cmd: usize, last_end: usize) -> Option<String> {
    let mut line_start = s[..last_cmd].rfind('\n').map_or(0, |p| p + 1).max(last_cmd.saturating_sub(MAX_ANSWER_CHARS));
    while !s.is_char_boundary(line_start) {
        line_start += 1;
    }
    let seg = &s[line_start..=last_end];
    let mut boxes: Vec<(usize, usize, usize)> = Vec::new(); // (command start, content start, content end)
    let b = seg.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && (seg[i + 1..].starts_with("boxed") || seg[i + 1..].starts_with("fbox")) {
            let name_end = i + 1 + if seg[i + 1..].starts_with("boxed") { 5 } else { 4 };
            let mut j = name_end;
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
            if j < b.len() && b[j] == b'{' {
                if let Some(e) = crate::lex::match_brace(b, j) {
                    boxes.push((i, j + 1, e));
                    i = e + 1;
                    continue;
                }
            }
        }
        i += 1;
    }
    // the run of boxes ending with the last one, each separated from the next by a short stretch
    // within one sentence (connectors, `$`, `\quad`, up to four words: "and", "for part (a) and")
    let gap_ok = |gap: &str| {
        let g = gap.replace("\\quad", "").replace("\\qquad", "").replace("\\(", "").replace("\\)", "");
        let words: Vec<&str> = g.split(|c: char| !c.is_ascii_alphabetic()).filter(|w| w.len() > 1 && *w != "text").collect();
        // no words, or a few joined by "and" / "or" ("first, then" or "no wait" is a correction)
        let joined = words.is_empty() || words.iter().any(|w| w.eq_ignore_ascii_case("and") || w.eq_ignore_ascii_case("or"));
        g.len() <= 60 && words.len() <= 4 && joined && !g.contains(['.', '!', '?', ':', '=', '\n'])
    };
    if boxes.is_empty() {
        return None;
    }
    let mut first = boxes.len() - 1;
    while first > 0 && gap_ok(&seg[boxes[first - 1].2 + 1..boxes[first].0]) {
        first -= 1;
    }
    let boxes = &boxes[first..];
    if boxes.len() < 2 {
        return None;
    }
    let parts: Vec<&str> = boxes.iter().map(|&(_, a, z)| seg[a..z].trim()).filter(|x| !x.is_empty()).collect();
    let joined = parts.join(", ");
    Some(cap(&joined).to_string())
}

/// In the last line, after the last "answer is" / "answer:" / "answer =" / "Answer $..$": the math that follows
/// (between `$`, `\(..\)` or `\[..\]`), else the rest of that sentence.
pub fn after_answer_phrase(s: &str) -> Option<Cow<'_, str>> {
    // only in the last non-empty line (a phrase mid-reasoning, "if the answer is right", is not it)
    let t = s.trim_end();
    let mut from = t.rfind('\n').map_or(0, |p| p + 1).max(t.len().saturating_sub(4 * MAX_ANSWER_CHARS));
    while !t.is_char_boundary(from) {
        from += 1;
    }
    let s = &t[from..];
    let b = s.as_bytes();
    let mut end = b.len();
    // the last occurrence of "answer" that is followed by a marker
    for _ in 0..8 {
        let p = find_last_ci(&b[..end], b"answer")?;
        end = p;
        if p > 0 && b[p - 1].is_ascii_alphabetic() {
            continue;
        }
        let mut k = p + 6;
        while k < b.len() && b[k] == b' ' {
            k += 1;
        }
        let rest = &s[k..];
        let lower: String = rest.chars().take(12).collect::<String>().to_ascii_lowercase();
        let skip = if lower.starts_with("is:") {
            3
        } else if lower.starts_with("is ") || lower.starts_with("is$") {
            2
        } else if lower.starts_with(':') || lower.starts_with('=') {
            1
        } else if rest.starts_with('$') || rest.starts_with("\\(") || rest.starts_with("\\[") {
            0
        } else {
            continue;
        };
        let line = rest[skip..].split('\n').next().unwrap_or("").trim();
        if leading_math(line).is_some() {
            match leading_math_list(line) {
                Some(m) => return Some(m),
                None => continue,
            }
        }
        // the rest of the sentence: up to ". " or the end of the line
        let cut = line.find(". ").unwrap_or(line.len());
        let t = trim_punct(&line[..cut], &['.', ',', ';']);
        if !t.is_empty() {
            return Some(Cow::Borrowed(t));
        }
    }
    None
}

/// The content of a math span at the very start of `t` (`$..$`, `$$..$$`, `\(..\)`, `\[..\]`).
fn leading_math(t: &str) -> Option<&str> {
    leading_math_end(t).map(|(m, _)| m)
}

/// [`leading_math`] and the index just after the span's closing delimiter.
fn leading_math_end(t: &str) -> Option<(&str, usize)> {
    for (o, c) in [("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")] {
        if let Some(rest) = t.strip_prefix(o) {
            let mut from = 0;
            // an escaped `\$` inside is a dollar sign
            while let Some(q) = rest[from..].find(c) {
                let at = from + q;
                if c == "$" && at > 0 && rest.as_bytes()[at - 1] == b'\\' {
                    from = at + 1;
                    continue;
                }
                return Some((&rest[..at], o.len() + at + c.len()));
            }
            return None;
        }
    }
    None
}

/// The last display or inline math in the final sentence: `Therefore $x \gt 5$ is the solution.`
/// gives `x \gt 5`; a generation ending in a display `\[ .. \]` / `$$ .. $$` gives its content.
pub fn math_in_final_sentence(s: &str) -> Option<Cow<'_, str>> {
    let t = s.trim_end().trim_end_matches(['.', ' ']);
    // a final display block, possibly over several lines
    for (o, c) in [("\\[", "\\]"), ("$$", "$$")] {
        if let Some(body) = t.strip_suffix(c) {
            if let Some(p) = body.rfind(o) {
                let m = body[p + o.len()..].trim();
                if !m.is_empty() && m.len() <= MAX_ANSWER_CHARS {
                    return Some(Cow::Borrowed(m));
                }
            }
        }
    }
    let line_start = t.rfind('\n').map_or(0, |p| p + 1);
    let line = &t[line_start..];
    if line.len() > 4 * MAX_ANSWER_CHARS {
        return None;
    }
    // math spans of the line, and sentence ends outside them
    let b = line.as_bytes();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut sentence_start = 0usize;
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        let open = if rest.starts_with(b"$$") {
            Some(("$$", 2))
        } else if rest.starts_with(b"$") && !(i > 0 && b[i - 1] == b'\\') {
            Some(("$", 1))
        } else if rest.starts_with(b"\\(") {
            Some(("\\)", 2))
        } else if rest.starts_with(b"\\[") {
            Some(("\\]", 2))
        } else {
            None
        };
        if let Some((close, olen)) = open {
            let from = i + olen;
            let mut k = from;
            let mut found = None;
            while let Some(q) = line[k..].find(close) {
                let at = k + q;
                if close == "$" && at > 0 && b[at - 1] == b'\\' {
                    k = at + 1;
                    continue;
                }
                found = Some(at);
                break;
            }
            match found {
                Some(at) => {
                    spans.push((from, at));
                    i = at + close.len();
                    // a display (`$$..$$`, `\[..\]`) followed by text ends its sentence
                    if olen == 2 && close != "\\)" && line[i..].trim_start().len() > 1 {
                        sentence_start = i;
                    }
                    continue;
                }
                None => break,
            }
        }
        if matches!(b[i], b'.' | b'!' | b'?') && i + 1 < b.len() && b[i + 1] == b' ' {
            sentence_start = i + 1;
        }
        i += 1;
    }
    // the last span of the final sentence, with the spans before it joined to it by connectors
    // only (`The solutions are $1$ and $-2$.`)
    let spans: Vec<(usize, usize)> = spans.into_iter().filter(|&(a, _)| a >= sentence_start).collect();
    let last = spans.len().checked_sub(1)?;
    let mut first = last;
    while first > 0 {
        // the text between two spans, without their delimiters
        let gap = &line[spans[first - 1].1..spans[first].0];
        let gap = gap.trim_start_matches('$');
        let gap = gap.strip_prefix("\\)").or_else(|| gap.strip_prefix("\\]")).unwrap_or(gap);
        let gap = gap.trim_end_matches('$');
        let gap = gap.strip_suffix("\\(").or_else(|| gap.strip_suffix("\\[")).unwrap_or(gap);
        if gap.trim().is_empty() || !skip_connectors(gap).trim().is_empty() {
            break;
        }
        first -= 1;
    }
    let parts: Vec<&str> = spans[first..].iter().map(|&(a, z)| line[a..z].trim()).filter(|m| !m.is_empty()).collect();
    match parts.len() {
        0 => None,
        1 if parts[0].len() <= MAX_ANSWER_CHARS => Some(Cow::Borrowed(parts[0])),
        1 => None,
        _ => Some(Cow::Owned(cap(&parts.join(", ")).to_string())),
    }
}

/// The prediction's answer without the bare-answer step of `grade` (which needs the parser):
/// markers, then the "answer is" phrase, the math of the final sentence, the last number.
pub fn extract_pred(s: &str, fallback_last_number: bool) -> Option<std::borrow::Cow<'_, str>> {
    use std::borrow::Cow;
    match find_marked(s) {
        Marked::Truncated => return None,
        Marked::Found(x) => return Some(x),
        Marked::Nothing => {}
    }
    if let Some(x) = after_answer_phrase(s).or_else(|| math_in_final_sentence(s)) {
        return Some(cap_cow(x));
    }
    if fallback_last_number {
        return last_number(s).map(Cow::Borrowed);
    }
    None
}

/// Gold: the last boxed answer (several boxes on its line joined, as for a prediction), else
/// after `####`, else the whole string.
pub fn extract_gold(s: &str) -> Option<std::borrow::Cow<'_, str>> {
    use std::borrow::Cow;
    let (best, _) = scan_boxes(s);
    if let Some((cmd, a, z)) = best {
        let x = s[a..z].trim();
        if !x.is_empty() {
            if let Some(joined) = joined_boxes(s, cmd, z) {
                return Some(Cow::Owned(joined));
            }
            return Some(Cow::Borrowed(cap(x)));
        }
    }
    if let Some(x) = after_hashes(s) {
        return Some(Cow::Borrowed(cap(x)));
    }
    // a gold that is itself a generation ending in "The final answer is $..$" (long text only:
    // a short bare gold is the answer as written)
    if s.len() > BARE_GOLD_CHARS {
        if let Some(x) = after_final_answer(s) {
            return Some(cap_cow(x));
        }
    }
    let t = s.trim();
    if t.is_empty() {
        None
    } else {
        Some(Cow::Borrowed(cap(t)))
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
        assert_eq!(after_final_answer("The final answer is $\\frac{1}{2}$. I hope").as_deref(), Some("\\frac{1}{2}"));
        assert_eq!(after_final_answer("Final Answer: 42.").as_deref(), Some("42"));
        assert_eq!(after_final_answer("the final answer is $\\$32,\\!348$.").as_deref(), Some("\\$32,\\!348"));
        assert_eq!(after_final_answer("final answer is $$x=1$$").as_deref(), Some("x=1"));
        assert_eq!(after_hashes("blah\n#### 1,000\n"), Some("1,000"));
        assert_eq!(after_final_answer("Final answer: 1, 3, 5, ...").as_deref(), Some("1, 3, 5, ..."));
        assert_eq!(after_final_answer("Final answer: 7.").as_deref(), Some("7"));
        assert_eq!(last_number("it costs $1,234.50."), Some("1,234.50"));
        assert_eq!(last_number("x is -3"), Some("-3"));
        assert_eq!(last_number("so 3/4"), Some("3/4"));
        assert_eq!(last_number("1,2"), Some("2"));
        assert_eq!(last_number("none"), None);
    }

    #[test]
    fn fallbacks() {
        assert_eq!(math_in_final_sentence("Therefore $x \\gt 5$ is the solution.").as_deref(), Some("x \\gt 5"));
        assert_eq!(math_in_final_sentence("We had $y=2$. So the result is $x = 3$ here.").as_deref(), Some("x = 3"));
        assert_eq!(math_in_final_sentence("We had $y=2$. So it works.").as_deref(), None);
        assert_eq!(math_in_final_sentence("Thus\n\\[\n x = \\frac{1}{2}\n\\]\n").as_deref(), Some("x = \\frac{1}{2}"));
        assert_eq!(math_in_final_sentence("It costs \\$5 and $x=2$.").as_deref(), Some("x=2"));
        assert_eq!(after_answer_phrase("Answer $ \\frac{10}{9} $").as_deref(), Some("\\frac{10}{9}"));
        assert_eq!(after_answer_phrase("... so the answer is (3, 2).").as_deref(), Some("(3, 2)"));
        assert_eq!(after_answer_phrase("The answer is: \\(x=4\\). Done").as_deref(), Some("x=4"));
        assert_eq!(after_answer_phrase("To find the answer, we add. 5").as_deref(), None);
        assert_eq!(after_answer_phrase("If the answer is right, fine.\nSo 7").as_deref(), None);
        assert_eq!(extract_marked("\\boxed{k = 45} and \\boxed{n = 2}").as_deref(), Some("k = 45, n = 2"));
        assert_eq!(extract_marked("$\\boxed{1}$, $\\boxed{2}$").as_deref(), Some("1, 2"));
        assert_eq!(extract_marked("\\boxed{1}\nso \\boxed{2}").as_deref(), Some("2"));
        // two boxes joined by "and" / "or": both (a hedge against a one-value gold); a correction: the last
        assert_eq!(extract_marked("\\boxed{3} or \\boxed{4}").as_deref(), Some("3, 4"));
        assert_eq!(extract_marked("\\boxed{3}, no wait, \\boxed{4}").as_deref(), Some("4"));
        assert_eq!(extract_marked("\\boxed{1} first, then \\boxed{2}").as_deref(), Some("2"));
        assert_eq!(extract_marked("\\boxed{3}. No: \\boxed{4}").as_deref(), Some("4"));
        assert_eq!(extract_marked("$$\\boxed{(3, 3)} \\text{ for part (a) and } \\boxed{(1, 1)}$$").as_deref(), Some("(3, 3), (1, 1)"));
        // a "final answer" phrase after the last box wins
        assert_eq!(extract_marked("so \\boxed{255}. Total 10,455. Final Answer: The final answer is $10,455$. I hope").as_deref(), Some("10,455"));
        assert_eq!(extract_marked("so \\boxed{7}. The final answer is positive, because both are.").as_deref(), Some("7"));
        assert_eq!(after_final_answer("Final Answer: The largest $n$ is 34.").as_deref(), Some("34"));
        // several math spans joined by connectors are one list; prose ends the run
        assert_eq!(after_final_answer("The final answer is \"$12 $ and $13 $\".").as_deref(), Some("12, 13"));
        assert_eq!(after_final_answer("The final answer is $3$ or $4$.").as_deref(), Some("3, 4"));
        assert_eq!(after_final_answer("The final answer is $5$ dollars and $3$ cents.").as_deref(), Some("5"));
        assert_eq!(math_in_final_sentence("The solutions are $1$ and $-2$.").as_deref(), Some("1, -2"));
        assert_eq!(math_in_final_sentence("So \\(x=1\\) and \\(y=2\\).").as_deref(), Some("x=1, y=2"));
        assert_eq!(math_in_final_sentence("If $x=1$ then $y=2$.").as_deref(), Some("y=2"));
        assert_eq!(after_answer_phrase("so the answer is $1$, $2$ and $3$.").as_deref(), Some("1, 2, 3"));
        assert_eq!(after_final_answer("Final Answer: The volume of $ABCDEFGH$ is 120. I hope it is correct.").as_deref(), Some("120"));
        assert_eq!(after_final_answer("The final answer is 12,000,023. I hope it is correct.").as_deref(), Some("12,000,023"));
        assert_eq!(after_final_answer("The final answer is \\((-6, 10)\\). I hope it is correct").as_deref(), Some("(-6, 10)"));
        assert_eq!(after_final_answer("The final answer is 3.5.").as_deref(), Some("3.5"));
    }

    #[test]
    fn linear_on_huge_input() {
        let s = "\\boxed{".repeat(150_000);
        let t = std::time::Instant::now();
        assert_eq!(last_boxed(&s), None);
        assert!(t.elapsed().as_millis() < 100);
    }
}
