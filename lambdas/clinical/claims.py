"""The unsupported-claim check: what a note's statement asserts that its evidence must say too.

A statement's checkable claims are its numbers with units (doses, vitals, durations), the medications and
the diagnoses it names, its laterality (left, right) and whether it negates ("denies", "no ..."). Each
must be found in the evidence (the transcript segments the statement cites, or the whole transcript for a plain-text note),
after normalising number words ("forty" is 40, "twenty five" is 25), units ("milligrams" is mg) and
common brand and generic drug names, and common diagnoses by their lay names and abbreviations
("high blood pressure" is hypertension). A statement is supported when every claim is found; otherwise
the reason names the first claim that is not, and nothing of the text beyond it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from clinical.conversation import Segment

_UNITS = {
    "mg": "mg", "milligram": "mg", "milligrams": "mg", "mcg": "mcg", "microgram": "mcg", "micrograms": "mcg",
    "g": "g", "gram": "g", "grams": "g", "ml": "ml", "milliliter": "ml", "milliliters": "ml", "cc": "ml",
    "unit": "units", "units": "units", "%": "%", "percent": "%", "kg": "kg", "kilogram": "kg", "kilograms": "kg",
    "lb": "lb", "lbs": "lb", "pound": "lb", "pounds": "lb", "mmhg": "mmhg", "bpm": "bpm",
    "day": "day", "days": "day", "week": "week", "weeks": "week", "month": "month", "months": "month",
    "year": "year", "years": "year", "hour": "hour", "hours": "hour", "minute": "minute", "minutes": "minute",
    "tablet": "tablet", "tablets": "tablet", "pill": "tablet", "pills": "tablet", "times": "times",
    "degree": "degree", "degrees": "degree",
}  # fmt: skip
UNIT_WORDS = frozenset(_UNITS)
_SMALL = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "a": 1, "an": 1, "once": 1, "twice": 2,
}  # fmt: skip
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1000}
# Brand -> generic, for the drugs a primary-care visit names most; either name supports the other.
DRUG_NAMES = {
    "lasix": "furosemide", "tylenol": "acetaminophen", "advil": "ibuprofen", "motrin": "ibuprofen",
    "aleve": "naproxen", "naprosyn": "naproxen", "coumadin": "warfarin", "glucophage": "metformin",
    "norvasc": "amlodipine", "zestril": "lisinopril", "prinivil": "lisinopril", "lipitor": "atorvastatin",
    "zocor": "simvastatin", "crestor": "rosuvastatin", "toprol": "metoprolol", "lopressor": "metoprolol",
    "synthroid": "levothyroxine", "prilosec": "omeprazole", "protonix": "pantoprazole", "nexium": "esomeprazole",
    "flonase": "fluticasone", "claritin": "loratadine", "zyrtec": "cetirizine", "xanax": "alprazolam",
    "zoloft": "sertraline", "prozac": "fluoxetine", "lexapro": "escitalopram", "wellbutrin": "bupropion",
    "neurontin": "gabapentin", "flexeril": "cyclobenzaprine", "ultram": "tramadol", "keflex": "cephalexin",
    "cipro": "ciprofloxacin", "zithromax": "azithromycin", "medrol": "methylprednisolone",
    "jardiance": "empagliflozin", "farxiga": "dapagliflozin", "ozempic": "semaglutide", "eliquis": "apixaban",
    "xarelto": "rivaroxaban", "plavix": "clopidogrel", "lantus": "insulin", "ventolin": "albuterol",
    "proair": "albuterol", "singulair": "montelukast", "imitrex": "sumatriptan", "valtrex": "valacyclovir",
    "mobic": "meloxicam", "toradol": "ketorolac", "zofran": "ondansetron", "diflucan": "fluconazole",
    "flomax": "tamsulosin", "coreg": "carvedilol", "cozaar": "losartan", "augmentin": "amoxicillin",
    "keppra": "levetiracetam", "lamictal": "lamotrigine", "humira": "adalimumab", "benadryl": "diphenhydramine",
}  # fmt: skip
_GENERIC_SUFFIXES = (
    "pril", "sartan", "olol", "statin", "formin", "azole", "cillin", "mycin", "cycline", "floxacin", "dipine",
    "prazole", "tidine", "triptan", "gliptin", "gliflozin", "glutide", "xaban", "parin", "semide", "thiazide",
    "lukast", "terol", "sone", "olone", "pam", "lam", "oxetine", "aline", "pramine", "afil", "vir", "barb",
)  # fmt: skip
KNOWN_DRUGS = frozenset(DRUG_NAMES) | frozenset(DRUG_NAMES.values()) | {
    "aspirin", "insulin", "prednisone", "hydrocodone", "oxycodone", "morphine", "codeine", "nitroglycerin",
    "digoxin", "potassium", "spironolactone", "hydralazine", "allopurinol", "colchicine", "methotrexate",
    "penicillin", "doxycycline", "amoxicillin", "nitrofurantoin", "sulfamethoxazole", "trimethoprim",
    "acyclovir", "estradiol", "progesterone", "testosterone", "melatonin", "buspirone", "trazodone",
    "venlafaxine", "duloxetine", "citalopram", "paroxetine", "topiramate", "baclofen", "tizanidine", "naloxone",
}  # fmt: skip
# Diagnosis -> its other names (lay terms, abbreviations); any of them in the evidence supports any other.
# Two-letter abbreviations that are also common words or initials (MI, OA, DM) are left out.
DIAGNOSES = {
    "hypertension": ("high blood pressure", "htn", "hypertensive"),
    "diabetes": ("diabetic", "t2dm", "high blood sugar", "sugar diabetes"),
    "pneumonia": ("lung infection",),
    "asthma": ("asthmatic",),
    "copd": ("chronic obstructive pulmonary disease", "emphysema"),
    "heart failure": ("chf", "congestive heart failure"),
    "atrial fibrillation": ("afib", "a fib", "irregular heartbeat"),
    "myocardial infarction": ("heart attack", "stemi", "nstemi"),
    "osteoarthritis": ("arthritis", "degenerative joint disease", "wear and tear"),
    "sprain": ("sprained",),
    "fracture": ("fractured", "broken", "broke"),
    "migraine": ("migraines",),
    "depression": ("depressed", "depressive"),
    "anxiety": ("anxious", "panic attacks"),
    "gerd": ("reflux", "gastroesophageal reflux", "heartburn", "acid reflux"),
    "urinary tract infection": ("uti", "bladder infection"),
    "bronchitis": ("chest cold",),
    "sinusitis": ("sinus infection",),
    "hypothyroidism": ("underactive thyroid", "low thyroid", "thyroid"),
    "hyperlipidemia": ("high cholesterol", "dyslipidemia", "hypercholesterolemia", "cholesterol"),
    "kidney stone": ("kidney stones", "nephrolithiasis", "renal stone", "renal calculus"),
    "gout": ("gouty",),
    "anemia": ("anemic", "low blood count"),
    "cellulitis": ("skin infection",),
    "concussion": ("concussed",),
    "carpal tunnel syndrome": ("carpal tunnel",),
    "sleep apnea": ("osa", "apnea"),
}  # fmt: skip
_DIAGNOSIS_NAMES = sorted(
    ((name, canonical) for canonical, others in DIAGNOSES.items() for name in (canonical, *others)),
    key=lambda pair: -len(pair[0]),
)
_NOT_DRUGS = frozenset({"response", "reason", "season", "person", "lesson", "poison", "reasonable", "vir", "pam"})
_SIDES = ("left", "right")
_NEGATION = re.compile(
    r"\b(?:no|not|denies|denied|deny|don't|doesn't|didn't|haven't|hasn't|never|without|nope|negative)\b"
)
_TOKEN = re.compile(r"\d+(?:\.\d+)?|%|[a-z]+(?:'[a-z]+)?")


def _normal(text: str) -> str:
    return text.lower().replace("-", " ").replace("/", " ")


def _quantities(text: str) -> set[tuple[float, str]]:
    """(number, unit) pairs: digits or number words followed by a unit, both normalised."""
    tokens = _TOKEN.findall(_normal(text))
    found: set[tuple[float, str]] = set()
    index = 0
    while index < len(tokens):
        value, used = _number_at(tokens, index)
        if value is None:
            index += 1
            continue
        after = index + used
        if after < len(tokens) and tokens[after] in _UNITS:
            found.add((value, _UNITS[tokens[after]]))
        index = after
    return found


def _number_at(tokens: list[str], index: int) -> tuple[float | None, int]:
    """The number starting at tokens[index] (digits, or number words such as "twenty five"), and how many
    tokens it took."""
    token = tokens[index]
    if token[0].isdigit():
        return float(token), 1
    total, current, used = 0, 0, 0
    while index + used < len(tokens):
        word = tokens[index + used]
        if word in _SMALL and not (word in ("a", "an") and used):
            current += _SMALL[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word in _SCALES and used:
            current = max(current, 1) * _SCALES[word]
            if _SCALES[word] == 1000:
                total, current = total + current, 0
        elif word == "and" and used:
            pass
        else:
            break
        used += 1
    if not used or (used == 1 and tokens[index] in ("a", "an", "and")):
        return None, 1
    return float(total + current), used


def medications_in(text: str) -> set[str]:
    """The medications a text names, each as its generic name."""
    found = set()
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in _NOT_DRUGS:
            continue
        if word in KNOWN_DRUGS or (len(word) > 6 and word.endswith(_GENERIC_SUFFIXES)):
            found.add(DRUG_NAMES.get(word, word))
    return found


def diagnosis_mentions(text: str) -> list[tuple[int, int, str]]:
    """(start, end, diagnosis) of each diagnosis a text names, by any of its names, longest name first."""
    lowered, found, taken = _normal(text), [], set()
    for name, canonical in _DIAGNOSIS_NAMES:
        for match in re.finditer(rf"\b{re.escape(name)}\b", lowered):
            if not taken & set(range(*match.span())):
                found.append((match.start(), match.end(), canonical))
                taken |= set(range(*match.span()))
    return sorted(found)


def diagnoses_in(text: str) -> set[str]:
    return {canonical for _start, _end, canonical in diagnosis_mentions(text)}


_BODY_PARTS = frozenset({
    "knee", "knees", "shoulder", "shoulders", "hip", "hips", "ankle", "ankles", "foot", "feet", "arm", "arms",
    "leg", "legs", "hand", "hands", "wrist", "wrists", "elbow", "elbows", "eye", "eyes", "ear", "ears", "side",
    "flank", "back", "breast", "breasts", "kidney", "lung", "lungs", "toe", "toes", "finger", "fingers", "thumb",
    "chest", "neck", "heel", "calf", "thigh", "quadrant", "extremity", "extremities", "groin", "buttock", "jaw",
    "temple", "face",
})  # fmt: skip


def _sides(text: str) -> Counter:
    """How often a text names each side, with the body part it goes with where one follows within three
    words ("left:knee"), else alone ("left")."""
    words = re.findall(r"[a-z]+", text.lower())
    found: Counter = Counter()
    for index, word in enumerate(words):
        if word in _SIDES:
            part = next((w for w in words[index + 1 : index + 4] if w in _BODY_PARTS), None)
            found[f"{word}:{part.rstrip('s')}" if part else word] += 1
    return found


def _side_supported(claim: str, evidence: Counter, stated: Counter) -> bool:
    """A side with its body part is supported when the evidence names that pair at least as often as the
    same part on the other side (or at all, when the statement names both sides of it); a side alone, when
    the evidence names it at all."""
    side, _, part = claim.partition(":")
    other = f"{_SIDES[1 - _SIDES.index(side)]}:{part}"
    if part and stated[other]:
        return evidence[claim] > 0
    if part and (evidence[claim] or evidence[other]):
        # A transcript may name both sides of a part: the one it names most is the one examined.
        return evidence[claim] > 0 and evidence[claim] >= evidence[other]
    return any(named.partition(":")[0] == side for named in evidence)


@dataclass(frozen=True)
class Verdict:
    supported: bool
    reason: str | None = None


def check_statement(statement: str, evidence: str) -> Verdict:
    """Whether the evidence supports every checkable claim of the statement: its medications, its diagnoses,
    its numbers with units, its sides, its negation; the reason names the first claim missing, in that
    order."""
    if drugs := sorted(medications_in(statement) - medications_in(evidence)):
        return Verdict(False, f"the medication {drugs[0]} is not in its evidence")
    if diagnoses := sorted(diagnoses_in(statement) - diagnoses_in(evidence)):
        return Verdict(False, f"the diagnosis {diagnoses[0]} is not in its evidence")
    said = _quantities(evidence)
    for value, unit in sorted(_quantities(statement)):
        if (value, unit) not in said:
            return Verdict(False, f"the quantity {value:g} {unit} is not in its evidence")
    evidence_sides, stated_sides = _sides(evidence), _sides(statement)
    for claim in sorted(stated_sides):
        if not _side_supported(claim, evidence_sides, stated_sides):
            side, _, part = claim.partition(":")
            return Verdict(False, f"the side {side}{' ' + part if part else ''} is not in its evidence")
    if _NEGATION.search(statement.lower()) and not _NEGATION.search(evidence.lower()):
        return Verdict(False, "a negation its evidence does not make")
    return Verdict(True)


@dataclass(frozen=True)
class Statement:
    section: str
    text: str
    evidence: tuple[int, ...] = ()  # the transcript segments it cites (none for a plain-text note)


def check_cited(statement: Statement, segments: Sequence[Segment]) -> Verdict:
    """The check against the segments the statement cites (all of them for a statement that cites none)."""
    said = {segment.number: segment.text for segment in segments}
    if missing := [number for number in statement.evidence if number not in said]:
        return Verdict(False, f"it cites segment {missing[0]}, which the transcript does not have")
    cited = [said[number] for number in statement.evidence] if statement.evidence else said.values()
    return check_statement(statement.text, " ".join(cited))


def _sentences(text: str) -> list[str]:
    """A text's sentences, each longer than three characters."""
    return [sentence.strip() for sentence in re.split(r"(?<=[.?!])\s+", text) if len(sentence.strip()) > 3]


_BULLET = re.compile("^[\\s\u2022*\\-\u2013]+")


def statements_of_text(text: str) -> list[Statement]:
    """A plain-text note as statements: a short line in capitals, or one ending in a colon, opens a section;
    every other line is split into sentences."""
    statements, section = [], ""
    for raw in text.splitlines():
        line = _BULLET.sub("", raw).strip()
        if not line:
            continue
        if len(line) < 60 and (line.isupper() or line.endswith(":")):
            section = line.rstrip(":").strip()
            continue
        statements += [Statement(section, sentence) for sentence in _sentences(line)]
    return statements


def statements_of_note(note: dict) -> list[Statement]:
    """This project's note (notes/<id>.json) as statements: each section's statements and each medication or
    order, with the segments each cites."""
    sections = note.get("sections") if isinstance(note, dict) else None
    if not isinstance(sections, list):
        raise ValueError("not a note of this project (no sections)")
    statements = [
        Statement(str(section.get("name", "")), str(item["text"]), tuple(item.get("evidence") or ()))
        for section in sections
        if isinstance(section, dict)
        for item in section.get("statements") or []
        if isinstance(item, dict) and item.get("text")
    ]
    for order in note.get("medications_and_orders") or []:
        if isinstance(order, dict) and order.get("description"):
            statements.append(
                Statement("medications_and_orders", str(order["description"]), tuple(order.get("evidence") or ()))
            )
    return statements
