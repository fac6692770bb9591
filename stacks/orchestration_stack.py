"""Orchestration: one Step Functions Standard execution per encounter, named by its id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

from aws_cdk import Aws, Duration, Fn
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn

from clinical.executions import UNSUCCESSFUL
from clinical.policy import Policy, ReviewWindow, fill_definition
from clinical.prefixes import AUDIO_PREFIX, NOTES_PREFIX, TRANSCRIPTS_PREFIX
from stacks.compliance import acknowledge
from stacks.constructs.console import domain_gauge, domain_metric, graph
from stacks.constructs.pipeline_function import PipelineFunction
from stacks.constructs.state_table import state_table
from stacks.constructs.work_queue import QueueTarget, WorkQueue
from stacks.pipeline_stack import PipelineStack

DEFINITION_FILE = Path(__file__).resolve().parent.parent / "statemachines" / "encounter.asl.json"


class TaskFunctions(NamedTuple):
    """The functions the state machine invokes."""

    await_transcript: PipelineFunction
    await_slot: PipelineFunction
    generate_note: PipelineFunction
    await_review: PipelineFunction
    review_deadline: PipelineFunction


TRANSCRIPTION_SETTINGS = "${TranscriptionSettings}"  # the StartTranscription task's Settings, an object


def encounter_definition(policy: Policy, stalled_job_minutes: int, transcription_settings: dict,
                         review: ReviewWindow = ReviewWindow()) -> str:  # noqa: B008  # fmt: skip
    """statemachines/encounter.asl.json with its policy and review window filled in
    (clinical.policy.fill_definition) and the Transcribe job's Settings (clinical.conversation.job_settings),
    the same object choreography sends."""
    definition = fill_definition(json.loads(DEFINITION_FILE.read_text()), policy, stalled_job_minutes, review)
    parameters = definition["States"]["StartTranscription"]["Parameters"]
    if parameters.get("Settings") != TRANSCRIPTION_SETTINGS:
        raise ValueError(
            f"StartTranscription.Parameters.Settings must be {TRANSCRIPTION_SETTINGS!r} in {DEFINITION_FILE}"
        )
    if transcription_settings:
        parameters["Settings"] = transcription_settings
    else:
        del parameters["Settings"]
    return json.dumps(definition, indent=2) + "\n"


class OrchestrationStack(PipelineStack):
    variant = "orchestration"

    def __init__(self, scope, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        waits = self._transcript_waits()
        tasks = self._task_functions()
        machine, execution_logs = self._encounter_state_machine(tasks)
        intake, transcript_ready, upload_sweep, record_failure = self._edge_functions(machine)
        queues = self._routes(machine, intake, transcript_ready, record_failure)
        self._grant(machine, waits, intake, transcript_ready, upload_sweep, tasks, record_failure)
        self._alarm_on_executions(machine)
        self.alarm_on_encounter_failures()
        self.export_signed_notes()
        self.serve_review_page(self.state_machine_name)
        self._console(machine, execution_logs)
        intake_queue, transcript_events, ended_executions = queues
        self.outputs(
            {
                "StateMachineArn": machine.state_machine_arn,
                "IntakeQueueUrl": intake_queue.queue.queue_url,
                "IntakeDlqUrl": intake_queue.dlq.queue_url,
                "TranscriptEventsQueueUrl": transcript_events.queue.queue_url,
                "TranscriptEventsDlqUrl": transcript_events.dlq.queue_url,
                "EndedExecutionsQueueUrl": ended_executions.queue.queue_url,
                "EndedExecutionsDlqUrl": ended_executions.dlq.queue_url,
                "TranscriptWaitsTableName": waits.table_name,
                "ExecutionLogGroupName": execution_logs.log_group_name,
                "IntakeFunctionName": intake.function.function_name,
                "TranscriptReadyFunctionName": transcript_ready.function.function_name,
                "AwaitTranscriptFunctionName": tasks.await_transcript.function.function_name,
                "AwaitSlotFunctionName": tasks.await_slot.function.function_name,
                "TranscriptionLineTableName": self.transcription_line.table_name,
                "GenerateNoteFunctionName": tasks.generate_note.function.function_name,
                "AwaitReviewFunctionName": tasks.await_review.function.function_name,
                "ReviewDeadlineFunctionName": tasks.review_deadline.function.function_name,
                "RecordFailureFunctionName": record_failure.function.function_name,
                "UploadSweepFunctionName": upload_sweep.function.function_name,
            }
        )

    def _transcript_waits(self) -> dynamodb.Table:
        """The task tokens of executions waiting for their transcript, by encounter id."""
        waits = state_table(
            self,
            "TranscriptWaits",
            foundation=self.foundation,
            partition_key="encounter_id",
            holds="Holds only task tokens of running executions, each expiring within 2 days",
        )
        self.function_environment["TRANSCRIPT_WAITS_TABLE"] = waits.table_name
        return waits

    def _task_functions(self) -> TaskFunctions:
        """The functions the state machine invokes: the transcript's callback wait, the note, the review's
        callback wait and its deadline."""
        await_transcript = self.function(
            "AwaitTranscript",
            handler="orchestration.await_transcript.handler",
            description="Stores an execution's task token until its transcript arrives",
            timeout=Duration.seconds(30),
            memory_size=256,
            reserved_concurrency=10,
        )
        await_slot = self.function(
            "AwaitSlot",
            handler="orchestration.await_slot.handler",
            description="Stands an execution's task token in line for a Transcribe slot until a slot frees",
            timeout=Duration.seconds(30),
            memory_size=256,
            reserved_concurrency=10,
        )
        generate_note = self.function(
            "GenerateNote",
            handler="orchestration.generate_note.handler",
            description="Drafts the SOAP note of an encounter with Bedrock",
            timeout=Duration.seconds(self.config.policy.note_timeout_seconds),
            memory_size=512,
            reserved_concurrency=5,
        )
        await_review = self.function(
            "AwaitReview",
            handler="orchestration.await_review.handler",
            description="Stores an execution's task token in its note's review record until the clinician acts",
            timeout=Duration.seconds(30),
            memory_size=256,
            reserved_concurrency=10,
        )
        review_deadline = self.function(
            "ReviewDeadline",
            handler="orchestration.review_deadline.handler",
            description="CheckReview: reads the review record when a wait ends; settles it, reminds, or expires it",
            timeout=Duration.seconds(30),
            memory_size=256,
            reserved_concurrency=10,
        )
        return TaskFunctions(await_transcript, await_slot, generate_note, await_review, review_deadline)

    def _encounter_state_machine(self, tasks: TaskFunctions) -> tuple[sfn.StateMachine, logs.LogGroup]:
        """statemachines/encounter.asl.json as a Standard state machine, its logs and its role's grants."""
        foundation = self.foundation
        for task in tasks:
            synchronous = "Invoked synchronously by the state machine, whose Retry and Catch handle its failures."
            task.invoked_synchronously(synchronous)

        # Under /aws/vendedlogs/: CloudWatch Logs' resource policy (5,120 characters per account and region) need
        # not grow for it (Step Functions Developer Guide, logging). The stack id's UUID keeps the name free
        # for a redeploy, since the group is retained when the stack is deleted.
        execution_logs = foundation.log_group(
            self,
            "ExecutionLogs",
            name=Fn.join(
                "",
                [f"/aws/vendedlogs/states/{self.state_machine_name}-", Fn.select(2, Fn.split("/", Aws.STACK_ID))],
            ),
        )
        review = ReviewWindow(self.config.review_window_hours, self.config.review_reminder_hours)
        self.state_machine = sfn.StateMachine(
            self,
            "EncounterStateMachine",
            state_machine_name=self.state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(
                encounter_definition(
                    self.config.policy,
                    self.config.stalled_job_minutes,
                    self.config.transcription_settings,
                    review,
                )
            ),
            definition_substitutions=self.definition_substitutions(tasks),
            logs=sfn.LogOptions(destination=execution_logs, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(foundation.key),
        )
        machine = self.state_machine
        for task in tasks:
            task.function.grant_invoke(machine)
        self.permissions.transcription_runner(machine.role)
        acknowledge(
            machine.role,
            "HIPAA.Security-IAMNoInlinePolicy",
            "The state machine's own role; its policy is CDK's grants plus the resource-scoped Transcribe and S3 access.",
        )
        acknowledge(
            machine.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray tracing and CloudWatch Logs delivery (logs:*LogDelivery) support no resource-level permissions.",
        )
        for task in tasks:
            task_id = self.get_logical_id(task.function.node.default_child)
            acknowledge(
                machine.role,
                f"AwsSolutions-IAM5[Resource::<{task_id}.Arn>:*]",
                "CDK's invoke grant covers the function's versions and aliases; the function itself is named.",
            )
        return machine, execution_logs

    def _edge_functions(
        self, machine: sfn.StateMachine
    ) -> tuple[PipelineFunction, PipelineFunction, PipelineFunction, PipelineFunction]:
        """The functions around the state machine: intake, the transcript's callback, the sweep, the recorder."""
        record_failure = self.function(
            "RecordFailure",
            handler="orchestration.record_failure.handler",
            description="Writes the failure record of each execution that ended FAILED, TIMED_OUT or ABORTED",
            timeout=Duration.seconds(30),
            memory_size=256,
            reserved_concurrency=5,
        )
        intake = self.function(
            "Intake",
            handler="orchestration.intake.handler",
            description="Validates each upload and starts its encounter execution",
            environment={"STATE_MACHINE_ARN": machine.state_machine_arn},
            timeout=Duration.seconds(30),
            memory_size=256,
            reserved_concurrency=10,
        )
        transcript_ready = self.function(
            "TranscriptReady",
            handler="orchestration.transcript_ready.handler",
            description="Resumes the execution waiting for each new transcript",
            timeout=Duration.seconds(30),
            memory_size=256,
            reserved_concurrency=10,
        )
        upload_sweep = self.function(
            "UploadSweep",
            handler="orchestration.upload_sweep.handler",
            description="Starts executions of uploads whose event was lost; records unrecorded failed executions",
            environment={"STATE_MACHINE_ARN": machine.state_machine_arn},
            timeout=Duration.seconds(300),
            memory_size=256,
            reserved_concurrency=1,
            async_failure_queue=self.undelivered,
        )
        self.run_on_schedule("UploadSweepSchedule", upload_sweep)
        return intake, transcript_ready, upload_sweep, record_failure

    def _routes(
        self,
        machine: sfn.StateMachine,
        intake: PipelineFunction,
        transcript_ready: PipelineFunction,
        record_failure: PipelineFunction,
    ) -> tuple[WorkQueue, WorkQueue, WorkQueue]:
        """What reaches each function: uploads, transcripts, unsuccessful execution ends, the schedule."""
        foundation = self.foundation
        intake_queue = WorkQueue(self, "IntakeRequests", foundation=foundation, consumer=intake)
        transcript_events = WorkQueue(self, "TranscriptEvents", foundation=foundation, consumer=transcript_ready)
        self.route_objects("AudioUploaded", AUDIO_PREFIX, intake_queue)
        self.route_objects("TranscriptWritten", TRANSCRIPTS_PREFIX, transcript_events)
        ended_executions = WorkQueue(self, "EndedExecutions", foundation=foundation, consumer=record_failure)
        events.Rule(
            self,
            "ExecutionEndedUnsuccessfully",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={"status": list(UNSUCCESSFUL), "stateMachineArn": [machine.state_machine_arn]},
            ),
            targets=[QueueTarget(ended_executions.queue, dead_letter_queue=self.undelivered, retry_attempts=10)],
        )

        return intake_queue, transcript_events, ended_executions

    def _grant(
        self,
        machine: sfn.StateMachine,
        waits: dynamodb.Table,
        intake: PipelineFunction,
        transcript_ready: PipelineFunction,
        upload_sweep: PipelineFunction,
        tasks: TaskFunctions,
        record_failure: PipelineFunction,
    ) -> None:
        """Each function's least privilege, and who alone may write transcripts and notes."""
        config, permissions = self.config, self.permissions
        await_transcript, generate_note = tasks.await_transcript, tasks.generate_note
        permissions.upload_checker(intake)
        permissions.failure_recorder(intake)
        permissions.execution_reader(intake, self.state_machine_name)  # an execution that exists: this upload's?
        machine.grant_start_execution(intake.role)
        permissions.upload_checker(upload_sweep)
        permissions.failure_recorder(upload_sweep)
        permissions.settlement_checker(upload_sweep)
        machine.grant_start_execution(upload_sweep.role)
        permissions.execution_reader(upload_sweep, self.state_machine_name)
        permissions.job_reader(upload_sweep)
        permissions.job_lister(upload_sweep)  # counts the jobs in flight, for the dashboard
        permissions.transcript_checker(await_transcript)
        permissions.job_reader(await_transcript)  # is a transcript already there its job's output?
        permissions.failure_recorder(await_transcript)  # quarantine records
        waits.grant(await_transcript.role, "dynamodb:PutItem", "dynamodb:DeleteItem")
        permissions.task_responder(await_transcript)
        waits.grant(transcript_ready.role, "dynamodb:DeleteItem")
        permissions.task_responder(transcript_ready)
        permissions.job_reader(transcript_ready)
        permissions.transcript_checker(transcript_ready)
        permissions.failure_recorder(transcript_ready)  # quarantine records
        # The line for Transcribe's slots (clinical.waiting_line): intake and the sweep look at it, AwaitSlot stands
        # in it, a job's end (its transcript, its execution's failure) and the sweep wake its head.
        line = self.transcription_line
        permissions.line_reader(intake, line)
        permissions.line_waiter(tasks.await_slot, line)
        permissions.upload_checker(tasks.await_slot)  # its place: the upload's time and declared length
        for waker in (transcript_ready, record_failure, upload_sweep, await_transcript):
            permissions.line_waker(waker, line)  # AwaitTranscript: a sweep's chain, carried on
        permissions.task_responder(record_failure)
        permissions.task_responder(upload_sweep)
        permissions.note_writer(generate_note, config)
        permissions.job_reader(generate_note)  # is the transcript its job's output?
        self.foundation.only_these_write(TRANSCRIPTS_PREFIX, [machine.role])
        self.foundation.only_these_write(NOTES_PREFIX, [generate_note.role])
        permissions.failure_recorder(generate_note)
        permissions.failure_recorder(record_failure)
        permissions.job_reader(record_failure)
        permissions.execution_reader(record_failure, self.state_machine_name)
        for review_task in (tasks.await_review, tasks.review_deadline):
            # A review decided already ends the wait at once; CheckReview settles what a decision still owes.
            permissions.review_keeper(review_task, self.state_machine_name)

    @staticmethod
    def _execution_ends(machine: sfn.StateMachine) -> list[tuple[str, cloudwatch.Metric, str]]:
        """The executions' metrics that have alarms: (alarm name, metric, what it means)."""
        return [
            (
                f"Executions{metric.__name__.removeprefix('metric_').title().replace('_', '')}Alarm",
                metric(statistic="Sum", period=Duration.minutes(1)),
                what,
            )
            for metric, what in (
                (machine.metric_failed, "an encounter execution FAILED"),
                (machine.metric_timed_out, "an encounter execution TIMED OUT"),
                (machine.metric_aborted, "an encounter execution was ABORTED"),
                (machine.metric_throttled, "StartExecution or state transitions were throttled"),
            )
        ]

    def _alarm_on_executions(self, machine: sfn.StateMachine) -> None:
        for name, metric, what in self._execution_ends(machine):
            self.foundation.alarm(self, name, metric=metric, threshold=0, description=what)

    def _console(self, machine: sfn.StateMachine, execution_logs: logs.LogGroup) -> None:
        """The dashboard: uploads are executions started; Transcribe's starts and throttles are the state
        machine's own (its StartTranscription task and Retry), seen in each execution's history."""
        self.add_console(
            started=[domain_metric(self, "ExecutionsStarted")],
            # The state machine starts each job and retries a throttled start itself: no function counts those
            # (each execution's history shows its tries); the upload sweep reads the jobs in flight.
            transcription=graph("Transcribe: jobs in flight", [domain_gauge(self, "TranscriptionJobsInFlight")]),
            review_backlog=cloudwatch.TextWidget(
                markdown=(
                    "**Reviews awaiting a clinician**: each waits in its execution, in the AwaitReview state. The Step "
                    "Functions console's list of this state machine's executions, filtered to Running, is the backlog; "
                    "the Notes graph shows the notes put up for review."
                ),
                width=8,
                height=6,
            ),
            extra_rows=[
                graph(
                    "Executions: started, and the ends that have alarms",
                    [machine.metric_started(statistic="Sum", period=Duration.minutes(5))]
                    + [metric for _name, metric, _what in self._execution_ends(machine)],
                )
            ],
            log_groups=[execution_logs],
        )

    @property
    def state_machine_name(self) -> str:
        # A fixed name lets the callback Lambdas be granted SendTaskSuccess without a circular reference.
        return f"{self.stack_name}-encounters"

    def definition_substitutions(self, tasks: TaskFunctions) -> dict:
        """The values of the ${Placeholders} in statemachines/encounter.asl.json."""
        return {
            "TranscriptionJobPrefix": self.stack_name,
            "EncounterBucket": self.bucket.bucket_name,
            "AudioPrefix": AUDIO_PREFIX,
            "TranscriptsPrefix": TRANSCRIPTS_PREFIX,
            "KmsKeyArn": self.foundation.key.key_arn,
            "MedicalSpecialty": self.config.medical_specialty,
            "MedicalType": self.config.medical_type,
            "AwaitTranscriptFunctionArn": tasks.await_transcript.function.function_arn,
            "AwaitSlotFunctionArn": tasks.await_slot.function.function_arn,
            "GenerateNoteFunctionArn": tasks.generate_note.function.function_arn,
            "AwaitReviewFunctionArn": tasks.await_review.function.function_arn,
            "ReviewDeadlineFunctionArn": tasks.review_deadline.function.function_arn,
        }
