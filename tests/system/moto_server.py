"""``python tests/system/moto_server.py -H 127.0.0.1 -p PORT``: moto's server, authorising SQS batch actions
as AWS does.

AWS has no IAM actions for ``SendMessageBatch``, ``DeleteMessageBatch`` and ``ChangeMessageVisibilityBatch``:
"setting permissions for SendMessage, DeleteMessage, or ChangeMessageVisibility sets permissions for the
corresponding batch versions of the actions"
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-batch-api.html). moto
evaluates ``sqs:<Operation>`` instead, which would deny Lambda's event source mapping (it deletes in batches)
and the sweep (it sends in batches) under roles that are right for AWS. Nothing else is changed.
"""

from __future__ import annotations

import sys
from typing import Any

from moto.iam import access_control
from moto.server import main

BATCH_ACTIONS = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}

_init = access_control.IAMRequestBase.__init__


def _init_with_aws_batch_actions(self: Any, *args: Any, **kwargs: Any) -> None:
    _init(self, *args, **kwargs)
    self._action = BATCH_ACTIONS.get(self._action, self._action)


access_control.IAMRequestBase.__init__ = _init_with_aws_batch_actions  # type: ignore[method-assign]

if __name__ == "__main__":
    main(sys.argv[1:])
