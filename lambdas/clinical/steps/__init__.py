"""The pipeline's steps as both variants call them; only who calls them, and when, differs.

One module per part of an encounter, so that a function imports the steps it runs and not the whole domain
(its cold start compiles and runs every module it imports: docs/performance.md): `uploads` (an upload
accepted, its transcription started, a transcript's origin checked), `drafts` (the note drafted, or drafted
again after a send-back) and `reviews` (the review's time kept).
"""
