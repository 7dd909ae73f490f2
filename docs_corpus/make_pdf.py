"""Build docs_corpus/usmca_auto_rules_of_origin.pdf, the starter corpus's PDF note.

The note's text lives in this script (not in a .md/.txt beside it) so the
ingester does not index the same note twice. Run from anywhere:

    .venv/bin/python docs_corpus/make_pdf.py

Requires reportlab. Output is byte-stable (reportlab "invariant" mode), so
re-running without text changes leaves the committed PDF unchanged.
"""

from pathlib import Path

from reportlab import rl_config

rl_config.invariant = 1  # fixed timestamps/IDs -> reproducible PDF bytes

from reportlab.lib.pagesizes import LETTER  # noqa: E402
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet  # noqa: E402
from reportlab.lib.units import inch  # noqa: E402
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer  # noqa: E402

OUT = Path(__file__).resolve().parent / "usmca_auto_rules_of_origin.pdf"
TITLE = "Rules of Origin for Autos under the USMCA"
FOOTER = "Tradechat briefing note: USMCA auto rules of origin"

# The note, as (kind, text) blocks: "h1" title, "h2" section heading,
# "p" paragraph, "em" italic line, "ul" list of bullet items.
# Written in our own words; facts from the sources listed at the end.
CONTENT = [
    ("h1", TITLE),
    (
        "em",
        "Tradechat briefing note. Written in our own words from the public "
        "sources listed at the end. Facts current to November 2025.",
    ),
    ("h2", "Why the auto rules matter"),
    (
        "p",
        "A car or truck crosses North American borders duty-free only if it "
        "counts as originating under the USMCA. Since 2025 the stakes are "
        "higher: vehicles and parts that qualify were spared the IEEPA "
        "tariffs on Canada and Mexico, and for qualifying vehicles the "
        "Section 232 auto tariff is charged only on their non-US content.",
    ),
    ("h2", "Where the rules are written"),
    (
        "p",
        "The product-specific rules for vehicles sit in the Appendix to "
        "Annex 4-B of the USMCA, usually called the automotive appendix. "
        'In US law the matching provision is 19 U.S.C. § 4532, "Special '
        'rules for automotive goods", part of the USMCA Implementation Act '
        "of 29 January 2020. It defines a covered vehicle as a passenger "
        "vehicle, a light truck or a heavy truck.",
    ),
    ("h2", "Test 1: regional value content"),
    (
        "p",
        "Regional value content (RVC) measures how much of a vehicle's value "
        "was added in North America. Under NAFTA the threshold for cars and "
        "light trucks was 62.5 percent. The USMCA raised it to 75 percent "
        "for passenger vehicles and light trucks, phased in over three years "
        "and fully in place from July 2023. Core parts such as engines, "
        "transmissions and axles face a matching 75 percent requirement. "
        "Heavy trucks follow a slower path to 70 percent by 2027.",
    ),
    ("h2", "Test 2: steel and aluminum purchases"),
    (
        "p",
        "At least 70 percent of the steel and the aluminum a vehicle maker "
        "buys in North America must itself originate in the region. The "
        "test looks at the producer's purchases as a whole, not at each "
        "vehicle. Producers certify compliance to the Commissioner of US "
        "Customs and Border Protection (CBP) and keep records to back up "
        "their numbers.",
    ),
    ("h2", "Test 3: labour value content"),
    (
        "p",
        "The labour value content (LVC) test is new. A set share of each "
        "vehicle's value must come from high-wage work, defined as work paid "
        "an average of at least US$16 per hour:",
    ),
    (
        "ul",
        [
            "40 percent for passenger vehicles;",
            "45 percent for light trucks.",
        ],
    ),
    (
        "p",
        "The share combines three ingredients named in § 4532: high-wage "
        "material and manufacturing expenditures, high-wage technology "
        "expenditures such as research and IT (capped at 10 points), and "
        "high-wage assembly expenditures (capped at 5 points). Makers "
        "certify their LVC figures to CBP, and the Secretary of Labor checks "
        "each certification for omissions or errors.",
    ),
    ("h2", "Oversight: the interagency committee"),
    (
        "p",
        "Section 4532 required the President to set up an interagency "
        "committee within 30 days of enactment. The US Trade Representative "
        "chairs it, joined by the Secretary of Commerce, the CBP "
        "Commissioner, the Secretary of Labor and the chair of the "
        "International Trade Commission. It advises on implementing and "
        "enforcing the auto rules and reviews their effects on US workers "
        "and consumers and the impact of new technology.",
    ),
    ("h2", "The alternative staging regime"),
    (
        "p",
        "Not every producer could meet the new tests on day one. Article 8 "
        "of the automotive appendix offers a longer, negotiated phase-in, "
        "known as the alternative staging regime. USTR had 90 days from "
        "enactment to publish how it would work. A producer asking to use it "
        "had to say whether the vehicles concerned made up 10 percent or "
        "less of its North American output; above that line it needed a "
        "detailed, credible plan for reaching full compliance.",
    ),
    ("h2", "NAFTA versus USMCA at a glance"),
    (
        "ul",
        [
            "RVC for cars and light trucks: NAFTA 62.5%; USMCA 75%.",
            "Steel and aluminum purchases: NAFTA no test; USMCA 70%.",
            "Labour value content: NAFTA no test; USMCA 40% (cars) or 45% "
            "(light trucks) at $16/hour.",
        ],
    ),
    ("h2", "Sources"),
    ("p", "Compiled November 2025:"),
    (
        "ul",
        [
            "USMCA, Chapter 4 (Rules of Origin) and Appendix to Annex 4-B "
            "(automotive appendix), Articles 1-8.",
            "19 U.S.C. § 4532, Special rules for automotive goods (USMCA "
            "Implementation Act, 29 Jan 2020).",
            "NAFTA (1994), Chapter 4, Rules of Origin (ToTA corpus copy).",
            'Simple English Wikipedia and Kiddle, "United States-Mexico-Canada '
            'Agreement" (2020s copies).',
            'Wikipedia, "2025-2026 United States trade war with Canada and '
            'Mexico" (lead section, 2025 copy).',
        ],
    ),
]


def _styles():
    base = getSampleStyleSheet()["BodyText"]
    return {
        "h1": ParagraphStyle(
            "h1", parent=base, fontName="Helvetica-Bold", fontSize=18, leading=22, spaceAfter=8
        ),
        "h2": ParagraphStyle(
            "h2",
            parent=base,
            fontName="Helvetica-Bold",
            fontSize=13,
            leading=16,
            spaceBefore=12,
            spaceAfter=4,
            keepWithNext=1,
        ),
        "p": ParagraphStyle(
            "p", parent=base, fontName="Helvetica", fontSize=11, leading=15, spaceAfter=6
        ),
        "li": ParagraphStyle(
            "li",
            parent=base,
            fontName="Helvetica",
            fontSize=11,
            leading=15,
            leftIndent=16,
            firstLineIndent=-8,
            spaceAfter=3,
        ),
        "em": ParagraphStyle(
            "em", parent=base, fontName="Helvetica-Oblique", fontSize=10, leading=13, spaceAfter=8
        ),
    }


class _NoteDoc(SimpleDocTemplate):
    """Draws the footer (note name + page number) after each page's body, so
    extracted text reads body first and footer last on every page."""

    def afterPage(self):
        c = self.canv
        c.saveState()
        c.setFont("Helvetica", 8)
        c.drawString(self.leftMargin, 0.5 * inch, FOOTER)
        c.drawRightString(LETTER[0] - self.rightMargin, 0.5 * inch, f"Page {self.page}")
        c.restoreState()


def build(out: Path = OUT) -> Path:
    st = _styles()
    story = []
    for kind, body in CONTENT:
        if kind == "ul":
            # One paragraph per item with an inline bullet, so text extraction
            # keeps each bullet on the same line as its text.
            for item in body:
                story.append(Paragraph("- " + item, st["li"]))
            story.append(Spacer(1, 4))
        else:
            story.append(Paragraph(body, st[kind]))
    doc = _NoteDoc(
        str(out),
        pagesize=LETTER,
        title=TITLE,
        author="tradechat",
        subject="USMCA automotive rules of origin",
        leftMargin=1.1 * inch,
        rightMargin=1.1 * inch,
        topMargin=1 * inch,
        bottomMargin=1 * inch,
    )
    doc.build(story)
    return out


if __name__ == "__main__":
    print(build())
