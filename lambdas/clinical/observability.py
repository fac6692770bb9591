"""The one Logger, Tracer and Metrics every handler uses.

Service name and metric namespace come from POWERTOOLS_SERVICE_NAME and
POWERTOOLS_METRICS_NAMESPACE, set by the stack. Log encounter ids, stages, error types and
durations; never transcript, note or model text.

Tracing on AWS: the functions run with Lambda active tracing (PipelineFunction sets Tracing.ACTIVE),
so Lambda records each invocation's segment, and the Tracer adds the handler's and methods'
subsegments (capture_lambda_handler, capture_method) and one per AWS call. Every decorator passes
capture_response=False (and the stack sets POWERTOOLS_TRACER_CAPTURE_RESPONSE=false): Powertools would
otherwise record each result as trace metadata, and a result can be a note, a transcript or the review
page. Annotations and metadata carry ids, stages, counts and error types only: each hop of an encounter
annotates its trace with the encounter's id (annotate_encounter), so X-Ray's trace search
`annotation.encounter_id = "<id>"` finds every hop of one encounter. The handlers make no
call but through boto3, so the Tracer patches botocore only (Powertools' patch_modules): patching
every library the X-Ray SDK supports (its default) imports requests, sqlite3 and the like at cold
start for nothing. `make bench` keeps the cold import within budget (docs/performance.md).

Metrics: an invocation may publish none (a sweep that found nothing due, a wait that stored its token), so
Powertools' warning on an empty flush is turned off, as its documentation suggests; its other warnings stay.
"""

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from clinical.layout import ENCOUNTER_ID_PATTERN

logger = Logger()
# Only botocore: boto3 is the handlers' one way out (see above).
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics()
# An invocation without metrics is expected (see above), not a mistake to warn about in the function's log.
warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning, r"aws_lambda_powertools\.metrics")

ENCOUNTER_ANNOTATION = "encounter_id"


def annotate_encounter(encounter_id: str | None) -> None:
    """Annotate the current trace (segment) with the encounter it works on. Only a well-formed id: a key that
    names no encounter may hold anything, a patient's name included, and is not annotated."""
    if encounter_id and ENCOUNTER_ID_PATTERN.fullmatch(encounter_id):
        tracer.put_annotation(key=ENCOUNTER_ANNOTATION, value=encounter_id)


def count_by(name: str, dimension: str, value: str) -> None:
    """One more of the count `name`, published at once with a dimension of its own beside `service` (Powertools'
    single_metric: the Metrics object flushes all its metrics under one dimension set). The value is an id or a
    type name, never text."""
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=metrics.namespace) as metric:
        metric.add_dimension(name=dimension, value=value)


__all__ = ["ENCOUNTER_ANNOTATION", "MetricUnit", "annotate_encounter", "count_by", "logger", "metrics", "tracer"]
