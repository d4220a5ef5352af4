"""The ``outcomes`` command line."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="ROMs: routine outcome measurement for CYP mental health services.",
    no_args_is_help=True,
)


@app.command()
def demo() -> None:
    """Run the end-to-end demo on the embedded broker and database."""
    typer.echo("The stream pipeline has not landed yet: only the scoring library works so far.")
    raise typer.Exit(code=1)


if __name__ == "__main__":
    app()
