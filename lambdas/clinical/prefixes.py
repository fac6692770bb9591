"""The S3 layout's prefixes, written once: the handlers, the stacks (event rules, grants, the bucket
policy), the state machine (through its definition substitutions), the CLI and the local cloud read
them from here. No imports, so the CDK app can read them without the Lambda runtime's libraries."""

AUDIO_PREFIX = "audio/"
TRANSCRIPTS_PREFIX = "transcripts/"
NOTES_PREFIX = "notes/"
FAILURES_PREFIX = "failures/"
REVIEWS_PREFIX = "reviews/"  # a note's review: reviews/<id>.json, and its later versions reviews/<id>/v<n>-<tag>.json
SIGNED_PREFIX = "signed/"  # the signed note, written once: signed/<id>.json
FHIR_EXPORTS_PREFIX = "exports/fhir/"  # the signed note as a FHIR DocumentReference: exports/fhir/<id>.json
# Empty objects whose keys say which reviews need a sweep, and when, and which await a clinician
# (clinical.review_index): what choreography's sweep and the worklist read instead of every review record.
INDEX_PREFIX = "index/"
# Under it, markers of the notes and failure records written lately (clinical.settlements), read by the sweeps.
SETTLED_PREFIX = f"{INDEX_PREFIX}settled/"
DATA_PREFIXES = (
    AUDIO_PREFIX,
    TRANSCRIPTS_PREFIX,
    NOTES_PREFIX,
    FAILURES_PREFIX,
    REVIEWS_PREFIX,
    SIGNED_PREFIX,
    FHIR_EXPORTS_PREFIX,
    INDEX_PREFIX,
)
# The signed note and its FHIR export are the medical record: they outlive the draft and its inputs, so the
# bucket's lifecycle keeps them (and their old versions) unless cdk.json sets signed_retention_days.
SIGNED_NOTE_PREFIXES = (SIGNED_PREFIX, FHIR_EXPORTS_PREFIX)
