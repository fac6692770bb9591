"""The reviews' index (clinical.review_index, decision 0016): choreography's sweep reads the deadlines that are
due and the worklist reads its entries, a listing each, however many reviews the bucket keeps; an index object
is written before the record's write and deleted after, so a crash leaves one too many, which the sweep
removes, never one too few."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from clinical import review, review_index
from clinical.notes import Note
from clinical.review import read_review, send_back, sign, sweep_deadlines
from clinical.revisions import Changes
from review_desk.desk import NotFound, ReviewDesk
from tests.unit.conftest import BUCKET

DR = "arn:aws:sts::123456789012:assumed-role/clinician/dr-lee"


def requests_of(s3) -> list[str]:
    """The S3 operations the client makes from now on, by name."""
    made: list[str] = []
    s3.meta.events.register("before-call.s3", lambda model, **_: made.append(model.name))
    return made


def keep_many_decided_reviews(cloud, count: int) -> None:
    """`count` signed and settled reviews, as a year of work leaves them: records, and nothing in the index."""
    template = read_review(cloud.s3, BUCKET, "enc-0001")[0]
    for n in range(count):
        old = template.model_copy(
            update={"encounter_id": f"old-{n:05}", "status": "SIGNED", "signed_by": DR, "signed_at": template.opened_at}
        )
        cloud.s3.put_object(Bucket=BUCKET, Key=f"reviews/old-{n:05}.json", Body=old.model_dump_json())


def test_a_sweep_reads_the_deadlines_due_however_many_reviews_are_kept(drafted):
    record = read_review(drafted.s3, BUCKET, "enc-0001")[0]
    counts = {}
    for kept in (0, 1200):  # past a listing's 1,000 keys
        keep_many_decided_reviews(drafted, kept)
        made = requests_of(drafted.s3)
        assert sweep_deadlines(drafted.s3, BUCKET, now=record.remind_at - timedelta(minutes=1)).awaiting == 1
        counts[kept] = list(made)
    assert counts[0] == counts[1200] == ["ListObjectsV2", "ListObjectsV2"], "the due deadlines, the backlog"
    made = requests_of(drafted.s3)
    assert sweep_deadlines(drafted.s3, BUCKET, now=record.remind_at).reminded == ["enc-0001"]
    assert made.count("GetObject") <= 6 and made.count("ListObjectsV2") <= 3, made


def test_each_review_costs_the_sweep_a_few_requests_from_opening_to_signature(drafted):
    record = read_review(drafted.s3, BUCKET, "enc-0001")[0]
    assert [key.split("/")[2][:13] for key in drafted.keys("index/due/")] == [
        f"{record.remind_at:%Y-%m-%dT%H}",
        f"{record.due_at:%Y-%m-%dT%H}",
    ]
    assert len(drafted.keys("index/awaiting/")) == 1
    sign(drafted.s3, BUCKET, "enc-0001", clinician=DR, changes=Changes(edits={"s5": "Amoxicillin."}))
    assert drafted.keys("index/awaiting/") == [], "off the worklist once signed"
    for now in (record.opened_at + timedelta(minutes=5), record.remind_at, record.due_at):
        assert sweep_deadlines(drafted.s3, BUCKET, now=now).expired == []
    assert drafted.keys(review_index.DUE_PREFIX) + drafted.keys(review_index.AWAITING_PREFIX) == [], (
        "every deadline swept and gone"
    )


def test_an_opening_that_stopped_before_its_record_leaves_an_index_the_sweep_removes(drafted, monkeypatch):
    """A crash between the index's writes and the record's: the worklist may show the opening that never was
    until the sweep meets its deadline; a review is never missing from either."""
    note = drafted.read_json("notes/enc-0001.json")
    drafted.s3.delete_object(Bucket=BUCKET, Key="reviews/enc-0001.json")
    for key in drafted.keys("index/"):
        drafted.s3.delete_object(Bucket=BUCKET, Key=key)
    written = review._write

    def stop_at_the_record(s3, bucket, key, document, condition):
        if key == "reviews/enc-0001.json":
            raise RuntimeError("the function stopped")
        return written(s3, bucket, key, document, condition)

    monkeypatch.setattr(review, "_write", stop_at_the_record)
    with pytest.raises(RuntimeError):
        review.open_review(drafted.s3, BUCKET, Note.model_validate(note))
    monkeypatch.setattr(review, "_write", written)
    [entry] = review_index.awaiting(drafted.s3, BUCKET, size=50).entries
    assert read_review(drafted.s3, BUCKET, "enc-0001") is None, "only the index was written"
    kept = sweep_deadlines(drafted.s3, BUCKET, now=entry.due_at)
    assert (kept.reminded, kept.expired, kept.awaiting) == ([], [], 0)
    assert drafted.keys("index/") == []


def test_a_sent_back_note_is_off_the_worklist_and_back_on_it_when_drafted_again(drafted, bus):
    send_back(drafted.s3, BUCKET, "enc-0001", clinician=DR, reason="Add the dose.")
    assert drafted.keys("index/awaiting/") == []
    sent_back_at = read_review(drafted.s3, BUCKET, "enc-0001")[0].sent_back_at
    bus()
    kept = sweep_deadlines(drafted.s3, BUCKET, now=sent_back_at + review.REDRAFT_OVERDUE)
    assert kept.sent_back_again == ["enc-0001"], "its NoteSentBack put again, as before the index"
    assert [e["detail-type"] for e in bus()] == ["NoteSentBack"]
    later = sweep_deadlines(drafted.s3, BUCKET, now=sent_back_at + 2 * review.REDRAFT_OVERDUE)
    assert later.sent_back_again == ["enc-0001"], "and again an hour later: a deadline follows each"


def test_orchestrations_reviews_are_on_the_worklist_with_no_deadline_to_sweep(drafted):
    note = Note.model_validate(drafted.read_json("notes/enc-0001.json"))
    drafted.s3.delete_object(Bucket=BUCKET, Key="reviews/enc-0001.json")
    for key in drafted.keys("index/"):
        drafted.s3.delete_object(Bucket=BUCKET, Key=key)
    assert review.open_review(drafted.s3, BUCKET, note, kept_by="execution")
    assert drafted.keys("index/due/") == [], "its execution keeps its time"
    assert len(drafted.keys("index/awaiting/")) == 1


@dataclass
class Deployment:
    s3: object
    bucket: str = BUCKET
    outputs: dict = field(default_factory=dict)

    def client(self, service: str):
        assert service == "s3"
        return self.s3


def test_the_worklist_pages_oldest_first_with_one_listing_per_page(drafted):
    start = datetime(2026, 3, 1, 8, tzinfo=UTC)
    for n in range(120):
        opened = start + timedelta(minutes=n)
        entry = review_index.Entry(f"visit-{n:04}", opened, opened + timedelta(hours=72), 1, n % 3)
        review_index.mark_awaiting(drafted.s3, BUCKET, entry)
    desk = ReviewDesk({"choreography": Deployment(drafted.s3)})
    seen, after, pages = [], {}, 0
    while True:
        made = requests_of(drafted.s3)
        page = desk.page(after=after)
        assert made == ["ListObjectsV2"], "one request a page"
        seen += [item.encounter_id for item in page.items]
        pages += 1
        if not page.after:
            break
        after = page.after
    assert pages == 3 and len(seen) == 121 == len(set(seen)), "each once (enc-0001's own review among them)"
    opened = [item.opened_at for item in desk.worklist()]
    assert opened == sorted(opened)


def test_a_worklist_page_that_starts_nowhere_is_refused_in_one_line(drafted):
    desk = ReviewDesk({"choreography": Deployment(drafted.s3)})
    with pytest.raises(NotFound, match="a worklist page starts after a key of index/awaiting/"):
        desk.page(after={"choreography": "reviews/enc-0001.json"})
    with pytest.raises(NotFound, match="no orchestration deployment is served here"):
        desk.page(after={"orchestration": "index/awaiting/x"})


def test_reviews_written_before_the_index_are_put_in_it_once_reindexed(drafted):
    """An upgraded deployment's open reviews: the sweep and the worklist read the index only, so `scribe review
    reindex` puts them in it; orchestration's records of then are their executions' to keep."""
    for key in drafted.keys("index/"):
        drafted.s3.delete_object(Bucket=BUCKET, Key=key)
    stored = drafted.read_json("reviews/enc-0001.json")
    del stored["kept_by"]
    drafted.s3.put_object(Bucket=BUCKET, Key="reviews/enc-0001.json", Body=json.dumps(stored))
    orchestrations = dict(stored, encounter_id="enc-0002", variant="orchestration")
    drafted.s3.put_object(Bucket=BUCKET, Key="reviews/enc-0002.json", Body=json.dumps(orchestrations))
    record = read_review(drafted.s3, BUCKET, "enc-0001")[0]
    assert sweep_deadlines(drafted.s3, BUCKET, now=record.due_at).expired == [], "not in the index: not swept"
    assert review.reindex(drafted.s3, BUCKET) == ["enc-0001", "enc-0002"]
    assert review.reindex(drafted.s3, BUCKET) == ["enc-0001", "enc-0002"], "again: the same objects"
    assert [d.encounter_id for _k, d in review_index.due(drafted.s3, BUCKET, record.due_at)] == ["enc-0001"] * 2
    assert len(review_index.awaiting(drafted.s3, BUCKET, size=50).entries) == 2
    assert sweep_deadlines(drafted.s3, BUCKET, now=record.due_at).expired == ["enc-0001"]
