"""Who is asking: AWS Signature Version 4 (:mod:`chute.security.sigv4`) and the
aws-chunked bodies whose chunks it signs (:mod:`chute.security.chunked`)."""
