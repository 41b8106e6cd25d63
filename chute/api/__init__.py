"""Front ends: the JSON API (``rest``); the S3 API and dashboard come later."""
