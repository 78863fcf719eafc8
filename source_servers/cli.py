"""`partnerpulse sources ...`: generate a synthetic world and serve it with the stand-in servers."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import signal
import stat
import sys
import threading
from pathlib import Path

import click

from source_servers.shapes import DEFAULT_SHAPE, ORG_SHAPE_VARIABLE, SHAPES

DEFAULT_CACHE = Path(".partnerpulse") / "worlds"
ADMIN_TOKEN_VARIABLE = "PARTNERPULSE_SOURCES_ADMIN_TOKEN"


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _world_options(func):
    """The generation parameters shared by `generate` and `serve`."""
    options = [
        click.option("--seed", type=int, default=7, show_default=True, help="Random seed."),
        click.option("--partners", type=int, default=150, show_default=True),
        click.option("--months", type=int, default=36, show_default=True),
        click.option(
            "--scale", type=float, default=1.0, show_default=True, help="Volume multiplier."
        ),
        click.option(
            "--as-of",
            "as_of",
            type=click.DateTime(formats=["%Y-%m-%d"]),
            default=None,
            help="The world's 'today' (YYYY-MM-DD, UTC); default: today.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _stdout_is_private() -> bool:
    """Whether stdout reaches no other user: a terminal or pipe (read by whoever started
    this process), or a regular file that is, or is here made, readable by its owner alone.

    `make dev` redirects stdout into a file created with the umask (often world-readable);
    it is made private before the admin token is written to it.
    """
    try:
        fd = sys.stdout.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError, AttributeError):
        return False  # no file descriptor (an in-memory stream): nothing to check
    if not stat.S_ISREG(mode):
        return True
    if mode & 0o077:
        try:
            os.fchmod(fd, 0o600)
        except OSError:
            return False
    return not os.fstat(fd).st_mode & 0o077


@click.group("sources")
def sources() -> None:
    """Stand-in CRM (Salesforce), ERP (NetSuite) and partner-portal servers."""


@sources.command()
@_world_options
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".partnerpulse") / "world",
    show_default=True,
    help="Folder to write world.duckdb, pos/, truth.json and world.json into.",
)
def generate(
    seed: int, partners: int, months: int, scale: float, as_of: dt.datetime | None, out: Path
) -> None:
    """Generate a deterministic synthetic world."""
    from source_servers.generator import generate_world

    try:
        info = generate_world(
            out,
            seed=seed,
            partners=partners,
            months=months,
            scale=scale,
            as_of=as_of.date() if as_of else _today(),
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    click.echo(json.dumps(info, indent=2, default=str))


@sources.command()
@click.option(
    "--world",
    "world_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A generated world folder; without it, one is generated from the options below.",
)
@_world_options
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_CACHE,
    show_default=True,
    help="Where generated worlds are cached.",
)
@click.option(
    "--landing-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder the world's POS CSV files are dropped into.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--crm-port", type=int, default=8101, show_default=True)
@click.option("--erp-port", type=int, default=8102, show_default=True)
@click.option("--portal-port", type=int, default=8103, show_default=True)
@click.option(
    "--org-shape",
    type=click.Choice(sorted(SHAPES)),
    envvar=ORG_SHAPE_VARIABLE,
    default=DEFAULT_SHAPE,
    show_default=True,
    help=f"Serve the world shaped like another org (source_servers/shapes.py); "
    f"also read from {ORG_SHAPE_VARIABLE}.",
)
def serve(
    world_dir: Path | None,
    seed: int,
    partners: int,
    months: int,
    scale: float,
    as_of: dt.datetime | None,
    cache_dir: Path,
    landing_dir: Path | None,
    host: str,
    crm_port: int,
    erp_port: int,
    portal_port: int,
    org_shape: str,
) -> None:
    """Serve a world until SIGINT/SIGTERM; prints the variables to export.

    Also prints `PARTNERPULSE_SOURCES_ADMIN_TOKEN=...` (not exported), the token of the
    servers' /_admin/* routes, unless stdout is a file other users can read.
    """
    from source_servers.runtime import start_sources

    if world_dir is None:
        from source_servers.generator import ensure_world

        try:
            world_dir = ensure_world(
                cache_dir,
                seed=seed,
                partners=partners,
                months=months,
                scale=scale,
                as_of=as_of.date() if as_of else _today(),
            )
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        with start_sources(
            world_dir,
            landing_dir=landing_dir,
            host=host,
            ports=(crm_port, erp_port, portal_port),
            org_shape=org_shape,
        ) as running:
            for name, value in running.env().items():
                click.echo(f"export {name}={shlex.quote(value)}")
            if running.as_of:
                click.echo(f"export PARTNERPULSE_AS_OF={shlex.quote(str(running.as_of))}")
            # Not exported: a shell that sources these lines to start the pipeline (make
            # dev) keeps the token to itself instead of handing it to every child process.
            if _stdout_is_private():
                click.echo(f"{ADMIN_TOKEN_VARIABLE}={shlex.quote(running.admin_token)}")
            else:
                click.echo(
                    f"# {ADMIN_TOKEN_VARIABLE} withheld: stdout is a file other users may "
                    "read, so /_admin/* cannot be used",
                    err=True,
                )
            click.echo(f"# serving {world_dir}; stop with Ctrl-C or SIGTERM", err=True)
            while not stop.wait(3600):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("# stopped", err=True)


if __name__ == "__main__":
    sources()
