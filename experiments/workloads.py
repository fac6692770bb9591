"""Workloads as data (experiments/workloads.json): who uploads what, and when.

A workload turns into a list of uploads (key, body, simulated second of arrival, audio length) that is
the same for a given seed whichever variant runs it. Bad input fails before anything runs, with one
line naming the field.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from experiments import SAMPLES
from localcloud.service_model import ModelError, quota_settings, read_model_file
from localcloud.transcribe_medical import audio_seconds

WORKLOADS_FILE = Path(__file__).resolve().parent / "workloads.json"
FIELDS = {
    "encounters",
    "upload_interval_seconds",
    "upload_window_seconds",
    "audio",
    "duplicate_rate",
    "invalid_rate",
    "quotas",
}
AUDIO_FIELDS = {"distribution", "median_minutes", "sigma", "min_minutes", "max_minutes"}


@dataclass(frozen=True)
class Workload:
    name: str
    encounters: int
    upload_interval_seconds: float | None
    upload_window_seconds: float | None
    audio: dict
    duplicate_rate: float
    invalid_rate: float
    quotas: tuple[str, ...]


@dataclass
class Upload:
    key: str
    body: bytes
    at: float  # simulated seconds after the first upload
    audio_seconds: float | None  # None: what the WAV header says
    transcript: str


@dataclass
class Plan:
    """The uploads of one run, in order of arrival, and what they are."""

    uploads: list[Upload]
    valid_ids: set[str]
    invalid_keys: list[str]
    duplicates: int
    audio_seconds: dict[str, float] = field(default_factory=dict)  # per valid encounter
    encounters: int = 0


def _number(where: str, value, *, integer: bool = False, at_most: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        raise ModelError(f"{where}: expected {'a whole number' if integer else 'a number'}, got {value!r}")
    if value < 0:
        raise ModelError(f"{where}: must not be negative (got {value})")
    if at_most is not None and value > at_most:
        raise ModelError(f"{where}: must be at most {at_most:g} (got {value})")
    return value


def workloads(path: Path = WORKLOADS_FILE) -> dict[str, Workload]:
    data = read_model_file(path)
    known_quotas = quota_settings()
    result = {}
    for name, spec in data.items():
        if name.startswith("_"):
            continue
        where = f"{Path(path).name}.{name}"
        if not isinstance(spec, dict):
            raise ModelError(f"{where}: expected an object")
        unknown = sorted(key for key in spec if key not in FIELDS and not key.startswith("_"))
        if unknown:
            raise ModelError(f"{where}.{unknown[0]}: unknown name (known: {', '.join(sorted(FIELDS))})")
        if "encounters" not in spec:
            raise ModelError(f"{where}.encounters: missing")
        encounters = _number(f"{where}.encounters", spec["encounters"], integer=True)
        if encounters == 0:
            raise ModelError(f"{where}.encounters: must be at least 1")
        if ("upload_interval_seconds" in spec) == ("upload_window_seconds" in spec):
            raise ModelError(f"{where}.upload_interval_seconds: give it or upload_window_seconds, not both or neither")
        interval = spec.get("upload_interval_seconds")
        window = spec.get("upload_window_seconds")
        for key in ("upload_interval_seconds", "upload_window_seconds"):
            if key in spec:
                _number(f"{where}.{key}", spec[key])
        audio = spec.get("audio", {"distribution": "samples"})
        _check_audio(f"{where}.audio", audio)
        quotas = spec.get("quotas", ["default"])
        if not isinstance(quotas, list) or not quotas:
            raise ModelError(f"{where}.quotas: expected a list of quota setting names")
        for quota in quotas:
            if quota not in known_quotas:
                raise ModelError(f"{where}.quotas: unknown quota setting {quota!r} (known: {', '.join(known_quotas)})")
        result[name] = Workload(
            name=name,
            encounters=int(encounters),
            upload_interval_seconds=interval,
            upload_window_seconds=window,
            audio=audio,
            duplicate_rate=_number(f"{where}.duplicate_rate", spec.get("duplicate_rate", 0), at_most=1),
            invalid_rate=_number(f"{where}.invalid_rate", spec.get("invalid_rate", 0), at_most=1),
            quotas=tuple(quotas),
        )
    return result


def _check_audio(where: str, audio) -> None:
    if not isinstance(audio, dict):
        raise ModelError(f"{where}: expected an object")
    unknown = sorted(key for key in audio if key not in AUDIO_FIELDS)
    if unknown:
        raise ModelError(f"{where}.{unknown[0]}: unknown name (known: {', '.join(sorted(AUDIO_FIELDS))})")
    distribution = audio.get("distribution")
    if distribution == "samples":
        return
    if distribution != "lognormal":
        raise ModelError(f"{where}.distribution: unknown distribution {distribution!r} (known: samples, lognormal)")
    for key in ("median_minutes", "sigma", "min_minutes", "max_minutes"):
        if key not in audio:
            raise ModelError(f"{where}.{key}: missing")
        _number(f"{where}.{key}", audio[key])
    if audio["min_minutes"] > audio["max_minutes"]:
        raise ModelError(f"{where}.min_minutes: greater than max_minutes")


def workload_named(name: str, path: Path = WORKLOADS_FILE) -> Workload:
    known = workloads(path)
    if name not in known:
        raise ModelError(f"workloads: unknown workload {name!r} (known: {', '.join(known)})")
    return known[name]


def plan(workload: Workload, seed: int, encounters: int | None = None) -> Plan:
    """The uploads, the same for the same workload and seed (both variants get exactly these)."""
    rng = random.Random(f"workload:{workload.name}:{seed}")  # noqa: S311 (a reproducible workload, not a secret)
    samples = sorted(SAMPLES.glob("*.wav"))
    audio = [(path.read_bytes(), path.with_suffix(".txt").read_text().strip()) for path in samples]
    count = encounters or workload.encounters
    uploads: list[Upload] = []
    valid, invalid, duplicates, lengths = set(), [], 0, {}
    for n in range(count):
        body, transcript = audio[n % len(audio)]
        seconds = None
        if workload.audio["distribution"] == "lognormal":
            a = workload.audio
            minutes = math.exp(math.log(a["median_minutes"]) + a["sigma"] * rng.gauss(0, 1))
            seconds = 60 * min(max(minutes, a["min_minutes"]), a["max_minutes"])
            # Each recording its own bytes (trailing bytes after the sample's audio), so its length is its own.
            body = body + f"#encounter {n}".encode()
        if workload.upload_interval_seconds is not None:
            at = n * workload.upload_interval_seconds
        else:
            at = rng.uniform(0, workload.upload_window_seconds)
        draw = rng.random()
        if draw < workload.invalid_rate:
            key, body = rng.choice(
                [(f"audio/visit {n:04d}.wav", body), (f"audio/enc-{n:04d}.txt", body), (f"audio/enc-{n:04d}.wav", b"")]
            )
            invalid.append(key)
        else:
            key = f"audio/enc-{n:04d}.wav"
            valid.add(f"enc-{n:04d}")
            lengths[f"enc-{n:04d}"] = seconds if seconds is not None else (audio_seconds(body) or 0.0)
        uploads.append(Upload(key, body, at, seconds, transcript))
        if draw > 1 - workload.duplicate_rate and key not in invalid:
            uploads.append(Upload(key, body, at, seconds, transcript))
            duplicates += 1
    uploads.sort(key=lambda upload: upload.at)
    return Plan(uploads, valid, invalid, duplicates, lengths, count)
