"""Note templates as data: a section list (clinical/prompts/<name>.json), the prompt made from it and the shared
rules (clinical/prompts/note-rules.md); the schema the model's answer must satisfy is clinical.drafting's
(answer_schema), so that reading a template (at intake, for the FHIR export) builds no pydantic model.

SOAP is the default; History and Physical (`hp`) and a behavioral-health DAP note (`dap`) are the others. An
upload chooses one with the object metadata `x-amz-meta-template` (`scribe upload --template`); the note
records which, with the template's version, in its provenance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

from clinical.errors import UnknownTemplate
from clinical.layout import digest_reference

DEFAULT_TEMPLATE = "soap"
TEMPLATE_METADATA = "template"  # the S3 object metadata key (x-amz-meta-template)
ORDERS = "medications_and_orders"
OrderCategory = Literal["medication", "lab", "imaging", "referral", "procedure", "other"]
ORDER_CATEGORIES: tuple[str, ...] = OrderCategory.__args__


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    holds: str


@dataclass(frozen=True)
class Template:
    name: str
    title: str
    version: str  # the prompt version the note's provenance records
    sections: tuple[Section, ...]
    # The note's kind in LOINC (the FHIR DocumentReference.type of its export): code and display.
    loinc: tuple[str, str] = ("11506-3", "Progress note")

    @property
    def section_names(self) -> tuple[str, ...]:
        return tuple(section.name for section in self.sections)

    def system_prompt(self) -> str:
        shape = {section.name: [{"text": section.holds, "evidence": [1]}] for section in self.sections}
        shape[ORDERS] = [
            {
                "category": "medication | lab | imaging | referral | procedure | other",
                "description": "what was ordered, with dose and frequency when stated",
                "evidence": [1],
            }
        ]
        return rules().format(
            title=self.title, section_names=", ".join(self.section_names), schema=json.dumps(shape, indent=2)
        )


@cache
def rules() -> str:
    return resources.files("clinical").joinpath("prompts/note-rules.md").read_text()


@cache
def templates() -> dict[str, Template]:
    found = {}
    for entry in sorted(resources.files("clinical").joinpath("prompts").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            data = json.loads(entry.read_text())
            sections = tuple(Section(**section) for section in data["sections"])
            loinc = (data["loinc"]["code"], data["loinc"]["display"])
            found[data["name"]] = Template(data["name"], data["title"], data["version"], sections, loinc)
    return found


def template_named(name: str | None) -> Template:
    """The template of this name (the default for none); UnknownTemplate, with the closest name, for a typo."""
    known = templates()
    if name is None or name == "":
        return known[DEFAULT_TEMPLATE]
    if name in known:
        return known[name]
    import difflib  # a typo's hint only

    close = difflib.get_close_matches(name.lower(), known, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    # Typed into the upload's metadata, so it may be anything: the failure record shows its digest, never it.
    raise UnknownTemplate(f"unknown note template {digest_reference(name)} (known: {', '.join(sorted(known))}){hint}")
