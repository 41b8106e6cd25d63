"""Who is asking: AWS Signature Version 4 (:mod:`chute.security.sigv4`, its canonical
forms in :mod:`chute.security.canonical`), what a request says of its body
(:mod:`chute.security.payload`), aws-chunked bodies, whose chunks and trailers it signs
(:mod:`chute.security.chunked`), and the POST policies of browser uploads
(:mod:`chute.security.post_policy`). Standard library only; imports only core."""
