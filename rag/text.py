"""Text helpers shared by retrieval and answering: terms for lexical matching, sentences
with their offsets, identifiers such as "Article 2205" or "§ 4611"."""

from __future__ import annotations

import re
from dataclasses import dataclass

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves also may might must shall us per via within without whether upon among
    what's whats tell explain describe say says said according""".split()
)

_TERM = re.compile(r"\d+(?:[.-]\d+)*[a-z]?|[a-z][a-z'’]*[a-z]|[a-z]")


# Irregular past forms -> base form, so that "came into effect" matches "come into effect".
_IRREGULAR = {
    form: base
    for base, forms in {
        "come": "came",
        "become": "became",
        "take": "took taken",
        "undertake": "undertook undertaken",
        "make": "made",
        "give": "gave given",
        "begin": "began begun",
        "lead": "led",
        "hold": "held",
        "meet": "met",
        "go": "went gone",
        "leave": "left",
        "bring": "brought",
        "seek": "sought",
        "tell": "told",
        "sell": "sold",
        "win": "won",
        "lose": "lost",
        "pay": "paid",
        "lay": "laid",
        "keep": "kept",
        "find": "found",
        "fall": "fell fallen",
        "grow": "grew grown",
        "rise": "rose risen",
        "draw": "drew drawn",
        "write": "wrote written",
        "choose": "chose chosen",
        "speak": "spoke spoken",
        "strike": "struck",
        "stand": "stood",
        "break": "broke broken",
        "bear": "bore borne",
        "see": "saw seen",
        "know": "knew known",
        "send": "sent",
        "spend": "spent",
        "build": "built",
        "deal": "dealt",
        "mean": "meant",
        "withdraw": "withdrew withdrawn",
        "forbid": "forbade forbidden",
        "freeze": "froze frozen",
        "arise": "arose arisen",
    }.items()
    for form in forms.split()
}


def stem(word: str) -> str:
    """A light suffix stemmer: enough to match 'tariffs'/'tariff', 'imposed'/'impose',
    'formally'/'formal' and 'came'/'come' (common irregular verbs). A final "e" is dropped so
    that a verb's forms meet ('rule', 'ruled', 'rules' and 'ruling' all give 'rul').

    >>> [stem(w) for w in ["tariffs", "imposed", "impose", "imposing", "relations", "policies"]]
    ['tariff', 'impos', 'impos', 'impos', 'relation', 'policy']
    >>> [stem(w) for w in ["came", "comes", "coming", "withdrew", "withdrawing", "us", "free"]]
    ['com', 'com', 'com', 'withdraw', 'withdraw', 'us', 'fre']
    >>> [stem(w) for w in ["formally", "formal", "relatively", "relative", "family", "july"]]
    ['formal', 'formal', 'relativ', 'relativ', 'family', 'july']
    """
    word = _IRREGULAR.get(word, word)
    if len(word) <= 3 or word[0].isdigit():
        return word
    for suffix, repl in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                break
            word = word[: len(word) - len(suffix)] + repl
            break
    while word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


_SUFFIXES = (
    ("ies", "y"),
    ("ing", ""),
    ("ed", ""),
    ("es", "e"),
    ("s", ""),
    ("ally", "al"),
    ("ively", "ive"),
    ("ately", "ate"),
    ("ously", "ous"),
    ("ently", "ent"),
    ("antly", "ant"),
)


def terms(text: str, keep_stopwords: bool = False) -> list[str]:
    """Lower-cased, stemmed content terms; numbers like '34.7' and '4611' kept whole.

    >>> terms("Why did Article 34.7 require a joint review of the USMCA?")
    ['articl', '34.7', 'requir', 'joint', 'review', 'usmca']
    """
    # "u.s.m.c.a." first: the "u.s." rule would otherwise eat its start
    text = text.lower().replace("’", "'").replace("u.s.m.c.a.", "usmca")
    text = text.replace("u.s.c.", "usc").replace("u.s.", "us")
    out = []
    for tok in _TERM.findall(text):
        tok = tok.strip("'")
        if tok.endswith("'s"):
            tok = tok[:-2]
        if not tok or (not keep_stopwords and tok in STOPWORDS):
            continue
        out.append(stem(tok))
    return out


def path_terms(path: str) -> list[str]:
    """The terms of a file path's words: a document may be named by its file name.

    >>> path_terms("articles/kiddle_usmca_facts.txt")
    ['articl', 'kiddl', 'usmca', 'fact', 'txt']
    """
    return terms(re.sub(r"[\W_]+", " ", path))


# Identifiers a user types and expects to find verbatim.
# "Articles 34.6 and 34.7", "§§ 4611, 4612 or 4613": a list after the plural keyword.
_AND = r"\s*(?:,\s*(?:and\s+|or\s+)?|\s(?:and|or|&)\s)\s*"
_ARTICLE_NUM = r"\d+(?:\.\d+)*[A-Za-z]?"
_SECTION_NUM = r"\d+[\w.-]*\d|\d+"
_IDENT_PATTERNS = [
    (
        re.compile(rf"\bArticles\s+((?:{_ARTICLE_NUM})(?:{_AND}(?:{_ARTICLE_NUM}))*)", re.I),
        "Article {}",
    ),
    (re.compile(rf"\bArticle\s+({_ARTICLE_NUM})", re.I), "Article {}"),
    (re.compile(rf"§§\s*((?:{_SECTION_NUM})(?:{_AND}(?:{_SECTION_NUM}))*)"), "§ {}"),
    (re.compile(rf"§\s*({_SECTION_NUM})"), "§ {}"),
    (
        re.compile(rf"\bsections\s+((?:{_SECTION_NUM})(?:{_AND}(?:{_SECTION_NUM}))*)", re.I),
        "section {}",
    ),
    (re.compile(rf"\bsection\s+({_SECTION_NUM})", re.I), "section {}"),
    (re.compile(r"\bExecutive\s+Order\s+(?:No\.\s*)?(\d{4,6})", re.I), "Executive Order {}"),
    (re.compile(r"\bAnnex\s+(\d+[\w.-]*)", re.I), "Annex {}"),
    (re.compile(r"\b(\d{4}\.\d{2}(?:\.\d{2,4})?)\b"), "{}"),  # HS codes
    (re.compile(r"\b(\d{1,2})\s+U\.?S\.?C\.?\s+(?:§+\s*)?(\d{3,5}[a-z]?)", re.I), "{} U.S.C. {}"),
]


def identifiers(text: str) -> list[str]:
    """Exact identifiers in a question, normalised.

    >>> identifiers("What does Article 2205 say, and 19 U.S.C. § 4611, and Executive Order 14193?")
    ['Article 2205', '§ 4611', 'Executive Order 14193', '19 U.S.C. 4611']
    >>> identifiers("Compare Articles 34.6 and 34.7, and sections 232, 301 or 201.")
    ['Article 34.6', 'Article 34.7', 'section 232', 'section 301', 'section 201']
    """
    found: list[str] = []
    for pattern, fmt in _IDENT_PATTERNS:
        for m in pattern.finditer(text):
            groups = m.groups()
            numbers = re.split(_AND, groups[0]) if len(groups) == 1 else [None]
            for num in numbers:
                ident = fmt.format(num) if num is not None else fmt.format(*groups)
                if ident not in found:
                    found.append(ident)
    return found


def subdivisions(text: str) -> list[str]:
    """Subdivision markers written right after a cited number: "§ 1702(b)" -> ["(b)"].

    >>> subdivisions("What does 50 U.S.C. § 1702(b) exclude, and Article 1904(4)?")
    ['(b)', '(4)']
    """
    return re.findall(r"(?<=\d)\s?(\([a-z0-9]{1,4}\))", text, re.I)


def ident_regex(ident: str) -> re.Pattern[str]:
    """A pattern that finds ``ident`` in document text, tolerant of spacing, case and dashes.

    >>> bool(ident_regex("Annex 31-A").search("the mechanism under Annex 31–A of the USMCA"))
    True
    """
    # "Annex 31-A" is printed "Annex 31–A" (an en dash) as often as not.
    parts = [re.escape(p).replace(r"\-", "[-–—]") for p in ident.replace("§", "§ ").split()]
    body = r"\s*".join(parts)
    if ident.lower().startswith("section "):
        # "section 232" is written "section 232" or, in the U.S. Code, "§ 232"
        num = re.escape(ident.split()[1])
        body = rf"(?:section|§)\s*{num}"
    if ident.startswith("§"):
        num = re.escape(ident.split()[-1])
        body = rf"(?:§+|section)\s*{num}"
    usc = re.fullmatch(r"(\d+) U\.S\.C\. (\S+)", ident)
    if usc:
        # The U.S. Code is cited "19 U.S.C. § 4611", "19 U.S.C. 4611" or "19 USC 4611"
        title, num = (re.escape(g) for g in usc.groups())
        body = rf"{title}\s*U\.?\s*S\.?\s*C\.?\s*(?:§+\s*)?{num}"
    return re.compile(rf"(?<![\w.]){body}(?![\d])", re.I)


@dataclass
class Sentence:
    """A sentence of a passage, with its offsets inside that passage."""

    text: str
    start: int
    end: int


_ABBREV = re.compile(
    r"(?:\b(?:U\.S|U\.S\.C|Mr|Ms|Mrs|Dr|No|Nos|St|Inc|Ltd|Co|Corp|Jr|Sr|vs|etc|e\.g|i\.e|"
    r"Art|Arts|Sec|Secs|para|paras|Stat|Pub|L|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|"
    r"Dec|S\.C|c|ch|p|pp|cl|subs|seq|al|cf|viz|Vol|Fed|Reg|Rev|Cong|Sess|Dept|Gov|Gen|approx|[A-Z])|(?:[A-Z]\.){2,}[A-Z]?)\.$"
)
_BOUNDARY = re.compile(
    r"[.!?][\"”’)\]]*(?=\s+[\"“‘(\[]?[A-Z0-9§])|\n\s*\n|"
    r"\n(?=\s*(?:\(\w{1,4}\)|[-•*|]|\d{1,2}\.)\s)|;\s*\n|:\s*\n|\n(?=\|)"
)
# A wiki footnote at the end of a sentence ("... in Montreal.[1]"): not one of our citations.
FOOTNOTE = re.compile(r"(?:\[(?:\d{1,3}|[a-z])\])+\s*$")
# A blank line between a clause that has not ended (a comma or a word) and its lower-case or
# numeric continuation.
_RUNS_ON = re.compile(r"[a-z,]\s*\n\s*\n\s*[a-z0-9]")


def sentences(text: str) -> list[Sentence]:
    """Split a passage into sentences (and list items), keeping exact offsets.

    >>> [s.text for s in sentences("Mr. Carney met the U.S. envoy. It went well.\\n\\n(a) Next item")]
    ['Mr. Carney met the U.S. envoy.', 'It went well.', '(a) Next item']
    >>> len(sentences("Under the Act (50 U.S.C. 1701 et seq.) (IEEPA), and the NEA."))
    1
    >>> [s.text for s in sentences("from 2002 and thereafter,\\n\\n62.5 percent.\\n\\nNext")]
    ['from 2002 and thereafter,\\n\\n62.5 percent.', 'Next']
    """
    out: list[Sentence] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        end = m.end()
        if m.group(0).startswith(".") and _ABBREV.search(text[max(0, start) : m.start() + 1]):
            continue
        if m.group(0).count("\n") > 1 and _RUNS_ON.search(
            text, max(start, m.start() - 1), min(len(text), m.end() + 1)
        ):
            continue  # a PDF paragraph break inside a clause ("2002 and thereafter,\n\n62.5 ...")
        _add(out, text, start, end)
        start = end
    _add(out, text, start, len(text))
    out = _join_dangling(out, text)
    # Hard-wrapped lines (PDF text) inside a sentence are fine; very long "sentences" (legal
    # lists without full stops) are cut at line breaks.
    result: list[Sentence] = []
    for s in out:
        if len(s.text) > 600 and "\n" in s.text:
            offset = s.start
            for line in text[s.start : s.end].split("\n"):
                _add(result, text, offset, offset + len(line))
                offset += len(line) + 1
        else:
            result.append(s)
    return result


# A clause cut off before its list ("not to exceed the greater of" / "(1) $250,000; or" /
# "(2) twice the amount ...").
_DANGLING = re.compile(
    r"\b(of|or|and|the|a|an|to|for|by|than|in|with|from|that|which|be|shall|may|under|on|"
    r"at|as|whether|if|unless|including|between|except)\s*$"
)
_ITEM = re.compile(r"\(?\w{1,4}\)\s")


def _join_dangling(out: list[Sentence], text: str, limit: int = 600) -> list[Sentence]:
    """A sentence that stops mid-clause takes in the enumerated items that complete it.

    >>> t = "A fine of not more than the greater of\\n\\n(1) $250,000; or\\n\\n(2) twice that.\\n\\n(b) Next"
    >>> [s.text.replace("\\n\\n", " ") for s in sentences(t)]
    ['A fine of not more than the greater of (1) $250,000; or (2) twice that.', '(b) Next']
    """
    joined: list[Sentence] = []
    for s in out:
        prev = joined[-1] if joined else None
        if (
            prev is not None
            and _DANGLING.search(prev.text)
            and _ITEM.match(s.text)
            and s.end - prev.start <= limit
        ):
            joined[-1] = Sentence(text[prev.start : s.end], prev.start, s.end)
        else:
            joined.append(s)
    return joined


def _add(out: list[Sentence], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        out.append(Sentence(text[start:end], start, end))
