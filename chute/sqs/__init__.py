"""SQS-compatible message queues: what Amazon SQS does, on Chute's catalog.

:mod:`.service` holds the operations (``CreateQueue``, ``SendMessage``,
``ReceiveMessage``...), checked and answered as SQS documents them; :mod:`.attributes`
the queue attributes and their limits; :mod:`.messages` the rules of message bodies and
attributes and the MD5 digests clients check; :mod:`.handles` receipt handles. The
wire protocols (JSON and query) are :mod:`chute.api.sqs`'s.
"""
