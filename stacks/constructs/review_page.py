"""The clinician's review page on AWS: a Cognito user pool (users created by an administrator, MFA required, a
clinicians group), its managed login, and an API Gateway REST API sending every path to one function
(edges.review_page), which signs clinicians in and serves review_desk's page. Opt-in (cdk.json
`review_page`): an internet-facing page of PHI is a choice, not a default."""

from __future__ import annotations

from aws_cdk import Aws, Duration, Fn, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from stacks.compliance import acknowledge, skip_checkov
from stacks.constructs.foundation import PipelineFoundation
from stacks.constructs.pipeline_function import PipelineFunction

STAGE = "review"
CLINICIANS_GROUP = "clinicians"


class ReviewPage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, foundation: PipelineFoundation,
                 page: PipelineFunction) -> None:  # fmt: skip
        super().__init__(scope, construct_id)
        self.user_pool = cognito.UserPool(
            self,
            "Clinicians",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(username=True, email=True),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=14,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        cognito.CfnUserPoolGroup(
            self,
            "CliniciansGroup",
            user_pool_id=self.user_pool.user_pool_id,
            group_name=CLINICIANS_GROUP,
            description="May review, edit, sign and send back this deployment's notes",
        )
        # A prefix unique to this stack: its id's last part (a UUID).
        prefix = Fn.join("-", ["scribe-review", Fn.select(2, Fn.split("/", Aws.STACK_ID))])
        domain = self.user_pool.add_domain("Login", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=prefix))
        access_logs = foundation.log_group(self, "AccessLogs")
        self.api = apigw.LambdaRestApi(
            self,
            "Api",
            handler=page.function,
            proxy=True,
            description="The clinician's review page (signed in with the stack's Cognito user pool)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # AWS::ApiGateway::Account is one setting per account and region: a stack that sets it overwrites
            # whatever role the account had (the other variant's, anyone's). The stage's logs use the account's
            # role, set once (docs/reference.md, "Deploying to AWS").
            cloud_watch_role=False,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # request and response bodies are PHI: never in the execution logs
                throttling_rate_limit=20,
                throttling_burst_limit=40,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
            ),
        )
        # Built from the API's id, not its stage: the client's callback must not wait on the deployment.
        self.url = Fn.join(
            "", ["https://", self.api.rest_api_id, ".execute-api.", Aws.REGION, ".", Aws.URL_SUFFIX, f"/{STAGE}/"]
        )
        self.client = self.user_pool.add_client(
            "Page",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=False, user_password=False, admin_user_password=False, custom=False),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.COGNITO_ADMIN],
                callback_urls=[Fn.join("", [self.url, "callback"])],
                logout_urls=[self.url],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            access_token_validity=Duration.hours(1),
            id_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.hours(12),
        )
        page.function.add_environment("COGNITO_DOMAIN", domain.base_url())
        page.function.add_environment("USER_POOL_ID", self.user_pool.user_pool_id)
        page.function.add_environment("USER_POOL_CLIENT_ID", self.client.user_pool_client_id)
        page.function.add_environment("REVIEW_PAGE_URL", self.url)
        page.function.add_environment("CLINICIANS_GROUP", CLINICIANS_GROUP)
        self._acknowledge(page)

    def _acknowledge(self, page: PipelineFunction) -> None:
        for method in self.api.methods:
            skip_checkov(
                method,
                "CKV_AWS_59",
                "The function signs every request in with Cognito (GetUser on the session) but /login and /callback.",
            )
        skip_checkov(self.api.deployment_stage, "CKV_AWS_120", "No caching: every response is a page of PHI.")
        synchronous = "Invoked synchronously by API Gateway: a failure is the browser's error page, nothing to redrive."
        page.invoked_synchronously(synchronous)
        signed_in = (
            "Every path but /login and /callback needs a session the function has Cognito check (GetUser, which "
            "validates the token's signature, expiry and revocation) and whose claims name this pool, this app "
            "client and the clinicians group: a server-rendered page keeps its session in an HttpOnly cookie, "
            "which API Gateway's Cognito authorizer cannot read."
        )
        acknowledge(self.api, "AwsSolutions-APIG4", signed_in)
        acknowledge(self.api, "AwsSolutions-COG4", signed_in)
        acknowledge(
            self.api,
            "AwsSolutions-APIG2",
            "One proxy route to one function, which checks every request's path, form and session itself.",
        )
        acknowledge(
            self.api,
            "AwsSolutions-APIG3",
            "A WAF web ACL bills monthly per ACL and rule; the page is behind Cognito with MFA and stage throttling. "
            "Associate one with the stage where the organisation requires it.",
        )
        acknowledge(
            self.api,
            "HIPAA.Security-APIGWCacheEnabledAndEncrypted",
            "No caching: every response is a clinician's page of PHI, sent with Cache-Control: no-store.",
        )
        acknowledge(
            self.api,
            "HIPAA.Security-APIGWSSLEnabled",
            "The integration is a Lambda proxy: there is no HTTP backend to present a client certificate to.",
        )
