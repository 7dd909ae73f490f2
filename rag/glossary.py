"""Everyday words for what trade law says in its own terms.

An analyst asks how much *warning* a country must give before it can *walk away* from a
pact; the treaty says *notice* and *withdraw*. The embedding model connects such pairs
poorly (cosine 0.25 for "walk away"/"withdraw" with all-MiniLM-L6-v2), and word overlap not
at all. This glossary maps lay phrases to the terms legal and trade texts use, so that
BM25 also looks for those terms and a sentence holding them counts as matching the
question's words. It is general vocabulary of the field, not a list of questions: a phrase
is here because treaties, statutes and trade reporting name the thing otherwise.
"""

from __future__ import annotations

import re

from rag.text import terms

# (lay phrase, as a regular expression on the question; the field's own words)
_ENTRIES: tuple[tuple[str, str], ...] = (
    (
        r"walk(?:s|ed|ing)? away|pull(?:s|ed|ing)? out|back(?:s|ed|ing)? out|"
        r"get(?:s|ting)? out|(?:want(?:s|ed)?|opt(?:s|ed)?) out|quit(?:s|ting)?|exit(?:s|ed|ing)?|leav(?:e|es|ing)|"
        r"cancel(?:s|led|ling|ed|ing)?|scrap(?:s|ped|ping)?",
        "withdraw withdrawal terminate termination",
    ),
    (r"warn(?:s|ed|ing|ings)?|heads-up|in advance|ahead of time", "notice notify notification"),
    (
        r"take(?:s|n)? over|took over|seiz(?:e|es|ed|ing|ure)|confiscat\w*|nationali[sz]\w*|"
        r"grab(?:s|bed|bing)?",
        "expropriate expropriation nationalization",
    ),
    (
        r"paid|pay(?:s|ing|out|ment)?|reimburs\w*|make(?:s)? (?:up|good)|"
        r"compensat\w*|damages",
        "compensation payment",
    ),
    (
        r"ceiling|caps?|capped|limit(?:s|ed)? (?:on )?(?:how many|the number)",
        "numerical restriction quota limit",
    ),
    (
        r"week-?ends?|saturdays?|sundays?|public holidays?|holidays?|working days?|"
        r"business days?",
        "calendar days",
    ),
    (r"fines?|fined|penalt\w*|punish\w*|sanction(?:s|ed)?", "penalty civil criminal"),
    (
        r"sue[sd]?|suing|lawsuits?|go(?:es)? to court|take\w* \w+ to court|legal action|"
        r"litigat\w*",
        "action proceeding cause court",
    ),
    (r"shippers?|sellers? abroad|foreign sellers?|vendors? abroad", "exporter export"),
    (r"buyers?|brings? in|brought in|bringing in", "importer importation import"),
    (
        r"made in|count(?:s|ed)? as (?:local|north american|regional)|qualif\w*|"
        r"where \w+ (?:goods|products|cars|items) come from",
        "originating origin",
    ),
    (r"parts|components|inputs|ingredients", "materials"),
    (r"share|portion|proportion|fraction", "percentage percent"),
    (
        r"referees?|umpires?|arbitrators?|judges|jury|juries|trade court",
        "panel panelist tribunal arbitral",
    ),
    (
        r"quarrels?|fights?|disagreements?|rows?|clash(?:es)?|spats?|conflicts?",
        "dispute disputes",
    ),
    (
        r"break(?:s|ing)? the rules|broke the rules|violat\w*|breach\w*|cheat\w*",
        "violation contravention",
    ),
    (
        r"business trips?|business travel\w*|sales calls?|visitors?|short (?:trips?|visits?)",
        "business visitors temporary entry",
    ),
    (r"work permits?|visas?|enter the country|let in", "temporary entry authorization"),
    (r"border agenc\w*|customs officers?|border officers?", "customs administration"),
    (
        r"import tax\w*|border tax\w*|tax\w* on imports|levies|levy|tolls?",
        "tariff duty customs duties",
    ),
    (r"hit back|retaliat\w*|payback|tit[- ]for[- ]tat", "retaliatory countermeasure suspend"),
    (
        r"government (?:buying|purchas\w*|contracts?)|public contracts?|tenders?|bids?|"
        r"bidding|bidders?",
        "procurement tendering suppliers",
    ),
    (r"dumping|sold below (?:cost|value)|cheap imports", "antidumping dumping"),
    (r"subsid\w*|state aid", "countervailing subsidy"),
    (
        r"surges?|floods?|flooding|spike in imports|sudden rise",
        "emergency action safeguard serious injury",
    ),
    (r"inventions?|patents?", "patent"),
    (
        r"workers?'? rights|labou?r rights|unions?|wages?|working conditions",
        "labor worker rights",
    ),
    (r"pollution|environment\w*|nature|wildlife", "environmental environment"),
    (r"security|defen[cs]e|military|weapons", "national security essential security"),
    (
        r"treated (?:equally|the same|no worse)|equal treatment|discriminat\w*|"
        r"no worse|same treatment|level playing field",
        "national treatment most-favored-nation less favorable",
    ),
    (r"fair(?:ly)? treat\w*|fair treatment|decent treatment", "fair equitable minimum standard"),
    (r"renew\w*|extend\w*|prolong\w*|keep going|stay in force", "extend extension term"),
    (
        r"heads?|chair(?:s|ed|ing|man|woman|person)?|lead(?:s|ing)?|in charge",
        "chair chairperson",
    ),
    (r"sit on|seats?|made up|consist\w*|structured", "members composed comprising comprise"),
    (r"paperwork|forms?|proof|documents?", "certificate certification documentation records"),
    (r"keep (?:records|copies)|hold on to|retain\w*|stor(?:e|ing)", "records maintain keep"),
    (
        r"cars?|autos?|automobiles?|car ?makers?|automakers?",
        "automotive vehicle vehicles passenger motor",
    ),
    (r"lorr(?:y|ies)|truckers?|trucking|haul\w*", "trucks motor carrier transportation"),
    (r"farm\w*|agricultur\w*|food|crops?", "agricultural agriculture"),
    (r"tax-free|duty-free|tariff-free|no tariffs?|free of (?:tax|duty|tariffs?)", "duty-free"),
    (r"tiny|negligible|small amount|minor amount|trivial", "de minimis"),
    (r"cancel\w*|scrap\w*|end(?:s|ed|ing)?|terminat\w*|abolish\w*", "terminate termination"),
    (r"provinces?|states|local governments?", "state provincial subnational"),
    (
        r"investors?'? (?:claims?|complaints?|cases?)|investor-state",
        "arbitration claim investor",
    ),
    (r"watchdog|oversee\w*|oversight|monitor\w*|police|enforc\w*", "monitoring enforcement"),
    (r"appeal\w*|challeng\w*|overturn\w*", "review appeal judicial"),
    (r"countr(?:y|ies)|nations?|member govern\w*|member states?|partners?", "party parties"),
    (r"harm(?:s|ed|ing)?|hurt(?:s|ing)?|damag\w*", "injury injure"),
    (r"powers?|authority|allowed to|able to", "authority authorize"),
    (r"freez\w*|block(?:s|ed|ing)? (?:assets|property)", "blocking block property"),
    (r"come into force|start(?:ed|s)? to apply|tak(?:e|es) effect|kick(?:s|ed)? in", "entry"),
    (
        r"(?:set up|have|open|keep|maintain)\w* (?:an? )?(?:local )?(?:office|branch)|"
        r"be based in|reside\w*|residen\w*",
        "local presence representative office residency",
    ),
    (r"confidential business information|business secrets?|know-how", "trade secrets"),
    (r"brand names?|logos?|brands?", "trademarks trademark"),
    (r"music|songs?|recordings?|films?|movies?", "copyright sound recordings"),
    (r"state-owned|government-owned|public compan\w*", "state enterprises monopolies"),
    (
        r"send (?:money|profits|earnings) (?:home|abroad|out)|move money|money transfers?|"
        r"repatriat\w*|profits? home",
        "transfers repatriation",
    ),
    (
        r"buy local|local content|made locally|export quotas?|must export|"
        r"(?:hire|use) local",
        "performance requirements domestic content",
    ),
    (r"executives|managers?|bosses|directors", "senior management boards of directors"),
    (
        r"engineers?|lawyers?|architects?|accountants?|doctors?|professionals?",
        "professional services licensing certification",
    ),
    (r"phones?|internet|telecom\w*|networks?", "telecommunications"),
    (r"banks?|banking|insurance|insurers?", "financial services financial institutions"),
    (r"antitrust|competition rules|cartels?", "competition law anticompetitive"),
    (r"import bans?|bans? on imports|banned|prohibit\w*", "prohibition restrictions"),
    (
        r"safety rules|product standards|labell?ing|labels?",
        "standards-related measures technical regulations labelling",
    ),
    (r"food safety|pests?|animal health|plant health", "sanitary phytosanitary"),
    (r"oil|gas|electricity|energy", "energy basic petrochemicals"),
    (r"refund\w*|give back|money back", "drawback refund"),
    (r"samples?|temporar\w* imports?|brought in temporarily", "temporary admission"),
    (r"ruling in advance|advance decision|binding opinion", "advance rulings"),
    (r"shell compan\w*|letterbox compan\w*|refuse (?:the )?benefits", "denial of benefits"),
    (r"injunctions?|interim relief|stop-gap", "interim measures provisional"),
    (r"verdicts?|final decisions?|outcome of the case", "award final report determination"),
    (r"specialists?|technical advisers?", "expert experts"),
    (r"staff office|administrative office|support office", "secretariat"),
    (r"drugs?|medicines?|medications?|pharma\w*", "pharmaceutical"),
    (r"pesticides?|farm chemicals?|weed ?killers?", "agricultural chemical"),
    (
        r"cleared for sale|approv\w* (?:to|for) (?:sell|sale|market)|licen[cs]ed for sale|"
        r"allowed on the market|put on the market",
        "marketing approval",
    ),
    (
        r"test results|safety (?:data|tests?|studies)|trial results|clinical (?:data|trials?)",
        "data",
    ),
    (r"workshops?|fix(?:es|ed|ing)?|mend\w*|servic(?:e|ed|ing) abroad", "repair alteration"),
    (
        r"foreign (?:compan\w*|firms?|business\w*|owners?)|overseas (?:compan\w*|investors?)",
        "investor of another Party",
    ),
    (r"broke|broken|break(?:s|ing)?", "breach violation"),
    (r"vouch\w*|attest\w*|swear\w*|swore|sworn|guarantee\w*", "certify certification"),
    (r"honou?r(?:s|ed|ing)?|recogni[sz]e[sd]?", "accept acceptance"),
    (
        r"lakes?|rivers?|aquifers?|streams?|groundwater|underground|wetlands?",
        "water surface ground",
    ),
    (r"milk|cheese|butter|yogh?urt|cream", "dairy"),
    (r"worthless|no (?:real )?value|little value|next to nothing", "negligible value"),
    (r"yardsticks?|benchmarks?|rule of thumb|formula", "standard basis method"),
    (r"promises?|pledges?|commitments?|undertakings?", "obligations commitments"),
    (r"neighbou?r(?:s|ing)?", "another Party"),
    (
        r"biggest|largest|highest|most|maximum|upper limit|at most",
        "maximum greater not exceed",
    ),
    (r"smallest|lowest|least|minimum|at least", "minimum less lesser not less"),
    (r"spring(?:s)? from|aris\w*|stem(?:s|ming)? from|based on", "arising"),
    (r"lineage|ancestry|birthplace", "origin"),
    (r"wait(?:s|ed|ing)?|hold off|delay\w*", "period days before"),
    (r"go(?:es)? over|discuss\w*|talk about|look at|examin\w*", "review consider"),
    (
        r"(?:switch|chang|shift)\w* (?:customs |tariff )?(?:categor\w*|class\w*|headings?|codes?)|"
        r"customs categor\w*|tariff shift",
        "change tariff classification",
    ),
    (
        r"clash\w* with|conflicts? with|at odds with|contradict\w*|goes? against",
        "inconsistent conflict",
    ),
    (r"strike (?:it |them )?down|struck down|invalidat\w*|void|annul\w*", "declared invalid"),
)

_COMPILED = tuple(
    (re.compile(rf"\b(?:{pattern})\b", re.I), words, frozenset(terms(words)))
    for pattern, words in _ENTRIES
)


def related_terms(question: str) -> dict[str, frozenset[str]]:
    """For each term of ``question`` inside a lay phrase the glossary knows, the terms the
    documents use for the same thing (stemmed like ``terms``).

    >>> sorted(related_terms("How could a country walk away from NAFTA?")["walk"])
    ['terminat', 'termination', 'withdraw', 'withdrawal']
    """
    related: dict[str, set[str]] = {}
    for pattern, _, targets in _COMPILED:
        for m in pattern.finditer(question):
            for t in terms(m.group(0)):
                if t not in targets:
                    related.setdefault(t, set()).update(targets)
    return {t: frozenset(v) for t, v in related.items()}


def expanded_query(question: str) -> str:
    """``question`` followed by the document terms its lay phrases stand for (for BM25)."""
    extra = [words for pattern, words, _ in _COMPILED if pattern.search(question)]
    return " ".join([question, *extra])


def in_document_terms(question: str) -> str:
    """``question`` with each everyday phrase replaced by the terms the documents use for it.

    >>> in_document_terms("Can a country walk away from NAFTA?")
    'Can a party parties withdraw withdrawal terminate termination from NAFTA?'
    """
    found = sorted(
        (m.start(), -m.end(), words)
        for pattern, words, _ in _COMPILED
        for m in pattern.finditer(question)
    )
    out, at = [], 0
    for start, neg_end, words in found:  # leftmost, then longest; no overlaps
        if start >= at:
            out += [question[at:start], words]
            at = -neg_end
    return "".join(out) + question[at:]
