"""``hub dataset push FOLDER NS/NAME``: publish a folder of parquet files as a dataset repo, with a card.

The card's YAML says what ``datasets`` would otherwise guess: ``configs`` (which files are which
split, listed by exact path), ``dataset_info`` (the features from the parquet schemas, ``ClassLabel``
names included when the files were written by ``datasets``, and rows per split) and the license
when given; it is written with ``datasets``' own card helpers, as ``push_to_hub`` writes it.
Nothing in the user's folder is touched: the files are linked (or copied) into a temporary folder
beside the card and sent with ``upload_folder`` as one commit that also deletes parquet files the
folder no longer has, so the repo mirrors the folder. The hub and token are ``hub push``'s.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError, HubError
from .names import group_by_split

_REPO_RE = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


@dataclass
class PushedDataset:
    repo_id: str
    endpoint: str
    commit: str
    splits: dict[str, int]
    files: list[str]
    skipped: list[str] = field(default_factory=list)

    @property
    def reference(self) -> str:
        """What ``hub train --dataset`` takes to train on exactly this commit."""
        return f"hf:{self.repo_id}@{self.commit}"


def plan_files(folder: Path) -> tuple[dict[str, list[str]], list[str]]:
    """``({split: [relative parquet paths]}, [skipped files])``; a folder without parquet or an unplaceable file is one line."""
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder; give a folder of .parquet files (`hub dataset export digits DIR` writes one)")
    files, skipped = [], []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if any(part.startswith(".") for part in path.relative_to(folder).parts) or not path.is_file():
            continue
        (files if path.suffix == ".parquet" and not path.is_symlink() else skipped).append(rel)
    if not files:
        raise DataError(f"{folder}: holds no .parquet files; write them with pandas/pyarrow/datasets or "
                        "`hub dataset export NAME DIR`")
    splits = group_by_split(folder, files)
    if "train" not in splits:
        raise DataError(f"{folder}: no train file (found {', '.join(splits)}); name one train-*.parquet")
    return splits, skipped


def read_features(folder: Path, splits: dict[str, list[str]]) -> tuple[Any, dict[str, int]]:
    """The features every file shares (from the schema's ``datasets`` metadata, else its arrow types) and rows per split."""
    import datasets
    import pyarrow.parquet as pq

    features, rows = None, {}
    for split, rels in splits.items():
        for rel in rels:
            try:
                meta = pq.read_metadata(folder / rel)
                schema = meta.schema.to_arrow_schema()
            except Exception as exc:
                raise DataError(f"{folder / rel}: not a readable parquet file ({type(exc).__name__}: {exc})") from None
            found = datasets.Features.from_arrow_schema(schema)
            if features is None:
                features = found
            elif found != features:
                raise DataError(f"{folder / rel}: its columns ({', '.join(f'{k}: {v}' for k, v in found.items())}) differ "
                                f"from {folder / splits['train'][0]}'s; every file of a dataset needs the same columns")
            rows[split] = rows.get(split, 0) + meta.num_rows
    return features, rows


def card_text(features: Any, splits: dict[str, list[str]], rows: dict[str, int], repo_id: str, license: str,
              body: str = "") -> str:
    """README.md: YAML written by ``datasets``' card helpers (configs, dataset_info, license), then a short body."""
    import datasets
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    data = DatasetCardData(license=license or None)
    split_dict = datasets.SplitDict()
    for split in splits:
        split_dict.add(datasets.SplitInfo(name=split, num_examples=rows[split]))
    DatasetInfosDict({"default": datasets.DatasetInfo(features=features, splits=split_dict)}).to_dataset_card_data(data)
    MetadataConfigs({"default": {"data_files": [{"split": s, "path": sorted(p)} for s, p in splits.items()]}}
                    ).to_dataset_card_data(data)
    labels = [k for k, f in features.items() if type(f).__name__ == "ClassLabel"]
    text = body.strip() or (
        f"# {repo_id.split('/')[-1]}\n\nParquet files published with `hub dataset push`. "
        + ", ".join(f"{s}: {rows[s]} rows" for s in splits) + ".\n\n"
        + (f"Labels ({labels[0]}): {', '.join(features[labels[0]].names)}.\n\n" if labels else "")
        + f"Train on it with `hub train --backbone NAME --dataset hf:{repo_id}`.")
    return f"---\n{data.to_yaml()}\n---\n\n{text}\n"


def push_dataset(folder: Path, repo_id: str, *, license: str = "", private: bool = False,
                 endpoint: str | None = None, token: str | None = None) -> PushedDataset:
    """Publish ``folder``'s parquet files and a generated card as ``repo_id`` (a dataset repo, created if needed)."""
    from ..publish.client import resolve_target, translate
    from ..publish.files import PublishError

    folder = Path(folder)
    if not _REPO_RE.match(repo_id) or ".." in repo_id:
        raise DataError(f"{repo_id!r}: a dataset repo id is NAMESPACE/NAME (letters, digits, '-', '_', '.')")
    splits, skipped = plan_files(folder)
    features, rows = read_features(folder, splits)
    body = _user_body(folder / "README.md")
    target = resolve_target(endpoint, token)
    api = target.api()
    with tempfile.TemporaryDirectory(prefix="hub-dataset-push-") as tmp:
        stage = Path(tmp)
        for rels in splits.values():
            for rel in rels:
                _link_or_copy(folder / rel, stage / rel)
        (stage / "README.md").write_text(card_text(features, splits, rows, repo_id, license, body), encoding="utf-8")
        try:
            api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
            info = api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=str(stage),
                                     commit_message=f"Publish {repo_id.split('/')[-1]} with zoohub",
                                     delete_patterns=["*.parquet", "**/*.parquet"])
        except HubError:
            raise
        except Exception as exc:
            raise PublishError(str(translate(exc, target, f"dataset push to {repo_id}"))) from None
    commit = getattr(info, "oid", None) or api.dataset_info(repo_id).sha
    return PushedDataset(repo_id, target.endpoint, commit, rows, sorted(r for rels in splits.values() for r in rels),
                         [s for s in skipped if s != "README.md"])


def _user_body(readme: Path) -> str:
    """The prose of a README.md the folder already has (its own YAML header is replaced by ours)."""
    if not readme.is_file():
        return ""
    text = readme.read_text(encoding="utf-8", errors="replace")
    if text.startswith("---"):
        end = text.find("\n---", 3)
        text = text[end + 4:] if end != -1 else text
    return text


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
