"""``hub push`` and ``hub pull``: publish an export folder, fetch a verified revision.

huggingface_hub is imported inside the commands (through :mod:`hub.publish`) so ``hub --help``
stays fast. Tokens are never echoed: output names the endpoint, repo, revision and commit only.
"""

from __future__ import annotations

from pathlib import Path

import click

from ._output import echo_json


@click.command()
@click.argument("export_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("repo_id")
@click.option("--revision", default="main", show_default=True, help="Branch to publish to (created if missing).")
@click.option("--tag", default=None, help="Tag the published commit (tags never move).")
@click.option("--private", is_flag=True, help="Create the repo as private.")
@click.option("--endpoint", default=None, metavar="URL",
              help="Hub to publish to [default: HF_ENDPOINT; without it and without a token, a local hub serve].")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def push(export_dir: Path, repo_id: str, revision: str, tag: str | None, private: bool, endpoint: str | None,
         as_json: bool) -> None:
    """Publish EXPORT_DIR (from `hub export`) to REPO_ID in one commit, with a model card.

    Pushing the same export again makes no new commit. The token comes from HF_TOKEN or
    `hf auth login`; files go over Xet (hub serve speaks it too) unless HF_HUB_DISABLE_XET=1.
    """
    from ..publish import push as do_push

    result = do_push(export_dir, repo_id, revision=revision, tag=tag, private=private, endpoint=endpoint)
    if as_json:
        echo_json({"url": result.url, "repo_id": result.repo_id, "revision": result.revision,
                   "commit_sha": result.commit_sha, "created_commit": result.created_commit, "tag": result.tag,
                   "endpoint": result.endpoint, "embedded": result.embedded, "files": result.files,
                   "deleted": result.deleted})
        return
    what = (f"pushed {len(result.files)} files" if result.created_commit
            else "up to date: the hub already had this export")
    click.echo(f"{what} -> {result.url} (commit {result.commit_sha[:12]}"
               + (f", tag {result.tag}" if result.tag else "") + ")")
    if result.embedded:
        from ..publish.embedded import home

        click.echo(f"  local hub serve at {result.endpoint} (data: {home()}); "
                   f"pull with: hub pull {result.repo_id} --revision {result.tag or result.commit_sha[:12]} --out DIR")


@click.command()
@click.argument("repo_id")
@click.option("--revision", default=None, help="Branch, tag or commit [default: main; or REPO_ID@REV].")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Folder to create (replaced atomically if it holds a previous pull).")
@click.option("--endpoint", default=None, metavar="URL",
              help="Hub to pull from [default: HF_ENDPOINT; without it and without a token, the local hub serve].")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def pull(repo_id: str, revision: str | None, out: Path, endpoint: str | None, as_json: bool) -> None:
    """Download REPO_ID at a pinned revision into --out, verifying every file's sha256."""
    from ..publish import pull_dir

    result = pull_dir(repo_id, out, revision, endpoint=endpoint)
    if as_json:
        echo_json({"path": str(result.path), "repo_id": result.repo_id, "revision": result.revision,
                   "commit_sha": result.commit_sha, "files": result.files, "endpoint": result.endpoint})
        return
    click.echo(f"pulled {result.repo_id}@{result.revision} (commit {result.commit_sha}) -> {result.path} "
               f"({result.files} files verified against hub_manifest.json)")
