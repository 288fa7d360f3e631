"""How each server family is started so that it reports the settings it resolved.

One module per server family whose server cannot report by itself (gunicorn reports
through its config file's ``on_starting`` hook, ``labinstrument/gunicorn_conf.py``). Each
launcher parses its command line with the server's own parser, starts the server, and
publishes what the running server resolved (``labinstrument.settings``) for the lab's health
endpoint (``/_lab/health``).
"""
