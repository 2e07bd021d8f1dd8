"""The ``livejobs`` command: the server side (``serve``, ``migrate``, ``backup``, ``restore``:
``livejobs.cli.server``), the admin commands (``user``, ``token``: ``livejobs.cli.admin``) and
the client side (``jobs``, ``watch``, ``worker``), which talks to a running server through the
SDK like any other client (``livejobs.cli.client``, ``.watch``, ``.worker``)."""

from __future__ import annotations

import sys

import typer

from livejobs.cli import admin, client, server, types, watch, worker

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="livejobs: a reactive job server."
)
for command in (server.serve, server.migrate, server.backup, server.restore):
    app.command()(command)
app.add_typer(admin.user_app, name="user")
app.add_typer(admin.token_app, name="token")
# commands that talk to a running server
app.add_typer(client.jobs_app, name="jobs")
app.add_typer(types.types_app, name="types")
app.command("watch")(watch.watch)
app.command("worker")(worker.worker)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
