"""The one Logger, Tracer and Metrics every handler uses.

Service name and metric namespace come from POWERTOOLS_SERVICE_NAME and
POWERTOOLS_METRICS_NAMESPACE, set by the stack. Log encounter ids, stages, error types and
durations; never transcript, note or model text.

Tracing on AWS: the functions run with Lambda active tracing (PipelineFunction sets Tracing.ACTIVE),
so Lambda records each invocation's segment, and the Tracer adds the handler's and methods'
subsegments (capture_lambda_handler, capture_method) and one per AWS call. Every decorator passes
capture_response=False (and the stack sets POWERTOOLS_TRACER_CAPTURE_RESPONSE=false): Powertools would
otherwise record each result as trace metadata, and a result can be a note, a transcript or the review
page. Annotations and metadata carry ids, stages, counts and error types only. The handlers make no
call but through boto3, so the Tracer patches botocore only (Powertools' patch_modules): patching
every library the X-Ray SDK supports (its default) imports requests, sqlite3 and the like at cold
start for nothing. `make bench` keeps the cold import within budget (docs/performance.md).

Metrics: an invocation may publish none (a sweep that found nothing due, a wait that stored its token), so
Powertools' warning on an empty flush is turned off, as its documentation suggests; its other warnings stay.
"""

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
# Only botocore: boto3 is the handlers' one way out (see above).
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics()
# An invocation without metrics is expected (see above), not a mistake to warn about in the function's log.
warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning, r"aws_lambda_powertools\.metrics")

__all__ = ["MetricUnit", "logger", "metrics", "tracer"]
