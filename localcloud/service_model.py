"""The model of AWS the local cloud keeps: what each step costs in simulated time, and the quotas the
services enforce. Both are data (localcloud/model/*.json), each value with its source; a run may
override them with a file of its own. Bad input fails before anything runs, naming the field.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, deque
from dataclasses import dataclass, fields
from pathlib import Path

MODEL = Path(__file__).resolve().parent / "model"
LATENCIES_FILE = MODEL / "latencies.json"
QUOTAS_FILE = MODEL / "quotas.json"


class ModelError(ValueError):
    """A latency, quota or workload file that cannot be used (the message names the field)."""


def _number(where: str, value) -> float:
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ModelError(f"{where}: expected a number, got {value!r}")
    if value < 0:
        raise ModelError(f"{where}: must not be negative (got {value})")
    return float(value)


def _fields_from(where: str, cls, values: dict, base=None, **fixed):
    """`cls` built from a file's `values` (or `base` with them as overrides); every value a number >= 0."""
    known = {f.name for f in fields(cls)} - set(fixed)
    unknown = sorted(name for name in values if name not in known and not name.startswith("_"))
    if unknown:
        raise ModelError(f"{where}.{unknown[0]}: unknown name (known: {', '.join(sorted(known))})")
    given = {name: _number(f"{where}.{name}", value) for name, value in values.items() if name in known}
    if base is None:
        missing = sorted(known - set(given))
        if missing:
            raise ModelError(f"{where}.{missing[0]}: missing")
        return cls(**given, **fixed)
    return cls(**{**{name: getattr(base, name) for name in known}, **given}, **fixed)


@dataclass(frozen=True)
class Latencies:
    s3_to_eventbridge: float
    eventbridge_to_sqs: float
    sqs_poll: float
    lambda_cold_start: float
    lambda_warm_start: float
    lambda_idle_expiry: float
    aws_api_call: float
    sfn_transition: float
    transcribe_job_fixed: float
    transcribe_job_per_audio_second: float
    bedrock_first_token: float
    bedrock_per_input_token: float
    bedrock_output_tokens_per_second: float

    @property
    def event_delivery(self) -> float:
        """From an S3 write (or a Step Functions status change) to the message a consumer's poller sees."""
        return self.s3_to_eventbridge + self.eventbridge_to_sqs + self.sqs_poll

    def transcribe_job(self, audio_seconds: float) -> float:
        return self.transcribe_job_fixed + self.transcribe_job_per_audio_second * audio_seconds

    def bedrock(self, input_tokens: int, output_tokens: int) -> float:
        return (
            self.bedrock_first_token
            + self.bedrock_per_input_token * input_tokens
            + output_tokens / max(self.bedrock_output_tokens_per_second, 1e-9)
        )


@dataclass(frozen=True)
class Quotas:
    transcribe_medical_concurrent_jobs: float
    transcribe_medical_starts_per_second: float
    bedrock_tokens_per_minute: float
    bedrock_requests_per_minute: float
    bedrock_output_token_burndown: float
    lambda_account_concurrency: float
    lambda_sqs_initial_concurrency: float
    lambda_sqs_scale_up_per_minute: float
    sfn_start_execution_bucket: float
    sfn_start_execution_per_second: float
    name: str = "default"


def load_latencies(path: Path = LATENCIES_FILE) -> Latencies:
    return _fields_from(path.name, Latencies, read_model_file(path))


def quota_settings(path: Path = QUOTAS_FILE) -> dict[str, Quotas]:
    """Every named quota setting of a file: `default` in full, the others as overrides of it."""
    data = read_model_file(path)
    if "default" not in data:
        raise ModelError(f"{path.name}.default: missing")
    default = _quotas(f"{path.name}.default", data["default"], None, "default")
    settings = {"default": default}
    for name, values in data.items():
        if name.startswith("_") or name == "default":
            continue
        if not isinstance(values, dict):
            raise ModelError(f"{path.name}.{name}: expected an object of quota values")
        settings[name] = _quotas(f"{path.name}.{name}", values, default, name)
    return settings


def _quotas(where: str, values: dict, base: Quotas | None, name: str) -> Quotas:
    return _fields_from(where, Quotas, values, base, name=name)


def quotas_named(name: str, path: Path = QUOTAS_FILE) -> Quotas:
    settings = quota_settings(path)
    if name not in settings:
        raise ModelError(f"quotas: unknown setting {name!r} (known: {', '.join(settings)})")
    return settings[name]


def read_model_file(path: Path) -> dict:
    """A model file's JSON object, or a one-line ModelError."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except json.JSONDecodeError as error:
        raise ModelError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return data


class TokenBucket:
    """A rate quota as AWS states it: a bucket of `size` tokens refilled at `per_second` (simulated time)."""

    def __init__(self, size: float, per_second: float, now: float) -> None:
        self.size, self.per_second = size, per_second
        self.tokens, self.updated = size, now

    def take(self, now: float, tokens: float = 1.0) -> bool:
        self.tokens = min(self.size, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now
        if self.tokens < tokens:
            return False
        self.tokens -= tokens
        return True


class SlidingMinute:
    """A per-minute quota: what was used in the last 60 simulated seconds."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.used: deque[tuple[float, float]] = deque()
        self.total = 0.0

    def fits(self, now: float, amount: float) -> bool:
        while self.used and self.used[0][0] <= now - 60:
            self.total -= self.used.popleft()[1]
        return self.total + amount <= self.limit

    def add(self, now: float, amount: float) -> None:
        self.used.append((now, amount))
        self.total += amount


class QuotaLedger:
    """What the quotas did in a run: throttles per quota (what the report shows)."""

    def __init__(self) -> None:
        self.throttled: Counter[str] = Counter()
        self._lock = threading.Lock()

    def throttle(self, quota: str) -> None:
        with self._lock:
            self.throttled[quota] += 1
