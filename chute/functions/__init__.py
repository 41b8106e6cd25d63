"""Lambda-style functions: AWS ``handler(event, context)`` code run unchanged, each
invocation in an execution environment of its own (:mod:`.environment`), driven by
AWS's runtime client through Lambda's Runtime API (:mod:`.runtime_api`)."""
