"""Who is asking: AWS Signature Version 4 (:mod:`chute.security.sigv4`, its canonical
forms in :mod:`chute.security.canonical`) and what a request says of its body
(:mod:`chute.security.payload`). Standard library only; imports only core."""
