//! Normalisation of an answer string and its lexing into tokens.
//!
//! String level ([`clean`]): math delimiters, spacing macros, `\left`/`\right`, `\dfrac`/`\tfrac`,
//! degree signs, currency, `{,}` thousands separators, unicode math symbols, trailing dots.
//! Token level ([`lex`]): numbers (with `1,234,567` thousands groups), letters, commands, brackets,
//! operators, relations; `\text{..}`-like wrappers are opened, and words (runs of 3+ letters, or
//! known unit / connective words) become [`Tok::Word`].

use crate::error::Limits;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Num(String),
    Ident(String),
    Cmd(String),
    Word(String),
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBrack,
    RBrack,
    LSet,
    RSet,
    LAngle,
    RAngle,
    Pipe,
    Plus,
    Minus,
    PlusMinus,
    Star,
    Slash,
    Caret,
    Underscore,
    Bang,
    Comma,
    Rel(RelOp),
    Cup,
    In,
    Amp,
    RowSep,
    Begin(String),
    End(String),
    Percent,
    Infty,
    Dots,
    Colon,
    /// A degree sign (`^\circ`, `°`, `\degree`).
    Degree,
    /// `\approx` (`≈`): an approximate value follows.
    Approx,
}

#[derive(Debug)]
pub struct LexError(pub String);

const SPACING: &[&str] = &[
    "\\left", "\\right", "\\bigl", "\\bigr", "\\Bigl", "\\Bigr", "\\biggl", "\\biggr", "\\Biggl", "\\Biggr",
    "\\big", "\\Big", "\\bigg", "\\Bigg", "\\displaystyle", "\\textstyle", "\\scriptstyle", "\\limits",
    "\\quad", "\\qquad", "\\!", "\\,", "\\;", "\\:", "\\>", "\\ ", "\\middle",
];

/// Words that are units (dropped after a number) or currency.
pub const UNITS: &[&str] = &[
    "units", "unit", "sq", "square", "cubic", "cm", "mm", "km", "m", "meter", "meters", "metre", "metres",
    "centimeter", "centimeters", "kilometer", "kilometers", "millimeter", "millimeters", "inch", "inches",
    "in", "ft", "foot", "feet", "yard", "yards", "yd", "mile", "miles", "mi", "mph", "kph", "kmh",
    "g", "kg", "gram", "grams", "kilogram", "kilograms", "lb", "lbs", "pound", "pounds", "oz", "ounce",
    "ounces", "ton", "tons", "l", "ml", "liter", "liters", "litre", "litres", "gallon", "gallons",
    "cup", "cups", "s", "sec", "second", "seconds", "min", "mins", "minute", "minutes", "h", "hr", "hrs",
    "hour", "hours", "day", "days", "week", "weeks", "month", "months", "year", "years", "yr", "yrs",
    "dollar", "dollars", "cent", "cents", "usd", "euro", "euros", "people", "person", "students",
    "times", "degree", "degrees", "deg", "radian", "radians", "rad", "percent", "points", "point",
    "items", "pieces", "cents.", "cm2", "cm3", "m2", "m3", "ft2", "sqft", "pages", "page", "books",
    "apples", "cookies", "eggs", "marbles", "boxes", "bottles", "cars", "kids", "children", "hours.",
    "ways", "way", "th", "st", "nd", "rd", "mg", "milligram", "milligrams", "secs", "milliliter",
    "milliliters", "millimetre", "millimetres", "centimetre", "centimetres", "kilometre", "kilometres",
    // physics and astronomy (Minerva): dropped after a value, never converted
    "erg", "ergs", "ev", "kev", "mev", "gev", "tev", "hz", "khz", "mhz", "ghz", "nm", "um", "µm", "μm", "pc", "kpc",
    "mpc", "au", "ly", "atm", "pa", "kpa", "mol", "mmol", "joule", "joules", "watt", "watts", "newton", "newtons",
    "kelvin", "volt", "volts", "angstrom", "angstroms", "j", "w", "k", "v", "n", "kw", "kj", "gw", "mw", "ms", "ns",
    "kms", "kmh", "rpm", "cal", "kcal", "celsius", "fahrenheit", "msun", "odot", "pm", "fm", "arcsec", "arcmin", "mas",
];

/// Dimension and size of a unit word, for conversions between units of one dimension
/// (`1 m` = `100 cm`): (dimension, numerator, denominator) relative to the base unit.
pub fn unit_scale(w: &str) -> Option<(u8, u64, u64)> {
    const LEN: u8 = 1;
    const MASS: u8 = 2;
    const TIME: u8 = 3;
    const MONEY: u8 = 4;
    const VOL: u8 = 5;
    let l = w.to_ascii_lowercase();
    Some(match l.as_str() {
        "mm" | "millimeter" | "millimeters" | "millimetre" | "millimetres" => (LEN, 1, 1000),
        "cm" | "centimeter" | "centimeters" | "centimetre" | "centimetres" => (LEN, 1, 100),
        "m" | "meter" | "meters" | "metre" | "metres" => (LEN, 1, 1),
        "km" | "kilometer" | "kilometers" | "kilometre" | "kilometres" => (LEN, 1000, 1),
        "in" | "inch" | "inches" => (LEN, 254, 10_000),
        "ft" | "foot" | "feet" => (LEN, 3048, 10_000),
        "yd" | "yard" | "yards" => (LEN, 9144, 10_000),
        "mi" | "mile" | "miles" => (LEN, 1_609_344, 1000),
        "mg" | "milligram" | "milligrams" => (MASS, 1, 1000),
        "g" | "gram" | "grams" => (MASS, 1, 1),
        "kg" | "kilogram" | "kilograms" => (MASS, 1000, 1),
        "lb" | "lbs" | "pound" | "pounds" => (MASS, 45_359_237, 100_000),
        "oz" | "ounce" | "ounces" => (MASS, 45_359_237, 1_600_000),
        "s" | "sec" | "secs" | "second" | "seconds" => (TIME, 1, 1),
        "min" | "mins" | "minute" | "minutes" => (TIME, 60, 1),
        "h" | "hr" | "hrs" | "hour" | "hours" => (TIME, 3600, 1),
        "day" | "days" => (TIME, 86_400, 1),
        "week" | "weeks" => (TIME, 604_800, 1),
        "dollar" | "dollars" | "usd" => (MONEY, 1, 1),
        "cent" | "cents" => (MONEY, 1, 100),
        "ml" | "milliliter" | "milliliters" | "millilitre" | "millilitres" => (VOL, 1, 1000),
        "l" | "liter" | "liters" | "litre" | "litres" => (VOL, 1, 1),
        _ => return None,
    })
}

pub fn is_unit(w: &str) -> bool {
    let l = w.to_ascii_lowercase();
    UNITS.contains(&l.as_str())
}

const FUNCS: &[&str] = &[
    "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "exp",
    "ln", "log", "sqrt", "pi",
];

/// Replace the first pattern at every position, left to right, in one pass.
fn replace_all(s: &str, pats: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let b = s.as_bytes();
    'outer: while i < s.len() {
        for (p, r) in pats {
            if b[i..].starts_with(p.as_bytes()) {
                // do not cut a longer command: `\left` inside `\leftarrow`
                let plen = p.len();
                let last = p.as_bytes()[plen - 1];
                if p.starts_with('\\') && last.is_ascii_alphabetic() && i + plen < s.len() && b[i + plen].is_ascii_alphabetic()
                {
                    continue;
                }
                out.push_str(r);
                i += plen;
                continue 'outer;
            }
        }
        let ch = s[i..].chars().next().unwrap();
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// `10\,080`, `10\ 080`, `1\;000\;000`, `10 080` with a thin space: a space between digit
/// groups (a digit before, exactly three digits after) is a thousands separator.
fn join_digit_groups(s: &str) -> String {
    const SEPS: &[&str] = &["\\,", "\\;", "\\ ", "\\!", "~", "\u{2009}", "\u{202F}", "\u{00A0}", "{,}"];
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if i > 0 && b[i - 1].is_ascii_digit() {
            if let Some(sep) = SEPS.iter().find(|p| s[i..].starts_with(**p)) {
                let k = i + sep.len();
                let digits = b[k..].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits == 3 {
                    i = k;
                    continue;
                }
            }
        }
        let ch = s[i..].chars().next().unwrap();
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// String-level clean-up of an extracted answer. The result is what `normalized_gold` reports.
pub fn clean(s: &str) -> String {
    let mut t = s.trim().to_string();
    // math delimiters around the whole answer
    loop {
        let before = t.len();
        for (open, close) in [("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")] {
            if t.len() >= open.len() + close.len() && t.starts_with(open) && t.ends_with(close) {
                t = t[open.len()..t.len() - close.len()].trim().to_string();
            }
        }
        if t.len() == before {
            break;
        }
    }
    let mut pats: Vec<(&str, &str)> = vec![
        ("\\\\", "\\\\"), // a row separator stays whole (not `\` + `\ `)
        (",\\! ", ","), (",\\!", ","), // `10,\!080`: a thousands separator
        // a degree sign becomes `°` (one token): dropped after a value, times pi/180 inside a
        // function's argument (`\cos 13^\circ`)
        ("^{\\circ}", "°"), ("^\\circ", "°"), ("^{\\degree}", "°"), ("^\\degree", "°"), ("\\degree", "°"), ("\\circ", "°"), ("{,}", ""), ("{, }", ""), ("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("\\cfrac", "\\frac"),
        ("\\dbinom", "\\binom"), ("\\tbinom", "\\binom"), ("\\$", ""), ("$", ""), ("\\%", "%"),
        ("−", "-"), ("–", "-"), ("—", "-"), ("×", "*"), ("·", "*"), ("⋅", "*"), ("÷", "/"), ("π", "\\pi "),
        ("√", "\\sqrt"), ("≤", "\\le "), ("≥", "\\ge "), ("≠", "\\ne "), ("≈", "\\approx "), ("∞", "\\infty "), ("∪", "\\cup "),
        ("±", "\\pm "), ("∈", "\\in "), ("\\lvert", "|"), ("\\rvert", "|"), ("\\vert", "|"), ("\\mid", "|"),
        ("\\lbrace", "\\{"), ("\\rbrace", "\\}"), ("\\emptyset", "\\{\\}"), ("\\varnothing", "\\{\\}"),
        ("\\dots", "\\ldots"), ("\\cdots", "\\ldots"), ("\\dotsc", "\\ldots"), ("\\dotsb", "\\ldots"),
    ];
    for sp in SPACING {
        pats.push((sp, " "));
    }
    t = join_digit_groups(&t);
    t = replace_all(&t, &pats);
    // `~` is a non-breaking space in LaTeX
    t = t.replace('~', " ");
    let mut t = t.trim().to_string();
    // trailing sentence punctuation
    while t.ends_with('.') && !t.ends_with("..") || t.ends_with(';') {
        t.pop();
        t = t.trim_end().to_string();
    }
    // a trailing `\\` or `\` (line break)
    while t.ends_with("\\\\") {
        t.truncate(t.len() - 2);
        t = t.trim_end().to_string();
    }
    t
}

/// Commands whose braced argument is text: opened, and their words kept as words.
const TEXT_WRAPPERS: &[&str] = &[
    "text", "textbf", "textit", "textrm", "textsf", "texttt", "mathrm", "mathbf", "mathit", "mathsf", "mbox",
    "hbox", "operatorname", "mathbb", "mathcal", "emph", "textnormal", "boxed", "fbox", "bf", "rm", "it",
];

const MAX_TOKENS: usize = 4_000;

pub fn lex(s: &str, lim: &Limits) -> Result<Vec<Tok>, LexError> {
    let mut out = Vec::new();
    lex_into(s, &mut out, false, false, lim, 0)?;
    Ok(out)
}

/// `in_text`: inside `\text{}`-like wrappers (words stay words); `roman`: inside `\mathrm{}`-like
/// wrappers (letter runs are names such as `NaI`, never products of symbols).
fn lex_into(s: &str, out: &mut Vec<Tok>, in_text: bool, roman: bool, lim: &Limits, depth: usize) -> Result<(), LexError> {
    if depth > 32 {
        return Err(LexError("text wrappers nested too deeply".into()));
    }
    let b = s.as_bytes();
    let n = b.len();
    let mut i = 0;
    while i < n {
        if out.len() > MAX_TOKENS {
            return Err(LexError("answer too long".into()));
        }
        if out.len().is_multiple_of(256) && lim.expired() {
            return Err(LexError("timeout".into()));
        }
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
            }
            b'0'..=b'9' | b'.' => {
                let start = i;
                let mut j = i;
                // a decimal comma where unambiguous: `0,111` (a zero integer part, 3+ decimals,
                // no further `,digit` group) is 0.111; `1,000` stays a thousands group
                if b[i] == b'0' && !(i > 0 && (b[i - 1].is_ascii_digit() || b[i - 1] == b',')) && i + 1 < n && b[i + 1] == b',' {
                    let mut k = i + 2;
                    while k < n && b[k].is_ascii_digit() {
                        k += 1;
                    }
                    let more = k + 1 < n && b[k] == b',' && b[k + 1].is_ascii_digit();
                    if k - (i + 2) >= 3 && !more && !(k < n && b[k] == b'.') {
                        out.push(Tok::Num(format!("0.{}", &s[i + 2..k])));
                        i = k;
                        continue;
                    }
                }
                loop {
                    while j < n && b[j].is_ascii_digit() {
                        j += 1;
                    }
                    // thousands group: `,ddd` not followed by a digit, after 1-3 leading digits
                    if j + 4 <= n
                        && b[j] == b','
                        && b[j + 1..j + 4].iter().all(|x| x.is_ascii_digit())
                        && (j + 4 == n || !b[j + 4].is_ascii_digit())
                        && group_ok(&s[start..j])
                    {
                        j += 4;
                        continue;
                    }
                    break;
                }
                if j < n && b[j] == b'.' {
                    if j + 1 < n && b[j + 1].is_ascii_digit() {
                        j += 1;
                        while j < n && b[j].is_ascii_digit() {
                            j += 1;
                        }
                    } else if j + 2 < n && b[j + 1] == b'.' && b[j + 2] == b'.' {
                        // "1..." - leave the dots
                    } else {
                        j += 1; // "5." trailing dot
                    }
                }
                let lit: String = s[start..j].chars().filter(|ch| *ch != ',').collect();
                let lit = lit.trim_end_matches('.').to_string();
                if lit.is_empty() {
                    // lone dots: "..." is an ellipsis, a single "." is punctuation
                    if s[start..].starts_with("...") {
                        out.push(Tok::Dots);
                        i = start + 3;
                    } else {
                        i = start + 1;
                    }
                    continue;
                }
                out.push(Tok::Num(lit));
                i = j;
                // scientific notation: 1.2e5, 3E-4 (a letter e followed by digits)
                if j < n && (b[j] == b'e' || b[j] == b'E') {
                    let mut k = j + 1;
                    let neg = k < n && b[k] == b'-';
                    if k < n && (b[k] == b'-' || b[k] == b'+') {
                        k += 1;
                    }
                    let ds = k;
                    while k < n && b[k].is_ascii_digit() {
                        k += 1;
                    }
                    if k > ds && k - ds <= 6 && (k == n || !b[k].is_ascii_alphabetic()) {
                        out.extend([Tok::Star, Tok::Num("10".into()), Tok::Caret, Tok::LBrace]);
                        if neg {
                            out.push(Tok::Minus);
                        }
                        out.extend([Tok::Num(s[ds..k].to_string()), Tok::RBrace]);
                        i = k;
                    }
                }
            }
            b'a'..=b'z' | b'A'..=b'Z' => {
                let start = i;
                let mut j = i;
                while j < n && b[j].is_ascii_alphabetic() {
                    j += 1;
                }
                let w = &s[start..j];
                let lw = w.to_ascii_lowercase();
                if w.len() == 1 && !(in_text && is_unit(w)) {
                    out.push(Tok::Ident(w.to_string()));
                } else if !in_text && FUNCS.contains(&lw.as_str()) {
                    out.push(Tok::Cmd(lw));
                } else if lw == "infinity" || lw == "inf" || lw == "infty" {
                    out.push(Tok::Infty);
                } else if !in_text && !roman && w.len() >= 3 && !is_unit(w) && letters_are_product(w, start > 0 && b[start - 1].is_ascii_digit(), b.get(j).copied()) {
                    // `RCs`, `xyz`, `2abc`, `abc^2`: single-letter symbols written together
                    for ch in w.chars() {
                        out.push(Tok::Ident(ch.to_string()));
                    }
                } else if in_text || w.len() >= 3 || is_unit(w) || lw == "or" || (roman && w.len() >= 2) {
                    out.push(Tok::Word(w.to_string()));
                } else {
                    for ch in w.chars() {
                        out.push(Tok::Ident(ch.to_string()));
                    }
                }
                i = j;
            }
            b'\\' => {
                if i + 1 >= n {
                    i += 1;
                    continue;
                }
                let nc = b[i + 1];
                if nc.is_ascii_alphabetic() {
                    let mut j = i + 1;
                    while j < n && b[j].is_ascii_alphabetic() {
                        j += 1;
                    }
                    let name = &s[i + 1..j];
                    i = j;
                    if TEXT_WRAPPERS.contains(&name) {
                        // skip spaces, read a braced argument (or nothing)
                        let mut k = i;
                        while k < n && b[k] == b' ' {
                            k += 1;
                        }
                        if k < n && b[k] == b'{' {
                            let end = match_brace(b, k).ok_or_else(|| LexError(format!("unbalanced braces after \\{}", name)))?;
                            let inner = &s[k + 1..end];
                            // `\mathrm{m}`, `\mathrm{~cm}`: a unit in math roman is a word too
                            let unit_inside = {
                                let t = inner.trim().trim_start_matches('~').trim();
                                !t.is_empty() && t.bytes().all(|c| c.is_ascii_alphabetic()) && is_unit(t)
                            };
                            let text_mode = name.starts_with("text") || name == "mbox" || name == "hbox" || name == "emph" || unit_inside;
                            let is_op = name == "operatorname";
                            if is_op {
                                out.push(Tok::Cmd(inner.trim().to_string()));
                            } else {
                                let roman = matches!(name, "mathrm" | "mathbf" | "mathit" | "mathsf" | "rm" | "bf" | "it");
                                lex_into(inner, out, text_mode, roman, lim, depth + 1)?;
                            }
                            i = end + 1;
                        }
                        continue;
                    }
                    if name == "begin" || name == "end" {
                        let mut k = i;
                        while k < n && b[k] == b' ' {
                            k += 1;
                        }
                        let mut env = String::new();
                        if k < n && b[k] == b'{' {
                            if let Some(end) = match_brace(b, k) {
                                env = s[k + 1..end].trim().to_string();
                                i = end + 1;
                            }
                        }
                        // array column spec: \begin{array}{cc}
                        if name == "begin" && env == "array" {
                            let mut k = i;
                            while k < n && b[k] == b' ' {
                                k += 1;
                            }
                            if k < n && b[k] == b'{' {
                                if let Some(end) = match_brace(b, k) {
                                    i = end + 1;
                                }
                            }
                        }
                        out.push(if name == "begin" { Tok::Begin(env) } else { Tok::End(env) });
                        continue;
                    }
                    let tok = match name {
                        "cdot" | "times" | "ast" => Tok::Star,
                        "div" => Tok::Slash,
                        "pm" | "mp" => Tok::PlusMinus,
                        "le" | "leq" | "leqslant" | "leqq" => Tok::Rel(RelOp::Le),
                        "ge" | "geq" | "geqslant" | "geqq" => Tok::Rel(RelOp::Ge),
                        "lt" => Tok::Rel(RelOp::Lt),
                        "gt" => Tok::Rel(RelOp::Gt),
                        "ne" | "neq" => Tok::Rel(RelOp::Ne),
                        "cup" => Tok::Cup,
                        "in" => Tok::In,
                        "infty" | "infin" => Tok::Infty,
                        "langle" => Tok::LAngle,
                        "rangle" => Tok::RAngle,
                        "ldots" => Tok::Dots,
                        "colon" => Tok::Colon,
                        "approx" | "simeq" | "sim" => Tok::Approx,
                        "equiv" | "cong" => Tok::Rel(RelOp::Eq),
                        "and" => Tok::Comma,
                        _ => Tok::Cmd(name.to_string()),
                    };
                    out.push(tok);
                } else {
                    i += 2;
                    match nc {
                        b'{' => out.push(Tok::LSet),
                        b'}' => out.push(Tok::RSet),
                        b'\\' => out.push(Tok::RowSep),
                        b'%' => out.push(Tok::Percent),
                        b'|' => out.push(Tok::Pipe),
                        _ => {} // spacing like `\,` or an escaped char we drop
                    }
                }
            }
            _ => {
                i += 1;
                let t = match c {
                    b'{' => Some(Tok::LBrace),
                    b'}' => Some(Tok::RBrace),
                    b'(' => Some(Tok::LParen),
                    b')' => Some(Tok::RParen),
                    b'[' => Some(Tok::LBrack),
                    b']' => Some(Tok::RBrack),
                    b'|' => Some(Tok::Pipe),
                    b'+' => Some(Tok::Plus),
                    b'-' => Some(Tok::Minus),
                    b'*' => {
                        // `**` is a power (Python / sympy spelling)
                        if i < n && b[i] == b'*' {
                            i += 1;
                            Some(Tok::Caret)
                        } else {
                            Some(Tok::Star)
                        }
                    }
                    b'/' => Some(Tok::Slash),
                    b'^' => Some(Tok::Caret),
                    b'_' => Some(Tok::Underscore),
                    b'!' => {
                        if i < n && b[i] == b'=' {
                            i += 1;
                            Some(Tok::Rel(RelOp::Ne))
                        } else {
                            Some(Tok::Bang)
                        }
                    }
                    b',' => Some(Tok::Comma),
                    b';' => Some(Tok::Comma),
                    b'&' => Some(Tok::Amp),
                    b'%' => Some(Tok::Percent),
                    b':' => Some(Tok::Colon),
                    b'\'' => None,
                    b'=' => {
                        if i < n && b[i] == b'=' {
                            i += 1;
                        }
                        Some(Tok::Rel(RelOp::Eq))
                    }
                    b'<' => {
                        if i < n && b[i] == b'=' {
                            i += 1;
                            Some(Tok::Rel(RelOp::Le))
                        } else {
                            Some(Tok::Rel(RelOp::Lt))
                        }
                    }
                    b'>' => {
                        if i < n && b[i] == b'=' {
                            i += 1;
                            Some(Tok::Rel(RelOp::Ge))
                        } else {
                            Some(Tok::Rel(RelOp::Gt))
                        }
                    }
                    _ => {
                        if c >= 0x80 {
                            // a non-ASCII character: greek letters become identifiers, others are text
                            let ch = s[i - 1..].chars().next().unwrap();
                            i = i - 1 + ch.len_utf8();
                            if ch == '°' {
                                out.push(Tok::Degree);
                            } else if ch.is_alphabetic() {
                                if in_text {
                                    out.push(Tok::Word(ch.to_string()));
                                } else {
                                    out.push(Tok::Ident(ch.to_string()));
                                }
                            } else {
                                out.push(Tok::Word(ch.to_string()));
                            }
                        }
                        None
                    }
                };
                if let Some(t) = t {
                    out.push(t);
                }
            }
        }
    }
    Ok(())
}

/// A run of 3+ letters in math mode that is a product of one-letter symbols, not a word: no vowel
/// (`xyz`, `RCs`), mixed case other than a capitalised word (`aB`, `RCs`), right after a digit
/// (`2abc`), or followed by an exponent or subscript (`abc^2`).
fn letters_are_product(w: &str, after_digit: bool, next: Option<u8>) -> bool {
    if matches!(w.to_ascii_lowercase().as_str(), "pct" | "mph" | "nth" | "rpm") {
        return false;
    }
    let vowel = w.bytes().any(|c| matches!(c.to_ascii_lowercase(), b'a' | b'e' | b'i' | b'o' | b'u'));
    let bytes = w.as_bytes();
    let all_upper = bytes.iter().all(|c| c.is_ascii_uppercase());
    let all_lower = bytes.iter().all(|c| c.is_ascii_lowercase());
    let capitalised = bytes[0].is_ascii_uppercase() && bytes[1..].iter().all(|c| c.is_ascii_lowercase());
    let mixed = !(all_upper || all_lower || capitalised);
    (!vowel && !all_upper) || mixed || after_digit || matches!(next, Some(b'^') | Some(b'_'))
}

/// A thousands-grouped number has 1-3 digits before its first comma (and no leading zero).
fn group_ok(prefix: &str) -> bool {
    let first: &str = prefix.split(',').next().unwrap_or("");
    !first.is_empty() && first.len() <= 3 && !(first.len() > 1 && first.starts_with('0'))
}

/// Index of the `}` matching the `{` at `open`, skipping escaped braces.
pub fn match_brace(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                i += 2;
                continue;
            }
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(&clean(s), &Limits::unbounded()).unwrap()
    }

    #[test]
    fn numbers() {
        assert_eq!(toks("1,234,567"), vec![Tok::Num("1234567".into())]);
        assert_eq!(toks("1,2"), vec![Tok::Num("1".into()), Tok::Comma, Tok::Num("2".into())]);
        assert_eq!(toks("1{,}000"), vec![Tok::Num("1000".into())]);
        assert_eq!(toks("5."), vec![Tok::Num("5".into())]);
        assert_eq!(toks("\\$18.90"), vec![Tok::Num("18.90".into())]);
        assert_eq!(toks("30^\\circ"), vec![Tok::Num("30".into()), Tok::Degree]);
        assert_eq!(toks("30°"), toks("30^{\\circ}"));
    }

    #[test]
    fn text() {
        assert_eq!(toks("\\text{Monday}"), vec![Tok::Word("Monday".into())]);
        assert_eq!(toks("5\\text{ cm}"), vec![Tok::Num("5".into()), Tok::Word("cm".into())]);
        assert_eq!(toks("\\left( 1, 2 \\right)").len(), 5);
    }
}
