"""The web UI's views, one module per page (and its actions). Each view takes the server's state
(`facesets.web.state.Web`) and the request (and, for a change, its checked form); web/app.py's
route table maps URLs to them."""
