from facesets.cli.main import app

app(prog_name="facesets")
