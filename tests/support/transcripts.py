"""Transcribe Medical output documents for tests, from text: a word item per word and a punctuation item per
mark, as Transcribe writes them. A text tagged by turn (`[spk_1] ... [spk_0] ...`) gives each word its speaker
label, with the speaker_labels section; untagged text is one speaker's, without labels."""

from __future__ import annotations

import re

TURN = re.compile(r"\[(spk_\d+)\]")


def transcribe_document(text: str, job_name: str | None = None) -> dict:
    parts = TURN.split(text)
    turns = [(None, parts[0]), *zip(parts[1::2], parts[2::2], strict=True)]
    items: list[dict] = []
    for speaker, said in turns:
        for token in said.split():
            word = token.rstrip(".,?!")
            if word:
                start = len(items) * 0.4
                item = {"type": "pronunciation", "start_time": f"{start:.2f}", "end_time": f"{start + 0.35:.2f}"}
                items.append(
                    {**item, "alternatives": [{"content": word}], **({"speaker_label": speaker} if speaker else {})}
                )
            if token[len(word) :]:
                items.append({"type": "punctuation", "alternatives": [{"content": token[len(word)]}]})
    spoken = " ".join(said.strip() for _speaker, said in turns if said.strip())
    document = {"results": {"transcripts": [{"transcript": spoken}], "items": items}, "status": "COMPLETED"}
    if job_name:
        document["jobName"] = job_name
    return document
