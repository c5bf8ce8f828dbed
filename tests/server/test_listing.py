"""The listing API with the stock client: list_models (search, author, filter, sort, limit, cursor
pages through ``Link`` headers), list_repo_tree paging, update_repo_settings, move_repo, and their
refusals."""

from __future__ import annotations

import uuid

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils._pagination import paginate


@pytest.fixture
def ns_repos(alice: HfApi, bob: HfApi) -> tuple[str, list[str]]:
    """Five of alice's repos sharing a fresh word, one with a card; one private repo of bob's with it."""
    word = f"w{uuid.uuid4().hex[:6]}"
    ids = [f"alice/{word}-{i}" for i in range(5)]
    for rid in ids:
        alice.create_repo(rid)
    alice.upload_file(path_or_fileobj=b"---\ntags: [vision, edge]\npipeline_tag: image-classification\n---\n",
                      path_in_repo="README.md", repo_id=ids[3])
    bob.create_repo(f"bob/{word}-secret", private=True)
    return word, ids


def test_list_models_search_author_filter_sort_limit(alice, bob, anon, ns_repos) -> None:
    word, ids = ns_repos
    assert [m.id for m in anon.list_models(search=word)] == ids  # bob's private repo is not listed
    assert [m.id for m in bob.list_models(search=word, author="bob")] == [f"bob/{word}-secret"]
    assert [m.id for m in anon.list_models(search=word, author="bob")] == []
    assert [m.id for m in anon.list_models(search=word, filter="vision")] == [ids[3]]
    assert [m.id for m in anon.list_models(search=word, filter=["vision", "image-classification"])] == [ids[3]]
    assert [m.id for m in anon.list_models(search=word, filter="nlp")] == []
    by_date = [m.last_modified for m in anon.list_models(search=word, sort="last_modified")]
    assert by_date == sorted(by_date, reverse=True) and len(by_date) == 5  # newest first (1 s resolution)
    assert len(list(anon.list_models(search=word, limit=2))) == 2
    with pytest.raises(HfHubHTTPError):
        list(anon.list_models(sort="nonsense"))


def test_pages_follow_link_headers_without_repeats(server, ns_repos) -> None:
    word, ids = ns_repos
    first = httpx.get(f"{server.url}/api/models", params={"search": word, "limit": 2})
    assert len(first.json()) == 2 and 'rel="next"' in first.headers["link"]
    got = [m["id"] for m in paginate(f"{server.url}/api/models", {"search": word, "limit": 2}, {})]
    assert got == ids  # three pages, in order, nothing twice
    assert httpx.get(f"{server.url}/api/models", params={"cursor": "!!"}).status_code == 400
    assert httpx.get(f"{server.url}/api/models", params={"limit": "-3"}).status_code == 400


def test_list_repo_tree_recursive_pages(server, alice, repo_id) -> None:
    for i in range(5):
        alice.upload_file(path_or_fileobj=f"{i}".encode(), path_in_repo=f"d/e/f{i}.txt", repo_id=repo_id)
    page = httpx.get(f"{server.url}/api/models/{repo_id}/tree/main", params={"recursive": "true", "limit": 3})
    assert len(page.json()) == 3 and "cursor=" in page.headers["link"]
    url = f"{server.url}/api/models/{repo_id}/tree/main"
    paths = [e["path"] for e in paginate(url, {"recursive": "true", "limit": 3}, {})]
    assert paths == [f.path for f in alice.list_repo_tree(repo_id, recursive=True)]
    assert sorted(paths) == sorted([".gitattributes", "d", "d/e"] + [f"d/e/f{i}.txt" for i in range(5)])
    assert [f.path for f in alice.list_repo_tree(repo_id, path_in_repo="d/e")] == [f"d/e/f{i}.txt" for i in range(5)]


def test_update_repo_settings_private_toggle_and_refusals(alice, bob, anon, repo_id) -> None:
    alice.update_repo_settings(repo_id, private=True)
    assert repo_id not in [m.id for m in anon.list_models(author="alice")]
    with pytest.raises(HfHubHTTPError) as err:
        anon.model_info(repo_id)
    assert err.value.response.status_code == 404
    with pytest.raises(HfHubHTTPError) as err:
        bob.update_repo_settings(repo_id, private=False)
    assert err.value.response.status_code in (403, 404)
    with pytest.raises(HfHubHTTPError) as err:
        anon.update_repo_settings(repo_id, private=False)
    assert err.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as err:
        alice.update_repo_settings(repo_id, gated="auto")
    assert err.value.response.status_code == 400 and "gated" in str(err.value)
    alice.update_repo_settings(repo_id, private=False)
    assert anon.model_info(repo_id).private is False
    url = f"{alice.endpoint}/api/models/{repo_id}/settings"
    auth = {"Authorization": "Bearer alice-token"}
    assert httpx.put(url, json={"visibility": "protected"}, headers=auth).status_code == 400
    assert httpx.put(url, json={"private": "yes"}, headers=auth).status_code == 400  # wrong JSON type


def test_move_repo_keeps_content_and_refuses_what_it_should(server, alice, bob, repo_id) -> None:
    alice.upload_file(path_or_fileobj=b"hello", path_in_repo="a.txt", repo_id=repo_id)
    target = f"{repo_id}-moved"
    alice.move_repo(repo_id, target)
    assert [f.rfilename for f in alice.model_info(target).siblings] == [".gitattributes", "a.txt"]
    assert not alice.repo_exists(repo_id)
    with pytest.raises(HfHubHTTPError) as err:
        alice.move_repo(target, "bob/taken")  # bob's namespace
    assert err.value.response.status_code == 403
    bob.create_repo("bob/x-" + uuid.uuid4().hex[:6])
    other = f"alice/exists-{uuid.uuid4().hex[:6]}"
    alice.create_repo(other)
    with pytest.raises(HfHubHTTPError) as err:
        alice.move_repo(target, other)
    assert err.value.response.status_code == 409
    with pytest.raises(HfHubHTTPError) as err:
        alice.move_repo("alice/never-was", f"alice/n-{uuid.uuid4().hex[:6]}")
    assert err.value.response.status_code == 404
    move, auth = f"{server.url}/api/repos/move", {"Authorization": "Bearer alice-token"}
    assert httpx.post(move, json={"fromRepo": target}, headers=auth).status_code == 400
    assert httpx.post(move, json={"fromRepo": target, "toRepo": "a/../b"}, headers=auth).status_code == 400
    assert httpx.post(move, json={"fromRepo": target, "toRepo": f"{target}-2"}).status_code == 401
