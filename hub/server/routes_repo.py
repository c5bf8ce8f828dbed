"""Repo-level endpoints: create/delete, whoami, README YAML validation, refs, tags and branches.

Tags and branches are plain git refs moved with compare-and-swap under the repo lock, so a tag
created here is an ordinary git tag (annotated when the client gives a message).
"""

from __future__ import annotations

import time

from starlette.responses import Response

from .context import Ctx
from .cardmeta import parse_card_data
from .errors import JSONResponse, ServerError, bad_request, revision_not_found
from .limits import expect
from .repos import repo_key
from .storage import SHA_RE, identity

ZERO = "0" * 40


async def whoami(ctx: Ctx) -> Response:
    if ctx.user is None:
        raise ServerError(401, "Invalid credentials in Authorization header")
    orgs = [{"type": "org", "name": org, "fullname": org} for org in ctx.hub.auth.orgs_of(ctx.user)]
    return JSONResponse({
        "type": "user", "id": ctx.user, "name": ctx.user, "fullname": ctx.user, "email": None,
        "emailVerified": False, "canPay": False, "isPro": False, "orgs": orgs,
        "auth": {"type": "access_token", "accessToken": {"displayName": "hub serve token", "role": "write"}},
    })


async def validate_yaml(ctx: Ctx) -> Response:
    body = await ctx.json()
    try:
        parse_card_data(expect(body.get("content"), str, "content") or "")
    except ValueError as exc:
        # The client reads `errors` before raising, so answer its shape (and ours).
        return JSONResponse({"errors": [{"message": str(exc)}], "warnings": [], "error": str(exc)},
                            status_code=400, headers={"X-Error-Message": "Invalid README.md metadata"})
    return JSONResponse({"errors": [], "warnings": []})


def _repo_from_body(ctx: Ctx, body: dict) -> str:
    name, org = body.get("name"), expect(body.get("organization"), str, "organization")
    if not isinstance(name, str) or not name:
        raise bad_request("Missing repo 'name'")
    if "/" in name:
        org, name = name.split("/", 1)
    repo_type = expect(body.get("type"), str, "type")
    if repo_type == "space":
        raise bad_request("This server hosts model and dataset repositories, not Spaces")
    key = repo_key(repo_type, f"{org or ctx.user}/{name}")  # 400 for an unknown type
    if ctx.user is None:
        raise ServerError(401, "Authentication required: pass a token (Authorization: Bearer <token>)")
    return key


async def create_repo(ctx: Ctx) -> Response:
    body = await ctx.json()
    ctx.repo_id = _repo_from_body(ctx, body)
    ctx.hub.store.check_repo_id(ctx.repo_id)
    user = ctx.hub.auth.require_write(ctx.user, ctx.namespace)
    private = body.get("visibility") == "private" or bool(body.get("private"))
    url = f"{ctx.base_url}/{ctx.repo_id}"
    try:
        await ctx.run(lambda: ctx.hub.store.create(ctx.repo_id, private=private, user=user))
    except ServerError as exc:
        if exc.status == 409:  # the client reads `url` from the 409 when exist_ok=True
            exc.extra["url"] = url
        raise
    return JSONResponse({"url": url, "name": ctx.shown_id, "id": ctx.shown_id})


async def delete_repo(ctx: Ctx) -> Response:
    ctx.repo_id = _repo_from_body(ctx, await ctx.json())
    ctx.writable()
    async with ctx.hub.lock(ctx.repo_id):
        await ctx.run(ctx.hub.store.delete, ctx.repo_id)
    return JSONResponse({})


async def unsupported_type(ctx: Ctx) -> Response:
    raise ServerError(404, "This server hosts model and dataset repositories, not Spaces", "RepoNotFound")


async def refs(ctx: Ctx) -> Response:
    _, repo = ctx.readable()
    found = await ctx.run(repo.refs)

    def fmt(kind: str, items: list[tuple[str, str]]) -> list[dict]:
        return [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": c} for n, c in sorted(items)]

    return JSONResponse({"branches": fmt("heads", found["branches"]), "converts": [],
                         "tags": fmt("tags", found["tags"]), "pullRequests": []})


def _name_arg(ctx: Ctx, what: str) -> str:
    if not ctx.args or not ctx.args[0]:
        raise bad_request(f"Missing {what} name")
    return ctx.args[0]


async def create_tag(ctx: Ctx) -> Response:
    user, _, repo = ctx.writable()
    rev, body = _name_arg(ctx, "revision"), await ctx.json()
    tag, message = body.get("tag"), expect(body.get("message"), str, "message")
    if not isinstance(tag, str) or not await ctx.run(repo.check_ref_name, tag) or SHA_RE.match(tag):
        raise bad_request(f"Invalid tag name {tag!r}")

    def work() -> None:
        commit = repo.resolve(rev)
        if commit is None:
            raise revision_not_found(ctx.repo_id, rev)
        target = commit
        if message:
            ident = identity(user)
            obj = (f"object {commit}\ntype commit\ntag {tag}\n"
                   f"tagger {ident['GIT_COMMITTER_NAME']} <{ident['GIT_COMMITTER_EMAIL']}> {int(time.time())} +0000\n\n"
                   f"{str(message).strip()}\n")
            target = repo.git("mktag", input=obj.encode()).decode().strip()
        if not repo.update_ref(f"refs/tags/{tag}", target, ZERO):
            raise ServerError(409, f"Tag '{tag}' already exists")

    async with ctx.hub.lock(ctx.repo_id):
        await ctx.run(work)
    return JSONResponse({"name": tag})


async def _delete_ref(ctx: Ctx, kind: str, name: str) -> None:
    _, _, repo = ctx.writable()
    ref = f"refs/{kind}/{name}"

    def work() -> None:
        old = repo.ref_value(ref)
        if not old:
            what = "Tag" if kind == "tags" else "Branch"
            raise ServerError(404, f"{what} '{name}' not found", "RevisionNotFound")
        if not repo.update_ref(ref, "", old):
            raise ServerError(409, f"'{name}' changed while being deleted; retry")

    async with ctx.hub.lock(ctx.repo_id):
        await ctx.run(work)


async def delete_tag(ctx: Ctx) -> Response:
    await _delete_ref(ctx, "tags", _name_arg(ctx, "tag"))
    return JSONResponse({})


async def create_branch(ctx: Ctx) -> Response:
    _, _, repo = ctx.writable()
    branch = _name_arg(ctx, "branch")
    body = await ctx.json(allow_empty=True)
    start = expect(body.get("startingPoint"), str, "startingPoint") or "main"
    if not await ctx.run(repo.check_ref_name, branch) or SHA_RE.match(branch) or branch.startswith("refs/"):
        raise bad_request(f"Invalid branch name {branch!r}")

    def work() -> None:
        commit = repo.resolve(str(start))
        if commit is None:
            raise revision_not_found(ctx.repo_id, str(start))
        if not repo.update_ref(f"refs/heads/{branch}", commit, ZERO):
            raise ServerError(409, f"Branch '{branch}' already exists")

    async with ctx.hub.lock(ctx.repo_id):
        await ctx.run(work)
    return JSONResponse({"name": branch})


async def delete_branch(ctx: Ctx) -> Response:
    branch = _name_arg(ctx, "branch")
    if branch == "main":
        ctx.writable()
        raise ServerError(403, "Cannot delete the default branch 'main'")
    await _delete_ref(ctx, "heads", branch)
    return JSONResponse({})
