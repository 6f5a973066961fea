"""saltUI: the web page for joy's flow records (server in :mod:`saltui_app.server`)."""
