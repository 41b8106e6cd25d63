"""Who is asking: AWS Signature Version 4 (:mod:`chute.security.sigv4`, its canonical
forms in :mod:`chute.security.canonical`), what a request says of its body
(:mod:`chute.security.payload`), and aws-chunked bodies, whose chunks and trailers it
signs (:mod:`chute.security.chunked`). Standard library only; imports only core."""
