"""Choreography: S3 events chained through EventBridge and SQS to Lambdas. Nobody is in charge."""

from __future__ import annotations

from aws_cdk import Duration

from clinical.event_names import NOTE_SENT_BACK
from clinical.prefixes import AUDIO_PREFIX, NOTES_PREFIX, TRANSCRIPTS_PREFIX
from stacks.constructs.console import domain_gauge, domain_metric, graph
from stacks.constructs.work_queue import WorkQueue
from stacks.pipeline_stack import PipelineStack


class ChoreographyStack(PipelineStack):
    variant = "choreography"

    def __init__(self, scope, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        config, foundation = self.config, self.foundation
        start_transcription = self.function(
            "StartTranscription",
            handler="choreography.start_transcription.handler",
            description="Starts the Transcribe Medical job of each uploaded encounter",
            timeout=Duration.seconds(30),
            memory_size=256,
            reserved_concurrency=10,
        )
        write_note = self.function(
            "WriteNote",
            handler="choreography.write_note.handler",
            description="Drafts the SOAP note of each transcript with Bedrock",
            timeout=Duration.seconds(config.policy.note_timeout_seconds),
            memory_size=512,
            reserved_concurrency=5,
        )
        watchdog = self.function(
            "Watchdog",
            handler="choreography.watchdog.handler",
            description="Records failed or stalled jobs; takes in lost uploads; keeps the reviews' deadlines",
            timeout=Duration.seconds(300),
            memory_size=256,
            reserved_concurrency=1,
            async_failure_queue=self.undelivered,
        )
        transcription_requests = WorkQueue(
            self, "TranscriptionRequests", foundation=foundation, consumer=start_transcription
        )
        # The note's tries and backoff are the policy's, as in the state machine's GenerateNote Retry.
        note_requests = WorkQueue(
            self,
            "NoteRequests",
            foundation=foundation,
            consumer=write_note,
            batch_size=5,
            max_receive_count=config.policy.note.tries,
        )
        write_note.function.add_environment("WORK_QUEUE_URL", note_requests.queue.queue_url)
        # A note request whose every try died with the function is in this DLQ with no record: the watchdog writes it.
        watchdog.function.add_environment("NOTE_REQUESTS_DLQ_URL", note_requests.dlq.queue_url)
        # A request throttled by Transcribe's quota goes back into its own queue with a delay.
        start_transcription.function.add_environment("WORK_QUEUE_URL", transcription_requests.queue.queue_url)
        # A request waits in line for a Transcribe slot; a job's end (its note step, the watchdog) wakes the head
        # by sending its request again (clinical.waiting_line).
        for waker in (start_transcription, write_note, watchdog):
            waker.function.add_environment("TRANSCRIPTION_REQUESTS_QUEUE_URL", transcription_requests.queue.queue_url)
        self.route_objects("AudioUploaded", AUDIO_PREFIX, transcription_requests)
        self.route_objects("TranscriptWritten", TRANSCRIPTS_PREFIX, note_requests)
        # A note the clinician sent back is drafted again by the same writer, told by the domain bus.
        self.route_domain_event("NoteSentBackToRedraft", NOTE_SENT_BACK, note_requests)
        self.run_on_schedule("WatchdogSchedule", watchdog)

        permissions = self.permissions
        permissions.transcribe_starter(start_transcription)
        permissions.job_reader(
            start_transcription
        )  # a job that exists: for this upload, or another (EncounterIdInUse)?
        permissions.request_requeuer(start_transcription, transcription_requests.queue.queue_arn)
        permissions.failure_recorder(start_transcription)
        permissions.line_waiter(start_transcription, self.transcription_line)
        permissions.line_waker(start_transcription, self.transcription_line)  # a sweep's chain, carried on
        for waker in (write_note, watchdog):
            permissions.line_waker(waker, self.transcription_line)
            permissions.request_requeuer(waker, transcription_requests.queue.queue_arn)
        permissions.note_writer(write_note, config)
        permissions.retry_scheduler(write_note, note_requests.queue.queue_arn)
        permissions.request_requeuer(write_note, note_requests.queue.queue_arn)  # a malformed answer's next try
        permissions.job_reader(write_note)  # is the transcript its job's output?
        self.foundation.only_these_write(TRANSCRIPTS_PREFIX, [start_transcription.role, watchdog.role])
        self.foundation.only_these_write(NOTES_PREFIX, [write_note.role])
        permissions.failure_recorder(write_note)
        permissions.job_watcher(watchdog)
        permissions.failure_recorder(watchdog)
        permissions.settlement_checker(watchdog)
        permissions.transcribe_starter(watchdog)
        permissions.dead_letter_reader(watchdog, note_requests.dlq.queue_arn)
        permissions.review_keeper(watchdog)  # a reminder before a review window ends, the expiry at its end
        self.alarm_on_encounter_failures()
        self.export_signed_notes()
        self.serve_review_page()
        # Choreography counts each job it starts, and each start Transcribe throttled (put back to wait for quota);
        # its watchdog reads the jobs in flight and the reviews awaiting on every sweep.
        started = domain_metric(self, "TranscriptionJobsStarted")
        throttled = domain_metric(self, "TranscriptionStartsDeferred")
        in_flight = domain_gauge(self, "TranscriptionJobsInFlight")
        self.add_console(
            started=[started],
            transcription=graph(
                "Transcribe: jobs started, starts throttled, jobs in flight", [started, throttled, in_flight]
            ),
            review_backlog=graph("Reviews awaiting a clinician", [domain_gauge(self, "ReviewsAwaiting")]),
        )
        self.outputs(
            {
                "TranscriptionRequestsQueueUrl": transcription_requests.queue.queue_url,
                "TranscriptionRequestsDlqUrl": transcription_requests.dlq.queue_url,
                "NoteRequestsQueueUrl": note_requests.queue.queue_url,
                "NoteRequestsDlqUrl": note_requests.dlq.queue_url,
                "StartTranscriptionFunctionName": start_transcription.function.function_name,
                "WriteNoteFunctionName": write_note.function.function_name,
                "WatchdogFunctionName": watchdog.function.function_name,
                "TranscriptionLineTableName": self.transcription_line.table_name,
            }
        )
