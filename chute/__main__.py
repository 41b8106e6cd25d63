from chute.cli.main import app

app()
