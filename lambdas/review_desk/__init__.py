"""The clinician's review page, whatever serves it: the desk (what the page reads and does, through
clinical.review), the pages (server-rendered HTML), and the request logic between them (`app.respond`). The
local server (`scribe review --local`) and the function behind API Gateway and Cognito on AWS
(`edges.review_page`) are adapters of `respond` and nothing more."""
