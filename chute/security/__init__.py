"""Who is asking: what proves a request's right to act, checked without the web framework
(the POST policies of browser uploads: :mod:`chute.security.post_policy`). Standard
library only; imports only core."""
