"""The Lambda API: AWS Lambda's REST-JSON front end over Chute's functions."""
