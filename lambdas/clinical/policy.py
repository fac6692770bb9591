"""The pipeline's policy as data, one copy for both wirings: which errors are transient, how often and how
soon each step tries again, and how long it may take.

Choreography's handlers and queues and orchestration's state machine read the same values here:
- the state machine's Retry entries are written at synth from `RETRIERS` and a `Policy`
  (stacks/orchestration_stack.encounter_definition); the ASL file names only the policy of each entry;
- choreography's note queue delivers a message at most `note.tries` times, and its handler puts a failed
  message back with the delay `note.delay_seconds` gives (SQS ChangeMessageVisibility), the same backoff
  and full jitter Step Functions applies; a Transcribe start that failed for a moment waits in its queue
  with the delays of `transcription_start` (one refused for the quota waits in line: clinical.waiting_line).
cdk.json overrides a value for both variants at once (stacks/config.py); `Policy.check` refuses a value
AWS or the pipeline could not honour. No imports beyond the standard library, so the CDK app, the
handlers and the tests all read it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace

# Transcribe Medical refuses a start for its concurrent-job quota (LimitExceededException, also its answer past
# the request rate) or its rate: both variants wait in line for a slot (clinical.waiting_line), at most
# `quota_wait_minutes`, instead of asking again on a timer.
TRANSCRIBE_SLOT_CODES = (
    "LimitExceededException",
    "ThrottlingException",
    "TooManyRequestsException",
)
# Transcribe Medical failing for a moment: the start is tried again with `transcription_start`'s backoff.
TRANSCRIBE_TRANSIENT_CODES = (
    "InternalFailureException",
    "ServiceUnavailableException",
)

# Bedrock Runtime: throttled, unavailable or slow for a moment. The note step retries (NoteModelThrottled).
BEDROCK_TRANSIENT_CODES = (
    "ThrottlingException",
    "ServiceUnavailableException",
    "ModelTimeoutException",
    "ModelNotReadyException",
    "InternalServerException",
)

# Step Functions StartExecution (intake and the upload sweep): throttled or failing for a moment.
EXECUTION_START_TRANSIENT_CODES = (
    "ThrottlingException",
    "ExecutionLimitExceeded",
    "ServiceUnavailable",
    "InternalServerError",
)

# Lambda's own transient errors when Step Functions invokes a function (Step Functions' best practice),
# and `Lambda.Unknown`: an invocation whose runtime died (out of memory, timed out, exited). Choreography's
# queues deliver such a message again; the state machine retries them with the step's own policy.
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
)
LAMBDA_CRASH = "Lambda.Unknown"

# The note step's own transient errors (clinical.errors): Bedrock's transient codes, a lost write race.
NOTE_TRANSIENT_ERRORS = ("NoteModelThrottled", "NoteWriteConflict")
# Permanent for the answer it came with, yet worth another try: a malformed model answer may come out
# well-formed the next time.
MODEL_OUTPUT_ERRORS = ("InvalidModelOutput",)
# The review steps' own transient errors (clinical.errors).
REVIEW_TRANSIENT_ERRORS = ("ReviewRecordConflict", "DomainEventNotPublished", "DecidedNotSettled", "ReviewStoreBusy")
# S3, EventBridge and Step Functions throttled or failing for a moment while a review is kept (ReviewStoreBusy).
REVIEW_STORE_TRANSIENT_CODES = (
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "ThrottlingException",
    "ThrottledException",
    "InternalException",
    "InternalServerError",
)

# Orchestration waits for a transcript in callback waits of this length, asking Transcribe after each; it
# records TranscriptionStalled once `stalled_job_minutes` of waits have passed, as choreography's watchdog
# does for a job queued or running that long. The limit is whole waits, and at least two.
TRANSCRIPT_WAIT_SECONDS = 900
# An execution waiting in line for a Transcribe slot (clinical.waiting_line) stands in line again after this long
# if nothing woke it (a wake lost to a crash took it out of the line; choreography's lost-upload sweep finds such
# an upload), at the same place and without asking Transcribe.
SLOT_WAIT_SECONDS = 1800

# Step Functions' and SQS's own bounds on what the wirings are given.
MAX_SQS_DELAY_SECONDS = 900  # SendMessage DelaySeconds (a throttled start waits in its queue)
MAX_VISIBILITY_SECONDS = 43_200  # ChangeMessageVisibility (a failed note waits in its queue)
MAX_SQS_RECEIVES = 1000  # RedrivePolicy maxReceiveCount
LAMBDA_MAX_TIMEOUT_SECONDS = 900
# A note is one Bedrock call, which may take as long as the Runtime client's read timeout (60 s).
BEDROCK_READ_TIMEOUT_SECONDS = 60


class PolicyError(ValueError):
    """A policy value out of range: one line naming the value, what it was and what is allowed."""


@dataclass(frozen=True)
class Backoff:
    """How a step tries again: `tries` in all (the first included); before try n+1 it waits a uniform draw
    up to min(max_delay_seconds, interval_seconds * backoff_rate ** (n - 1)) (Step Functions' Retry with
    JitterStrategy FULL, which choreography applies to its messages the same way)."""

    tries: int
    interval_seconds: int
    backoff_rate: float
    max_delay_seconds: int

    def delay_seconds(self, failed_tries: int, draw: float) -> int:
        """The wait after the `failed_tries`-th failed try, for a draw in [0, 1)."""
        ceiling = min(self.max_delay_seconds, self.interval_seconds * self.backoff_rate ** (failed_tries - 1))
        return round(ceiling * draw)

    def longest_seconds(self, each_try_seconds: float) -> float:
        """The longest the step can take: every try at `each_try_seconds` and every wait at its ceiling."""
        total, ceiling = self.tries * each_try_seconds, float(self.interval_seconds)
        for _ in range(self.tries - 1):
            total += min(ceiling, self.max_delay_seconds)
            ceiling = min(ceiling * self.backoff_rate, self.max_delay_seconds)  # capped: no overflow at 1000 tries
        return total

    def retrier(self, errors: tuple[str, ...], comment: str) -> dict:
        """This backoff as one entry of an ASL state's Retry."""
        rate = int(self.backoff_rate) if float(self.backoff_rate).is_integer() else self.backoff_rate
        return {
            "ErrorEquals": list(errors),
            "Comment": comment,
            "IntervalSeconds": self.interval_seconds,
            "BackoffRate": rate,
            "MaxAttempts": self.tries - 1,
            "MaxDelaySeconds": self.max_delay_seconds,
            "JitterStrategy": "FULL",
        }


@dataclass(frozen=True)
class Policy:
    """Every step's backoff and the timeouts, with the defaults both variants deploy."""

    # Transcribe failing for a moment: a minute at most between tries. Its tries follow quota_wait_minutes
    # (`with_quota_wait`): 180 minutes are 360 tries of 30 s on average. (A start refused for the quota does not
    # try again on a timer: it waits in line, clinical.waiting_line.)
    transcription_start: Backoff = Backoff(tries=360, interval_seconds=10, backoff_rate=2, max_delay_seconds=60)
    # Orchestration's status check after a callback timeout (choreography's watchdog asks again next sweep).
    transcription_status: Backoff = Backoff(tries=7, interval_seconds=10, backoff_rate=2, max_delay_seconds=300)
    # Orchestration's invocation of the function that stores the task token.
    transcript_wait: Backoff = Backoff(tries=7, interval_seconds=2, backoff_rate=2, max_delay_seconds=60)
    # Orchestration's review steps: storing the review's task token, checking the review (its settling, the
    # reminder, the expiry); choreography's sweep tries again at its next run.
    review: Backoff = Backoff(tries=7, interval_seconds=2, backoff_rate=2, max_delay_seconds=60)
    # The note: Bedrock throttled or unavailable, a lost write race, a crashed invocation; all share the
    # count, as a queue's receive count does.
    note: Backoff = Backoff(tries=5, interval_seconds=5, backoff_rate=2, max_delay_seconds=120)
    # A malformed model answer: one more try, soon.
    model_output: Backoff = Backoff(tries=2, interval_seconds=1, backoff_rate=1, max_delay_seconds=1)
    # The note step's Lambda timeout, in both variants (a queue's visibility is six times it).
    note_timeout_seconds: int = 120

    def check(self) -> Policy:
        """Raise PolicyError, in one line, on a value AWS or the pipeline could not honour."""
        for step in BACKOFF_STEPS:
            backoff: Backoff = getattr(self, step)
            if not 1 <= backoff.tries <= MAX_SQS_RECEIVES:
                raise PolicyError(
                    f"{step}_tries must be from 1 to {MAX_SQS_RECEIVES} tries in all, not {backoff.tries!r}"
                )
            if backoff.interval_seconds < 1:
                raise PolicyError(f"{step}_interval_seconds must be 1 or more, not {backoff.interval_seconds!r}")
            if backoff.backoff_rate < 1:
                raise PolicyError(
                    f"{step}_backoff_rate must be at least 1.0 (Step Functions' BackoffRate; below 1 the waits "
                    f"would shrink), not {backoff.backoff_rate!r}"
                )
            if not backoff.interval_seconds <= backoff.max_delay_seconds <= MAX_VISIBILITY_SECONDS:
                raise PolicyError(
                    f"{step}_max_delay_seconds must be from {step}_interval_seconds ({backoff.interval_seconds}) "
                    f"to {MAX_VISIBILITY_SECONDS} (SQS's longest visibility), not {backoff.max_delay_seconds!r}"
                )
        if self.transcription_start.max_delay_seconds > MAX_SQS_DELAY_SECONDS:
            raise PolicyError(
                f"transcription_start_max_delay_seconds must be at most {MAX_SQS_DELAY_SECONDS} (SQS's longest "
                f"message delay; choreography waits for quota in its queue), not {self.transcription_start.max_delay_seconds!r}"
            )
        if not BEDROCK_READ_TIMEOUT_SECONDS <= self.note_timeout_seconds <= LAMBDA_MAX_TIMEOUT_SECONDS:
            raise PolicyError(
                f"note_timeout_seconds must be from {BEDROCK_READ_TIMEOUT_SECONDS} (a model call may take that long) "
                f"to {LAMBDA_MAX_TIMEOUT_SECONDS} (Lambda's longest timeout), not {self.note_timeout_seconds!r}"
            )
        return self

    def with_quota_wait(self, quota_wait_minutes: int) -> Policy:
        """The transcription start's tries that make `quota_wait_minutes` of waiting on average."""
        mean_wait = self.transcription_start.max_delay_seconds / 2
        tries = max(2, round(quota_wait_minutes * 60 / mean_wait))
        return replace(self, transcription_start=replace(self.transcription_start, tries=tries))

    def with_values(self, values: dict[str, int | float]) -> Policy:
        """A copy with flat values (`note_tries`, `note_timeout_seconds`) replaced; unknown names raise."""
        known = set(flat_names())
        unknown = sorted(set(values) - known)
        if unknown:
            raise PolicyError(f"unknown policy values {unknown}; known: {sorted(known)}")
        changed, own_fields = self, {f.name for f in fields(Policy)}
        for name, value in values.items():
            step = next((s for s in BACKOFF_STEPS if name.startswith(f"{s}_")), None)
            if step is None or name in own_fields:
                changed = replace(changed, **{name: value})
            else:
                field = name.removeprefix(f"{step}_")
                changed = replace(changed, **{step: replace(getattr(changed, step), **{field: value})})
        return changed

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Policy:
        values = json.loads(text)
        return cls(**{name: Backoff(**value) if name in BACKOFF_STEPS else value for name, value in values.items()})


BACKOFF_STEPS = tuple(f.name for f in fields(Policy) if f.type == "Backoff")
DEFAULT = Policy()


def flat_names() -> dict[str, str]:
    """Every value cdk.json may set, by its flat name, with its type (`note_tries`: int)."""
    names = {}
    for f in fields(Policy):
        if f.name in BACKOFF_STEPS:
            for inner in fields(Backoff):
                names[f"{f.name}_{inner.name}"] = inner.type
        else:
            names[f.name] = f.type
    # transcription_start's tries follow quota_wait_minutes.
    names.pop("transcription_start_tries")
    return names


# The state machine's Retry entries: for each state, (the policy step whose backoff it uses, the errors it
# retries, why). The ASL file names the step in each entry ({"Policy": "note"}); synth writes the rest.
def step_functions_names(service: str, codes: tuple[str, ...]) -> tuple[str, ...]:
    """The error names a Step Functions aws-sdk task gives these codes (`Transcribe.LimitExceededException`)."""
    return tuple(f"{service}.{code}" for code in codes)


RETRIERS = {
    "transcription_start": (
        step_functions_names("Transcribe", TRANSCRIBE_TRANSIENT_CODES),
        "Transcribe failing for a moment, tried again for about quota_wait_minutes. Choreography waits the same "
        "way in its queue. (A start refused for the quota waits in line instead: AwaitSlot.)",
    ),
    "transcript_wait": (
        (*LAMBDA_SERVICE_ERRORS, LAMBDA_CRASH),
        "Lambda's transient errors and a crashed invocation of the function that stores the task token.",
    ),
    "transcription_status": (
        step_functions_names("Transcribe", TRANSCRIBE_SLOT_CODES + TRANSCRIBE_TRANSIENT_CODES),
        "Transcribe's transient errors while asking for the job's status.",
    ),
    "note": (
        (*NOTE_TRANSIENT_ERRORS, *LAMBDA_SERVICE_ERRORS, LAMBDA_CRASH),
        "Bedrock throttled or unavailable, a lost write race, a crashed invocation: one count, as "
        "choreography's note queue counts every receive.",
    ),
    "model_output": (MODEL_OUTPUT_ERRORS, "A malformed model answer gets one more try in both variants."),
    "review": (
        (*REVIEW_TRANSIENT_ERRORS, *LAMBDA_SERVICE_ERRORS, LAMBDA_CRASH),
        "A review record changed meanwhile, S3 or EventBridge busy, an event EventBridge did not take, Lambda's "
        "transient errors, a crashed invocation: storing the review's task token and checking the review.",
    ),
}


def transcript_waits(stalled_job_minutes: int) -> int:
    """How many callback waits make up the stall limit (rounded up to whole waits)."""
    return max(2, -(-stalled_job_minutes * 60 // TRANSCRIPT_WAIT_SECONDS))


# How many times a note sent back is drafted again, at most: a note sent back this often is the clinician's to
# edit and sign (a further send-back is refused), so a review, and the execution waiting for it, always ends.
MAX_REDRAFTS = 2
# An execution's time outside its review windows, at least: the transcript's waits and the notes, with room to
# spare. A retry policy whose steps may take longer gets its own figure (hours_outside_review).
EXECUTION_HOURS_BEFORE_REVIEW = 48
# How long one try of a step takes at most, for the execution's length: the 30 s functions (the transcript wait's,
# the review steps'), an AWS SDK task (Transcribe's start, its status) answered within its client's limits.
SHORT_FUNCTION_SECONDS = 30
SDK_TASK_SECONDS = 60
SPARE_HOURS = 24


@dataclass(frozen=True)
class ReviewWindow:
    """How long a draft awaits the clinician's review, and how many hours before its end they are reminded."""

    hours: int = 72
    reminder_hours: int = 12

    @property
    def longest_hours(self) -> int:
        """The longest a review can take: a window for the first draft and one for each redraft."""
        return self.hours * (1 + MAX_REDRAFTS)


def hours_outside_review(policy: Policy, stalled_job_minutes: int) -> int:
    """The longest an encounter's execution may spend outside its review windows, in whole hours: before the first
    review (the start's tries through the quota wait, the transcript's waits and status checks, the note's tries and
    a malformed answer's, the review steps') and each redraft's note and review steps, every try and wait at its
    longest, with SPARE_HOURS to spare; never less than EXECUTION_HOURS_BEFORE_REVIEW."""
    note = policy.note.longest_seconds(policy.note_timeout_seconds) + policy.model_output.longest_seconds(
        policy.note_timeout_seconds
    )
    review_steps = policy.review.longest_seconds(SHORT_FUNCTION_SECONDS)
    before = (
        policy.transcription_start.longest_seconds(SDK_TASK_SECONDS)
        + transcript_waits(stalled_job_minutes) * TRANSCRIPT_WAIT_SECONDS
        + policy.transcript_wait.longest_seconds(SHORT_FUNCTION_SECONDS)
        + policy.transcription_status.longest_seconds(SDK_TASK_SECONDS)
        + note
        + review_steps
    )
    seconds = before + MAX_REDRAFTS * (note + review_steps)
    return max(EXECUTION_HOURS_BEFORE_REVIEW, -(-int(seconds) // 3600) + SPARE_HOURS)


# The errors a Catch entry names by policy ({"Policy": "transcription_slot", "Next": ...}), filled in at synth.
CATCHERS = {
    # A start refused for Transcribe's quota or rate waits in line for a slot (clinical.waiting_line).
    "transcription_slot": step_functions_names("Transcribe", TRANSCRIBE_SLOT_CODES),
}


def definition_values(stalled_job_minutes: int, review: ReviewWindow = ReviewWindow(),
                      policy: Policy = DEFAULT) -> dict[str, int]:  # fmt: skip
    """The state machine's "${Name}" placeholders that are policy values, filled in at synth."""
    waits = transcript_waits(stalled_job_minutes)
    outside = hours_outside_review(policy, stalled_job_minutes)
    return {
        "TranscriptWaitSeconds": TRANSCRIPT_WAIT_SECONDS,
        "SlotWaitSeconds": SLOT_WAIT_SECONDS,
        "TranscriptWaitMinutes": TRANSCRIPT_WAIT_SECONDS // 60,
        "TranscriptWaits": waits,
        "StalledAfterExtraWaits": waits - 1,
        "ReviewWindowHours": review.hours,
        "ReviewReminderHours": review.reminder_hours,
        "MaxRedrafts": MAX_REDRAFTS,
        # The execution's own limit: its time outside the reviews (the transcript's waits and the notes, two days
        # under the default policy), and the reviews, a window for the draft and one for each redraft.
        "ExecutionTimeoutSeconds": (outside + review.longest_hours) * 3600,
    }


def fill_definition(definition: dict, policy: Policy, stalled_job_minutes: int,
                    review: ReviewWindow = ReviewWindow()) -> dict:  # fmt: skip
    """A state machine definition (statemachines/encounter.asl.json) with its policy filled in: each Retry
    entry that names a policy ({"Policy": "note"}) gets that step's errors, tries, backoff and jitter;
    each string "${Name}" of the values below becomes the value (a number where the file holds only the
    placeholder). The other placeholders are CloudFormation's (the stack's definition substitutions)."""
    values = definition_values(stalled_job_minutes, review, policy)

    def fill(value, where: str):
        if isinstance(value, dict):
            return {key: fill(item, f"{where}.{key}") for key, item in value.items()}
        if isinstance(value, list):
            if where.endswith(".Retry"):
                return [retrier(entry, where) for entry in value]
            if where.endswith(".Catch"):
                return [catcher(entry) for entry in value]
            return [fill(item, where) for item in value]
        if isinstance(value, str):
            if value.startswith("${") and value.endswith("}") and value[2:-1] in values:
                return values[value[2:-1]]
            for name, number in values.items():
                value = value.replace(f"${{{name}}}", str(number))
        return value

    def retrier(entry: dict, where: str) -> dict:
        name = entry.get("Policy") if isinstance(entry, dict) else None
        if name not in RETRIERS or set(entry) != {"Policy"}:
            raise PolicyError(f"{where}: a Retry entry names one policy of {sorted(RETRIERS)}, not {entry!r}")
        errors, why = RETRIERS[name]
        return getattr(policy, name).retrier(errors, f"{why} (policy: {name})")

    def catcher(entry: dict) -> dict:
        if "Policy" not in entry:
            return entry
        name = entry["Policy"]
        if name not in CATCHERS:
            raise PolicyError(f"a Catch entry names one of {sorted(CATCHERS)}, not {name!r}")
        rest = {key: item for key, item in entry.items() if key != "Policy"}
        return {"ErrorEquals": list(CATCHERS[name]), **rest}

    return fill(definition, "$")
