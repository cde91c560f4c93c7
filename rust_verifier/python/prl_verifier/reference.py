"""A slow, obvious reference verifier on sympy: the test oracle for the Rust verifier.

It covers the kinds the property tests generate (integers, big integers, rationals, decimals,
radicals, pi, sums, products, powers, tuples, sets, bare lists, intervals and unions) with the
same extraction rules as the Rust code (last boxed, "final answer is", ``####``, bare answer,
last number). It is deliberately simple: LaTeX is rewritten into sympy syntax with string
rules and compared with sympy at 60 significant digits (exactly when both sides are rational).
sympy is imported lazily, so ``import prl_verifier`` never pulls it in.
"""

from __future__ import annotations

import re
from typing import Any

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")


def last_boxed(text: str) -> str | None:
    """Content of the last complete \\boxed{...} (balanced braces)."""
    span = _last_boxed_span(text)
    return None if span is None else span[0]


def _last_boxed_span(text: str) -> tuple[str, int] | None:
    """(content, end position) of the last complete box."""
    best = None
    for m in _BOX.finditer(text):
        depth = 0
        i = m.end() - 1
        while i < len(text):
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    best = (text[m.end() : i], i)
                    break
            i += 1
    return best


def box_truncated(text: str) -> bool:
    """The text was cut off inside its last box: a ``\\boxed{`` after the last complete box never
    closes (or a bare ``\\boxed`` ends the text). Such a generation has no answer."""
    last_complete = -1
    last_open = -1
    for m in _BOX.finditer(text):
        depth = 0
        i = m.end() - 1
        closed = False
        while i < len(text):
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    closed = True
                    break
            i += 1
        if closed:
            last_complete = max(last_complete, m.start())
        else:
            last_open = m.start()
    if re.search(r"\\(?:boxed|fbox)\s*$", text):
        last_open = max(last_open, text.rstrip().rfind("\\"))
    return last_open > last_complete


def _joined_boxes(text: str) -> str | None:
    """Two or more boxes on the line of the last one, only connectors between them: joined."""
    line = text.rstrip().split("\n")
    # the line holding the last complete box
    b = last_boxed(text)
    if b is None:
        return None
    for ln in reversed(text.split("\n")):
        if _BOX.search(ln) and last_boxed(ln) is not None:
            break
    else:
        return None
    contents, gaps, pos = [], [], 0
    for m in _BOX.finditer(ln):
        if m.start() < pos:
            continue
        depth, i = 0, m.end() - 1
        while i < len(ln):
            c = ln[i]
            if c == "\\":
                i += 2
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        if i >= len(ln):
            break
        gaps.append(ln[pos : m.start()])
        contents.append(ln[m.end() : i].strip())
        pos = i + 1
    del line
    # the run of boxes ending with the last one, separated by short stretches of one sentence
    def gap_ok(g: str) -> bool:
        for c in ("\\quad", "\\qquad", "\\(", "\\)"):
            g = g.replace(c, "")
        words = [w for w in re.split(r"[^A-Za-z]", g) if len(w) > 1 and w != "text"]
        joined = not words or any(w.lower() in ("and", "or") for w in words)
        return len(g) <= 60 and len(words) <= 4 and joined and not any(ch in g for ch in ".!?:=\n")

    first = len(contents) - 1
    while first > 0 and gap_ok(gaps[first]):
        first -= 1
    contents = contents[first:]
    if len(contents) < 2:
        return None
    return ", ".join(c for c in contents if c)


_CONNECTORS = re.compile(r"^(?:\s|[,;&]|\\text\{ ?and ?\}|\\text\{ ?or ?\}|\\quad|\\qquad|and |or )*")


def _leading_math_list(t: str) -> str | None:
    """The math spans at the start of ``t`` joined by connectors only: one as is, several as a list."""
    parts = []
    rest = t
    while True:
        span = _leading_math_span(rest)
        if span is None:
            break
        m, end = span
        m = m.strip()
        if not m.endswith("..."):
            m = m.rstrip(".,;").strip()
        parts.append(m)
        rest = rest[end:]
        rest = rest[_CONNECTORS.match(rest).end() :]
    parts = [p for p in parts if p]
    return ", ".join(parts) if parts else None


def _leading_math_span(t: str) -> tuple[str, int] | None:
    for o, c in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if t.startswith(o):
            rest = t[len(o) :]
            k = 0
            while True:
                at = rest.find(c, k)
                if at < 0:
                    return None
                if c == "$" and at > 0 and rest[at - 1] == "\\":
                    k = at + 1
                    continue
                return rest[:at], len(o) + at + len(c)
    return None


def _leading_math(t: str) -> str | None:
    span = _leading_math_span(t)
    return None if span is None else span[0]


def answer_phrase(text: str) -> str | None:
    """In the last non-empty line: after the last "answer is" / "answer:" / "answer =" / "Answer $..$"."""
    last = text.rstrip().split("\n")[-1]
    for m in reversed(list(re.finditer(r"(?<![A-Za-z])answer *", last, flags=re.I))):
        rest = last[m.end() :]
        low = rest[:12].lower()
        if low.startswith("is:"):
            skip = 3
        elif low.startswith("is ") or low.startswith("is$"):
            skip = 2
        elif low[:1] in (":", "="):
            skip = 1
        elif rest.startswith(("$", "\\(", "\\[")):
            skip = 0
        else:
            continue
        line = rest[skip:].strip()
        if _leading_math(line) is not None:
            mth = _leading_math_list(line)
            if mth:
                return mth
            continue
        cut = line.find(". ")
        t = line[: cut if cut >= 0 else len(line)].strip()
        if not t.endswith("..."):
            t = t.rstrip(".,;").strip()
        if t:
            return t
    return None


_MATH_SPAN = re.compile(r"\$\$(.*?)\$\$|(?<!\\)\$(.*?)(?<!\\)\$|\\\((.*?)\\\)|\\\[(.*?)\\\]")


def math_in_final_sentence(text: str) -> str | None:
    """The last display or inline math of the final sentence (of the last line), or a final
    display block ``\\[..\\]`` / ``$$..$$``."""
    t = text.rstrip().rstrip(". ")
    for o, c in (("\\[", "\\]"), ("$$", "$$")):
        if t.endswith(c):
            body = t[: -len(c)]
            p = body.rfind(o)
            if p >= 0 and body[p + len(o) :].strip():
                return body[p + len(o) :].strip()
    line = t.split("\n")[-1]
    spans, start, i = [], 0, 0
    for m in _MATH_SPAN.finditer(line):
        # sentence ends outside math, before this span
        for k in range(i, m.start()):
            if line[k] in ".!?" and k + 1 < len(line) and line[k + 1] == " ":
                start = k + 1
        spans.append((m.start(), m.end(), next(g for g in m.groups() if g is not None)))
        i = m.end()
        # a display followed by text ends its sentence
        if (m.group(1) is not None or m.group(4) is not None) and len(line[i:].strip()) > 1:
            start = i
    for k in range(i, len(line)):
        if line[k] in ".!?" and k + 1 < len(line) and line[k + 1] == " ":
            start = k + 1
    spans = [(a, e, c) for a, e, c in spans if a >= start]
    if not spans:
        return None
    first = len(spans) - 1
    while first > 0:
        gap = line[spans[first - 1][1] : spans[first][0]]
        if not gap.strip() or _CONNECTORS.match(gap).end() != len(gap):
            break
        first -= 1
    parts = [c.strip() for _, _, c in spans[first:] if c.strip()]
    return ", ".join(parts) if parts else None


def final_answer(text: str) -> tuple[int, str] | None:
    """(position, answer) of the last "final answer is / : / =" phrase: the math right after it,
    else its sentence (up to ". "), from after its last " is ", then that part's first math."""
    m = None
    for m in re.finditer(r"final answer(?: is|:| =)", text, flags=re.I):
        pass
    if m is None:
        return None
    rest = text[m.end() :].split("\n")[0].strip().lstrip(":").strip().lstrip("\"'“").strip()
    if _leading_math(rest) is not None:
        out = _leading_math_list(rest)
        return (m.start(), out) if out else None
    sent = re.split(r"\.\s(?=(?:[^$]*\$[^$]*\$)*[^$]*$)", rest, maxsplit=1)[0]
    k = [i.start() for i in re.finditer(" is ", sent) if sent[: i.start()].count("$") % 2 == 0]
    if k:
        sent = sent[k[-1] + 4 :]
    inner = re.search(r"(?<!\\)\$([^$]*)\$|\\\((.*?)\\\)", sent)
    out = (inner.group(1) if inner and inner.group(1) is not None else inner.group(2) if inner else sent).strip()
    if not out.endswith("..."):  # keep an ellipsis
        out = out.rstrip(".,;").strip()
    return (m.start(), out) if out else None


_TURN_ENDS = ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>", "</s>")


def _prepare_text(text: str) -> str:
    """Text after a chat-template token is another turn; doubled backslashes are read single."""
    cuts = [text.find(t) for t in _TURN_ENDS if t in text]
    if cuts:
        text = text[: min(cuts)]
    if re.search(r"\\\\[A-Za-z]", text) and not re.search(r"(?<!\\)\\(?![ntA-Z\\])[a-z]", text.replace("\\\\", "")):
        text = text.replace("\\\\", "\\")
    return text


def extract(text: str, *, gold: bool = False, strict: bool = False) -> str | None:
    """The answer of a generation (or of a gold solution), with the Rust verifier's rules."""
    text = _prepare_text(text)
    if not gold and box_truncated(text):
        return None
    b = last_boxed(text)
    fa = None if gold else final_answer(text)
    if b is not None and b.strip():
        # a "final answer" phrase after the last box that states a value is the last word
        end = _last_boxed_span(text)[1]
        if not (fa is not None and fa[0] > end and re.search(r"[\d\\]", fa[1])):
            return _joined_boxes(text) or b.strip()
    if fa is not None:
        return fa[1]
    if "####" in text:
        rest = text.rsplit("####", 1)[1].split("\n")[0].strip().rstrip(".").strip()
        if rest:
            return rest
    t = text.strip()
    if gold:
        if len(text) > 200:
            g = final_answer(text)
            if g is not None:
                return g[1]
        return t or None
    if strict:
        return None
    x = answer_phrase(text) or math_in_final_sentence(text)
    if x:
        return x
    if t and len(t) <= 200 and "\n" not in t and to_structure(t) is not None:
        return t
    nums = re.findall(r"-?\d[\d,]*(?:\.\d+)?", text)
    return nums[-1].rstrip(",") if nums else None


def _clean(s: str) -> str:
    s = s.strip().strip("$").strip()
    for a, b in [
        ("\\left", ""), ("\\right", ""), ("\\!", ""), ("\\,", ""), ("\\;", ""), ("\\dfrac", "\\frac"),
        ("\\tfrac", "\\frac"), ("\\cdots", "\\ldots"), ("\\dots", "\\ldots"), ("\\cdot", "*"), ("\\times", "*"), ("\\pi", " pi "), ("\\infty", " oo "),
        ("\\$", ""), ("^\\circ", ""), ("^{\\circ}", ""), ("\\%", "%"),
    ]:
        s = s.replace(a, b)
    # thousands separators: 1,234,567
    s = re.sub(r"(?<![\d,])\d{1,3}(?:,\d{3})+(?![\d,])", lambda m: m.group(0).replace(",", ""), s)
    s = s.strip()
    while s.endswith(".") and not s.endswith(".."):  # a full stop, not an ellipsis
        s = s[:-1].rstrip()
    return s


def _arg(s: str, i: int) -> tuple[str, int]:
    """One LaTeX macro argument starting at s[i]: a braced group or a single character."""
    while i < len(s) and s[i] == " ":
        i += 1
    if i < len(s) and s[i] == "{":
        depth = 0
        for j in range(i, len(s)):
            if s[j] == "{":
                depth += 1
            elif s[j] == "}":
                depth -= 1
                if depth == 0:
                    return s[i + 1 : j], j + 1
        raise ValueError("unbalanced braces")
    if i < len(s):
        return s[i], i + 1
    raise ValueError("missing argument")


def _to_sympy_syntax(s: str) -> str:
    out = []
    i = 0
    while i < len(s):
        if s.startswith("\\frac", i):
            a, i = _arg(s, i + 5)
            b, i = _arg(s, i)
            out.append(f"(({_to_sympy_syntax(a)})/({_to_sympy_syntax(b)}))")
        elif s.startswith("\\sqrt", i):
            i += 5
            n = "2"
            if i < len(s) and s[i] == "[":
                j = s.index("]", i)
                n, i = s[i + 1 : j], j + 1
            a, i = _arg(s, i)
            out.append(f"(({_to_sympy_syntax(a)})**(1/({_to_sympy_syntax(n)})))")
        elif s[i] == "^":
            a, i = _arg(s, i + 1)
            out.append(f"**({_to_sympy_syntax(a)})")
        elif s[i] in "{}":
            out.append("(" if s[i] == "{" else ")")
            i += 1
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse_scalar(s: str) -> Any:
    import sympy
    from sympy.parsing.sympy_parser import (
        convert_xor,
        implicit_multiplication_application,
        parse_expr,
        rationalize,
        standard_transformations,
    )

    src = _to_sympy_syntax(s)
    if "\\" in src:
        raise ValueError(f"unsupported LaTeX in {s!r}")
    # decimals are exact rationals (0.1 = 1/10), as in the Rust verifier
    tr = standard_transformations + (implicit_multiplication_application, convert_xor, rationalize)
    names = {"pi": sympy.pi, "oo": sympy.oo, "e": sympy.E, "i": sympy.I, "E": sympy.E, "I": sympy.I}
    return parse_expr(src, transformations=tr, local_dict=names, evaluate=True)


def _split_top(s: str, sep: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    i = 0
    while i < len(s):
        if s.startswith("\\{", i) or s.startswith("\\}", i):
            depth += 1 if s[i + 1] == "{" else -1
            cur += s[i : i + 2]
            i += 2
            continue
        c = s[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if depth == 0 and s.startswith(sep, i):
            parts.append(cur)
            cur = ""
            i += len(sep)
            continue
        cur += c
        i += 1
    parts.append(cur)
    return [p.strip() for p in parts]


def to_structure(ans: str) -> Any:
    """('expr', e) | ('tuple', [..], paren) | ('set', [..]) | ('interval', lo, hi, lc, rc) | ('union', [..]) | ('dots',)
    (an ellipsis item of a sequence); None if unparsable."""
    try:
        return _structure(_clean(ans))
    except Exception:
        return None


_DOTS = ("\\ldots", "\\dots", "\\cdots", "...")


def _structure(s: str) -> Any:
    if not s:
        raise ValueError("empty")
    parts = _split_top(s, "\\cup")
    if len(parts) > 1:
        return ("union", [_structure(p) for p in parts])
    parts = _split_top(s, ",")
    if len(parts) > 1:
        if any(p in _DOTS for p in parts):
            # `1, 3, 5, \ldots`: a sequence, ordered
            return ("tuple", [("dots",) if p in _DOTS else _structure(p) for p in parts], False)
        return ("set", [_structure(p) for p in parts])
    if s.startswith("\\{") and s.endswith("\\}"):
        inner = s[2:-2].strip()
        return ("set", [_structure(p) for p in _split_top(inner, ",")] if inner else [])
    if s[0] in "([" and s[-1] in ")]":
        items = _split_top(s[1:-1], ",")
        if len(items) == 2 and not (s[0] == "(" and s[-1] == ")"):
            return ("interval", parse_scalar(items[0]), parse_scalar(items[1]), s[0] == "[", s[-1] == "]")
        if len(items) >= 2:
            return ("tuple", [_structure(p) for p in items], s[0] == "(")
    return ("expr", parse_scalar(s))


def _num_eq(a: Any, b: Any) -> bool:
    import sympy

    if a.is_Rational and b.is_Rational:
        return bool(a == b)
    if a.free_symbols or b.free_symbols:
        return bool(sympy.simplify(a - b) == 0)
    if a.has(sympy.oo, -sympy.oo) or b.has(sympy.oo, -sympy.oo):
        return bool(a == b)
    va, vb = sympy.N(a, 60), sympy.N(b, 60)
    scale = max(abs(va), abs(vb))
    return bool(abs(va - vb) <= sympy.Float("1e-40", 60) * scale) if scale != 0 else True


def structures_equal(x: Any, y: Any) -> bool:
    kx, ky = x[0], y[0]
    if kx == "dots" or ky == "dots":
        return kx == ky
    if kx == "expr" and ky == "expr":
        return _num_eq(x[1], y[1])
    if kx in ("set", "union") and ky in ("set", "union"):
        a, b = list(x[1]), list(y[1])
        if len(a) != len(b):
            # different lengths: equal as sets (each member of one side is in the other)
            return bool(a and b) and all(any(structures_equal(u, v) for v in b) for u in a) and all(
                any(structures_equal(u, v) for u in a) for v in b
            )
        for u in a:
            for k, v in enumerate(b):
                if structures_equal(u, v):
                    b.pop(k)
                    break
            else:
                return False
        return True
    if kx == "tuple" and ky == "tuple":
        return len(x[1]) == len(y[1]) and all(structures_equal(u, v) for u, v in zip(x[1], y[1]))
    if kx == "interval" and ky == "interval":
        return x[3] == y[3] and x[4] == y[4] and _num_eq(x[1], y[1]) and _num_eq(x[2], y[2])
    if kx == "tuple" and ky == "interval" or kx == "interval" and ky == "tuple":
        t, iv = (x, y) if kx == "tuple" else (y, x)
        return t[2] and not iv[3] and not iv[4] and len(t[1]) == 2 and structures_equal(t[1][0], ("expr", iv[1])) and structures_equal(t[1][1], ("expr", iv[2]))
    if kx == "set" and len(x[1]) == 1:
        return structures_equal(x[1][0], y)
    if ky == "set" and len(y[1]) == 1:
        return structures_equal(x, y[1][0])
    return False


_CHOICE_WRAP = re.compile(r"\\(?:textbf|textrm|textit|textsf|texttt|text|mathrm|mathbf|mbox|bf|rm)")
_CHOICE_ITEM = r"(?:\(\s*[A-Z]\s*\)|\b[A-Z]\)|\b[A-Z]\b(?![\^_*=+\-/'!<>\[]))"
_CHOICE_LIST = re.compile(rf"^\s*(?:(?:option|choice|answer|is)\b\s*:?\s*)*({_CHOICE_ITEM}(?:(?:\s*(?:[,;&/\\]|\band\b|\bor\b))*\s*{_CHOICE_ITEM})*)\s*\.?\s*$", re.I)


def choice_letters(s: str) -> tuple[frozenset[str], bool] | None:
    """Option letters of an answer written as a list of options (``C``, ``(C)``, ``\\textbf{(C)}``,
    ``C)``, ``\\text{C, F, H}``, ``(C) or (D)``) and whether a letter had a parenthesis; None if
    it is not such a list. (The Rust side also reads one marked option followed by its content.)"""
    t = _CHOICE_WRAP.sub(" ", s).replace("{", " ").replace("}", " ")
    m = _CHOICE_LIST.match(t)
    if m is None or m.group(1) is None:
        return None
    body = m.group(1)
    letters = re.findall(r"\(\s*([A-Z])\s*\)|\b([A-Z])\b", body)
    return frozenset(a or b for a, b in letters), "(" in body or ")" in body


def _percent_split(s: str) -> tuple[str, bool]:
    c = _clean(s)
    return c.replace("%", "").strip(), "%" in c


_LEADING_WORDS = (
    "so thus therefore hence then we get have obtain find the answer final is which gives it that this equals "
    "result solution value of and finally"
).split()


def _strip_leading_words(s: str) -> str:
    """``so x = \\frac12`` -> ``x = \\frac12`` (kept whole when nothing would be left)."""
    t = s.lstrip()
    while True:
        m = re.match(r"([A-Za-z]+)[\s:,]+", t)
        if m is None or m.group(1).lower() not in _LEADING_WORDS or not t[m.end() :].strip():
            break
        t = t[m.end() :]
    return t or s


def grade(pred: str, gold: str, *, strict: bool = False) -> str:
    """Status of one pair: correct / wrong / no_answer / unparsable."""
    g = extract(gold, gold=True)
    p = extract(pred, strict=strict)
    if p is None:
        return "no_answer"
    p = _strip_leading_words(p)
    if g is None:
        return "unparsable"
    if "".join(_clean(p).split()) == "".join(_clean(g).split()):
        return "correct"
    gc = choice_letters(_clean(g))
    if gc is not None and (len(gc[0]) > 1 or gc[1] or gc[0] <= set("ABCDE")):
        pc = choice_letters(_clean(p))
        return "correct" if pc is not None and pc[0] == gc[0] else "wrong"
    (g, g_pct), (p, p_pct) = _percent_split(g), _percent_split(p)
    if p_pct and not g_pct:
        # one reading per gold: |gold| <= 1 reads x% as x/100, a larger gold as x
        gs, ps = to_structure(g), to_structure(p)
        if gs is None or ps is None:
            return "unparsable"
        if gs[0] == "expr" and ps[0] == "expr" and not gs[1].free_symbols and abs(complex(gs[1].evalf())) <= 1:
            ps = ("expr", ps[1] / 100)
        return "correct" if structures_equal(gs, ps) else "wrong"
    gs, ps = to_structure(g), to_structure(p)
    if gs is None or ps is None:
        return "unparsable"
    if structures_equal(gs, ps):
        return "correct"
    if g_pct and not p_pct and gs[0] == "expr" and ps[0] == "expr":
        # a percent gold: its number of percent, or that number divided by 100
        return "correct" if _num_eq(gs[1] / 100, ps[1]) else "wrong"
    return "wrong"
