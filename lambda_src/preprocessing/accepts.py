"""What the handler accepts, as data: read by the handler and by ``blueprint plan``'s trigger check.

Each entry is one delivery path: ``via`` is how the event reaches the function (``"sqs"``: an SQS event
source mapping whose message bodies are EventBridge events), ``source`` and ``detail-type`` the envelope
of the event in the body. The handler (:mod:`preprocessing.events`) parses exactly these shapes; the
system check ``system-lambda-trigger-accepted`` (blueprint/checks/triggers.py) loads this module from the
function's deployed archive and reports every invoker in the plan that delivers anything else.

This module is plain data with no imports, so the planner can load it without the function's dependencies.
Change it together with :mod:`preprocessing.events`; tests/lambda_src/test_lambda_events.py keeps them equal.
"""

ACCEPTS = (
    {"via": "sqs", "source": "aws.s3", "detail-type": "Object Created"},
    {"via": "sqs", "source": "aws.events", "detail-type": "Scheduled Event"},
)
"""Delivery paths the handler processes; every other message fails its record (and is dead-lettered)."""
