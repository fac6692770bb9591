"""The domain events' source and detail types, written once: the handlers put them (clinical.domain_events)
and the stacks route them. No imports, so the CDK app can read them without the Lambda runtime's libraries."""

SOURCE = "clinical-scribe"
NOTE_DRAFTED, NOTE_NEEDS_REVIEW, NOTE_SIGNED = "NoteDrafted", "NoteNeedsReview", "NoteSigned"
REVIEW_REMINDER, REVIEW_EXPIRED = "ReviewReminder", "ReviewExpired"
NOTE_SENT_BACK, NOTE_REDRAFTED = "NoteSentBack", "NoteRedrafted"
ENCOUNTER_FAILED = "EncounterFailed"
DETAIL_TYPES = (
    NOTE_DRAFTED,
    NOTE_NEEDS_REVIEW,
    NOTE_SIGNED,
    NOTE_SENT_BACK,
    NOTE_REDRAFTED,
    REVIEW_REMINDER,
    REVIEW_EXPIRED,
    ENCOUNTER_FAILED,
)
