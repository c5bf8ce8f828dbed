"""Mutants that survived ``make mutation`` (issue 21, item 2b) and changed behaviour a user relies on.

Each test names the mutant it kills (mutmut 3 names: ``module.x_function__mutmut_N``); the
mutation table is in BENCHMARKS.md ("Mutation testing (issue 21)"). All of them are fast,
in-process and need no network, model or server.
"""

from __future__ import annotations

import importlib.util
import json
import types
from pathlib import Path

import pytest

from hub.errors import WeightsError
from hub.publish.files import MANIFEST, IntegrityError, build_manifest, manifest_bytes
from hub.weights import resolve_pretrain_weights, sha256_file

_XB = Path(__file__).resolve().parents[1] / "server" / "xet_build.py"


def _xet_build() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("_xet_build_for_mutants", _XB)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the export gate: criteria, floors and what the report says ---------------------------------

class _Accuracy:
    """The task side of the gate: top-1 accuracy (a fraction, like the plugins' metrics)."""

    @staticmethod
    def metrics(logits, labels):
        return {"accuracy": float((logits.argmax(-1) == labels).float().mean())}


def _judge(got_rows: list[list[float]], tol):
    """``_compare`` on 3 samples in two batches (2 + 1) whose PyTorch logits are ``want`` below."""
    import numpy as np

    from hub.exporting.gate import Pass, Reference, _compare

    want = np.array([[3.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 3.0]])
    got = np.asarray(got_rows, dtype=np.float32)
    feeds = [{"pixel_values": np.zeros((2, 1), np.float32)}, {"pixel_values": np.zeros((1, 1), np.float32)}]
    ref = Reference(passes=[Pass("batch-2", [(feeds[0], np.array([0, 1])), (feeds[1], np.array([2]))], [want[:2], want[2:]])],
                    labels=np.array([0, 1, 2]), full=0, input_names=("pixel_values",), output_names=("logits",),
                    task=_Accuracy(), primary_metric="accuracy", seconds=0.0)
    result = {"failures": [], "criteria": {}}
    _compare(result, ref, [[got[:2], got[2:]]], tol)
    return result


def test_the_gate_reports_the_worst_sample_drop_and_resolution_exactly():
    """Kills hub.exporting.gate.x__compare__mutmut_97 (worst sample index offset - row), __mutmut_153 (drop
    scaled by 101) and __mutmut_181 (resolution rounded to an integer): the numbers a user reads to find
    the sample that broke and to judge a metric budget."""
    from hub.exporting.gate import Tolerance

    flipped = [[3.0, 1.0, 0.0], [0.0, 3.0, 4.0], [1.0, 0.0, 3.0]]  # sample 1 changes class (1 -> 2)
    result = _judge(flipped, Tolerance(atol=1e-3, rtol=0.0, max_metric_drop=10.0, min_agreement=0.9))
    assert result["worst"][0] == {"pass": "batch-2", "sample": 1, "output": "logits[2]", "onnx": 4.0,
                                  "pytorch": 1.0, "abs_diff": 3.0}
    assert result["metric_drop_points"] == 33.3333 and result["metric_resolution_points"] == 33.3333
    assert result["top1_agreement"] == pytest.approx(2 / 3) and result["max_abs_diff"] == 3.0
    assert result["criteria"] == {"elementwise": "failed", "metric_drop": "failed", "top1_agreement": "failed"}
    assert "worst: batch-2 sample 1 logits[2] onnx 4 vs pytorch 1" in result["failures"][0]
    assert result["failures"][1].startswith("accuracy drops 33.33 points (1.0000 -> 0.6667), budget 10")
    assert result["failures"][2] == "top-1 agreement 0.667 is below the floor 0.9 (1 of 3 samples changed class)"

    same = _judge([[3.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 3.0005]],
                  Tolerance(atol=1e-3, rtol=0.0, max_metric_drop=0.0, min_agreement=1.0))
    assert same["failures"] == [] and set(same["criteria"].values()) == {"passed"}


def test_default_tolerances_are_the_documented_table():
    """Kills hub.exporting.gate.x_default_tolerances__mutmut_44 (fp16 lost its rtol floor of 5e-2)."""
    from hub.exporting.gate import MIN_AGREEMENT, Tolerance, default_tolerances

    got = default_tolerances(1e-4, 1e-3, 1.0)
    assert got == {
        "fp32": Tolerance(1e-4, 1e-3, 1.0, MIN_AGREEMENT["fp32"]),
        "optimized": Tolerance(1e-3, 1e-3, 1.0, MIN_AGREEMENT["optimized"]),
        "fp16": Tolerance(0.25, 5e-2, 1.0, MIN_AGREEMENT["fp16"]),
        "bf16": Tolerance(None, 1e-3, 1.0, MIN_AGREEMENT["bf16"]),  # OpenVINO's bf16: metric + agreement only
        "int8-dynamic": Tolerance(None, 1e-3, 1.0, MIN_AGREEMENT["int8-dynamic"]),
        "int8-static": Tolerance(None, 1e-3, 1.0, MIN_AGREEMENT["int8-static"]),
    }
    assert {t.min_agreement for t in default_tolerances(1e-4, 1e-3, 1.0, 0.5).values()} == {0.5}
    assert default_tolerances(1.0, 0.2, 2.0)["fp16"] == Tolerance(1.0, 0.2, 2.0, MIN_AGREEMENT["fp16"])


def test_too_few_samples_is_refused_with_the_report_saying_why():
    """Kills hub.exporting.gate.x_sample_criterion__mutmut_31 (the GateError carried no report)."""
    from hub.exporting.gate import MIN_SAMPLES, GateError, sample_criterion

    with pytest.raises(GateError, match=r"^run: only 10 held-out samples .* floor of 50 \(one changed answer "
                                        r"would be 10.0 points\)") as err:
        sample_criterion(10, allow_few=False, where="run")
    assert err.value.report["passed"] is False
    assert err.value.report["gate"]["samples"] == 10 and err.value.report["gate"]["min_samples"] == MIN_SAMPLES


# --- weights verification: backbone.weights = a `hub pretrain` folder ----------------------------

def _pretrain_folder(root: Path, backbone: str = "tiny-net") -> Path:
    """The files ``resolve_pretrain_weights`` reads from a ``hub pretrain --out`` folder (weights not parsed)."""
    root.mkdir()
    (root / "backbone.safetensors").write_bytes(b"not parsed here, only hashed")
    info = {"backbone": {"name": backbone}, "weights": {"sha256": sha256_file(root / "backbone.safetensors")},
            "objective": "simclr", "epochs": 3, "seed": 7, "data": {"dataset": "digits", "labels_used": 0}}
    (root / "pretrain.json").write_text(json.dumps(info))
    return root


def test_a_folder_that_is_not_a_pretrain_output_says_so(tmp_path):
    """Kills hub.weights.x_resolve_pretrain_weights__mutmut_61 (the error lost its message)."""
    (tmp_path / "plain").mkdir()
    with pytest.raises(WeightsError, match=r"backbone.weights '.*plain': not a `hub pretrain` output "
                                           r"\(pretrain.json missing or malformed in .*plain\)"):
        resolve_pretrain_weights(str(tmp_path / "plain"), types.SimpleNamespace(name="tiny-net"))


def test_a_local_pretrain_folder_is_recorded_with_its_provenance(tmp_path):
    """Kills x_resolve_pretrain_weights__mutmut_13 (record key renamed) and __mutmut_109 (dataset lost
    from the description): run.json's weights record is what says where a model's start came from."""
    folder = _pretrain_folder(tmp_path / "pre")
    named = resolve_pretrain_weights(str(folder), types.SimpleNamespace(name="tiny-net"))
    assert named.path == folder / "backbone.safetensors"
    assert named.record["kind"] == "path" and named.record["location"] == str(folder.resolve())
    assert named.record["dataset"] == "digits" and named.record["objective"] == "simclr"
    assert named.record["description"] == "hub pretrain simclr on digits (3 epochs, seed 7)"
    assert named.record["sha256"] == sha256_file(folder / "backbone.safetensors")


# --- pull's manifest checks ---------------------------------------------------------------------

def test_a_malformed_manifest_names_the_repo_and_revision(tmp_path):
    """Kills hub.publish.pull.x__verify__mutmut_12 (the error said ``None:`` instead of the repo)."""
    from hub.publish.pull import _verify

    (tmp_path / "model.onnx").write_bytes(b"x")
    (tmp_path / MANIFEST).write_text('{"format": 1, "files": []}')
    with pytest.raises(IntegrityError, match=r"^alice/m@main \(0123456789ab\): hub_manifest.json is malformed"):
        _verify(tmp_path, "alice/m@main (0123456789ab)")


def test_a_well_formed_manifest_verifies_every_file(tmp_path):
    from hub.publish.pull import _verify

    (tmp_path / "model.onnx").write_bytes(b"onnx bytes")
    files = {"model.onnx": tmp_path / "model.onnx"}
    (tmp_path / MANIFEST).write_bytes(manifest_bytes(build_manifest(files, {})))
    assert _verify(tmp_path, "alice/m@main") == 1


def test_a_tampered_snapshot_is_refused_naming_the_repo_and_evicted(tmp_path):
    """Kills hub.publish.pull.x__finish__mutmut_5 (the refusal said ``None:`` instead of repo@rev (sha))."""
    from hub.publish.pull import _finish

    folder = tmp_path / "snap"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"onnx bytes")
    (folder / MANIFEST).write_bytes(manifest_bytes(build_manifest({"model.onnx": folder / "model.onnx"}, {})))
    (folder / "model.onnx").write_bytes(b"onnx byteZ")  # same size, other content
    sha = "0123456789abcdef" * 2 + "01234567"
    with pytest.raises(IntegrityError, match=r"^alice/m@main \(0123456789ab\): model.onnx has sha256 "):
        _finish(folder, "alice/m", "main", sha, "http://hub", evict=False)
    assert folder.is_dir()
    with pytest.raises(IntegrityError):
        _finish(folder, "alice/m", "main", sha, "http://hub", evict=True)
    assert not folder.exists()


class _Listing:
    """Stands in for ``HfApi``: ``model_info`` lists these files at a fixed commit."""

    def __init__(self, *names: str):
        self.names = names

    def model_info(self, repo_id, revision=None, files_metadata=False):
        return types.SimpleNamespace(sha="0123456789abcdef" * 2 + "01234567",
                                     siblings=[types.SimpleNamespace(rfilename=n) for n in self.names])


def test_a_listing_with_a_pickle_is_refused_before_download_naming_the_repo():
    """Kills hub.publish.pull.x__resolve__mutmut_24 (the refusal said ``None:`` instead of repo@rev)."""
    from hub.publish.client import Target
    from hub.publish.files import RefusedFile
    from hub.publish.pull import _resolve

    target = Target("http://127.0.0.1:9")
    with pytest.raises(RefusedFile, match=r"^alice/m@v1: refused 1 file\(s\): weights.pt: pickle-based formats"):
        _resolve(_Listing(MANIFEST, ".gitattributes", "model.onnx", "weights.pt"), target, "alice/m", "v1")
    with pytest.raises(IntegrityError, match=r"^alice/m@v1 \(0123456789ab\): no hub_manifest.json"):
        _resolve(_Listing(".gitattributes", "model.onnx"), target, "alice/m", "v1")
    sha, names = _resolve(_Listing(MANIFEST, ".gitattributes", "model.onnx"), target, "alice/m", "v1")
    assert sha.startswith("0123456789ab") and names == [MANIFEST, ".gitattributes", "model.onnx"]


def test_onnx_external_data_is_published_beside_its_model_and_refusals_are_counted():
    """Kills hub.publish.files.x_check_files__mutmut_6 (siblings dropped: a model's .data file crashed
    the check) and __mutmut_26 (the "and N more" count was one short)."""
    from hub.publish.files import RefusedFile, check_files

    check_files(None, ["onnx/model.onnx", "onnx/weights.data", "config.json"], where="alice/m@v1")
    with pytest.raises(RefusedFile, match=r"^alice/m@v1: refused 1 file\(s\): weights.data: a .data file is only"):
        check_files(None, ["onnx/model.onnx", "weights.data"], where="alice/m@v1")
    bad = [f"w{i}.pkl" for i in range(7)]
    with pytest.raises(RefusedFile, match=r"refused 7 file\(s\): w0.pkl: .* as safetensors; and 2 more$") as err:
        check_files(None, bad, where="alice/m@v1")
    assert "w4.pkl" in str(err.value) and "w5.pkl" not in str(err.value)


# --- Xet: the CAS store -------------------------------------------------------------------------

def test_a_xorb_is_inserted_once_and_a_second_upload_says_it_was_not(tmp_path):
    """Kills hub.server.xet.store.xǁXetStoreǁput_xorb__mutmut_49 (``was_inserted`` inverted): the CAS
    answer ``{"was_inserted": ...}`` comes from this value."""
    from hub.server.xet.store import XetStore

    name, blob = _xet_build().xorb([b"a" * 100, b"b" * 50])
    store = XetStore(tmp_path)
    try:
        assert store.put_xorb(name, blob, "alice/m") is True
        assert store.put_xorb(name, blob, "bob/m") is False
        assert sorted(store.owners(name)) == ["alice/m", "bob/m"]
        assert (tmp_path / "xet" / "xorbs" / name[:2] / name).read_bytes() == blob
        assert b"".join(store.read_range(name, 0, len(blob))) == blob
    finally:
        store.close()


# --- checkpoint / resume: the in-process twin of the kill-and-resume tests ----------------------
# The resume tests kill a `hub train` subprocess, which mutmut cannot map to the functions it
# calls, so without these every mutant of latest/restore/set_rng_state/damaged had no test.

def _trainee(seed: int):
    import torch

    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    return model, optimizer, scheduler


def _step(model, optimizer, scheduler) -> None:
    import torch

    loss = model(torch.randn(8, 4)).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    scheduler.step()


def test_a_checkpoint_restores_weights_optimiser_scheduler_rng_and_state(tmp_path):
    import torch

    from hub.training import checkpoint

    model, optimizer, scheduler = _trainee(0)
    _step(model, optimizer, scheduler)
    state = {"epoch": 1, "step": 5, "history": [{"val_loss": 0.5}], "extra": {"best": 0.5}}
    checkpoint.save(tmp_path, 1, model, optimizer, scheduler, state)
    _step(model, optimizer, scheduler)
    path = checkpoint.save(tmp_path, 2, model, optimizer, scheduler, dict(state, epoch=2))
    assert [p.name for p in (tmp_path / "checkpoints").glob("epoch-*")] == ["epoch-0002"]  # older ones pruned
    expected_draw = torch.rand(3)  # the RNG state saved with epoch 2 is the one before this draw
    assert checkpoint.latest(tmp_path) == path == tmp_path / "checkpoints" / "epoch-0002"

    fresh, fresh_opt, fresh_sched = _trainee(1)
    torch.manual_seed(123)
    got = checkpoint.restore(path, fresh, fresh_opt, fresh_sched)
    assert got == dict(state, epoch=2)
    assert torch.equal(torch.rand(3), expected_draw)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), model.state_dict().values()))
    assert fresh_sched.state_dict() == scheduler.state_dict()
    want, have = optimizer.state_dict(), fresh_opt.state_dict()
    assert have["param_groups"] == want["param_groups"]
    assert all(torch.equal(have["state"][k]["exp_avg"], want["state"][k]["exp_avg"]) for k in want["state"])


def test_no_checkpoint_or_an_unfinished_one_is_not_resumed(tmp_path):
    from hub.training import checkpoint

    assert checkpoint.latest(tmp_path) is None
    (tmp_path / "checkpoints" / "epoch-0003").mkdir(parents=True)
    (tmp_path / "checkpoints" / "last.json").write_text('{"checkpoint": "epoch-0003", "epoch": 3}')
    assert checkpoint.latest(tmp_path) is None  # no state.json: never completed
    (tmp_path / "checkpoints" / "epoch-0003" / "state.json").write_text("{}")
    assert checkpoint.latest(tmp_path) == tmp_path / "checkpoints" / "epoch-0003"


@pytest.mark.parametrize("pointer, reason", [
    ('{"checkpoint": ', "JSONDecodeError: "),
    ('{"checkpoint": "../../elsewhere"}', "ValueError: names '../../elsewhere', not a checkpoint folder epoch-NNNN"),
    ('{"checkpoint": "epoch-12"}', "ValueError: names 'epoch-12'"),
    ('{"checkpoint": 7}', "ValueError: names 7"),
    ('{"epoch": 3}', "KeyError: 'checkpoint'"),
    ('["epoch-0001"]', "TypeError: "),
])
def test_a_garbled_pointer_is_one_line_naming_the_file(tmp_path, pointer, reason):
    from hub.training import checkpoint
    from hub.training.rundir import RunDirError

    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.json").write_text(pointer)
    with pytest.raises(RunDirError) as err:
        checkpoint.latest(tmp_path)
    text = str(err.value)
    assert text.startswith(f"{tmp_path / 'checkpoints' / 'last.json'}: damaged checkpoint ({reason}")
    assert text.endswith("); it cannot be resumed: restore the file or start a new run") and "\n" not in text


@pytest.mark.parametrize("damage, file, reason", [
    (lambda p: (p / "model.safetensors").write_bytes(b""), "model.safetensors", ""),
    (lambda p: (p / "optim.pt").write_bytes(b"garbage"), "optim.pt", "UnpicklingError: Weights only load failed"),
    (lambda p: (p / "state.json").write_text("{"), "state.json", "JSONDecodeError: "),
    (lambda p: (p / "state.json").write_text('{"epoch": "2", "step": 1, "history": [], "extra": {}}'),
     "state.json", "TypeError: 'epoch' is not a int"),
    (lambda p: (p / "state.json").write_text('{"epoch": 2, "step": 1, "history": {}, "extra": {}}'),
     "state.json", "TypeError: 'history' is not a list"),
    (lambda p: (p / "state.json").write_text('{"epoch": 2, "step": 1, "history": []}'),
     "state.json", "KeyError: 'extra'"),
])
def test_a_damaged_checkpoint_file_is_one_line_naming_it(tmp_path, damage, file, reason):
    from hub.training import checkpoint
    from hub.training.rundir import RunDirError

    model, optimizer, scheduler = _trainee(0)
    path = checkpoint.save(tmp_path, 2, model, optimizer, scheduler,
                           {"epoch": 2, "step": 1, "history": [], "extra": {}})
    damage(path)
    with pytest.raises(RunDirError) as err:
        checkpoint.restore(path, *_trainee(1))
    text = str(err.value)
    assert text.startswith(f"{path / file}: damaged checkpoint ({reason}") and "\n" not in text
    assert text.endswith("); it cannot be resumed: restore the file or start a new run")


def test_weights_of_another_model_are_refused_by_name(tmp_path):
    import torch

    from hub.training import checkpoint
    from hub.training.rundir import RunDirError

    model, optimizer, scheduler = _trainee(0)
    path = checkpoint.save(tmp_path, 1, model, optimizer, scheduler, {"epoch": 1, "step": 1, "history": [], "extra": {}})
    other = torch.nn.Sequential(torch.nn.Linear(4, 3))
    with pytest.raises(RunDirError, match=r"model.safetensors: damaged checkpoint \(ValueError: .*weights do not fit "
                                          r"the model \(missing \[\], unexpected \['2.bias', '2.weight'\]\)"):
        checkpoint.restore(path, other, torch.optim.SGD(other.parameters(), lr=0.1),
                           torch.optim.lr_scheduler.StepLR(torch.optim.SGD(other.parameters(), lr=0.1), 1))


_UNPICKLED: list[str] = []


class _Payload:
    """What a hostile optim.pt could hold: unpickling it runs code (here: it only records that it ran)."""

    def __reduce__(self):
        return _UNPICKLED.append, ("ran",)


def test_an_optimiser_file_holding_a_pickled_object_is_refused_unopened(tmp_path):
    """Kills hub.training.checkpoint.x_restore__mutmut_27 (``weights_only=False``: a checkpoint could run code)."""
    import torch

    from hub.training import checkpoint
    from hub.training.rundir import RunDirError

    model, optimizer, scheduler = _trainee(0)
    path = checkpoint.save(tmp_path, 1, model, optimizer, scheduler, {"epoch": 1, "step": 1, "history": [], "extra": {}})
    blob = torch.load(path / "optim.pt", weights_only=True)
    blob["payload"] = _Payload()
    torch.save(blob, path / "optim.pt")
    with pytest.raises(RunDirError, match=r"optim.pt: damaged checkpoint \(UnpicklingError: "):
        checkpoint.restore(path, *_trainee(1))
    assert _UNPICKLED == []


def test_a_long_library_message_is_cut_to_one_short_line(tmp_path):
    """Also kills hub.training.checkpoint.x_damaged__mutmut_12/13 (the 200-character cut moved by one)."""
    from hub.training.checkpoint import damaged

    exact = str(damaged(tmp_path / "f", ValueError("y" * 188)))  # "ValueError: " + 188 = 200 characters
    assert f"(ValueError: {'y' * 188})" in exact
    over = str(damaged(tmp_path / "f", ValueError("y" * 189)))
    assert f"(ValueError: {'y' * 188}...)" in over

    text = str(damaged(tmp_path / "optim.pt", RuntimeError("x" * 300 + "\nsecond line")))
    assert f"({'RuntimeError: ' + 'x' * 186}...)" in text and "second line" not in text
    assert str(damaged(tmp_path / "f", EOFError())).startswith(f"{tmp_path / 'f'}: damaged checkpoint (EOFError)")


def test_a_term_past_the_end_of_its_xorb_is_rejected_saying_so(tmp_path):
    """Kills hub.server.xet.store.xǁXetStoreǁcheck_file__mutmut_22 (the 400's message was ``None``)."""
    from hub.server.xet.formats import FileInfo, Term
    from hub.server.xet.hashing import hex_to_hash
    from hub.server.xet.store import Rejected, XetStore

    name, blob = _xet_build().xorb([b"a" * 100, b"b" * 50])
    store = XetStore(tmp_path)
    try:
        store.put_xorb(name, blob, "alice/m")
        info = FileInfo(hash=b"\x01" * 32, terms=[Term(hex_to_hash(name), 150, 0, 3, b"v" * 32)], sha256=b"\x02" * 32)
        with pytest.raises(Rejected, match=r"term 0 asks for chunks \[0, 3\) of a 2-chunk xorb"):
            store.check_file(info, lambda xorb: True)
    finally:
        store.close()


def test_a_file_is_rebuilt_from_its_xorb_by_range_and_its_sha256_checked(tmp_path):
    """Was the materialise test (its mutant is gone with the LFS mirror): ranges that start and end
    inside chunks, across a chunk boundary, and a wrong sha256 claim, through the same store."""
    import hashlib

    from hub.server.xet.store import Rejected, XetStore

    chunks = [b"a" * 100, b"b" * 50, b"c" * 70]
    name, blob = _xet_build().xorb(chunks)
    data = b"".join(chunks)
    store = XetStore(tmp_path)
    try:
        store.put_xorb(name, blob, "alice/m")
        terms = [[name, 0, 3]]
        for lo, hi in ((0, None), (0, 1), (99, 101), (120, 220), (150, 151), (219, 220)):
            assert b"".join(store.iter_file(terms, lo, hi)) == data[lo:hi], (lo, hi)
        store.verify_file(terms, hashlib.sha256(data).hexdigest(), len(data))
        with pytest.raises(Rejected, match="the shard says"):
            store.verify_file(terms, "ab" * 32, len(data))
    finally:
        store.close()


# --- server tokens ------------------------------------------------------------------------------

@pytest.mark.parametrize("header", ["Basic dG9rOg==", "Bearer ", "Bearer    ", "token-without-scheme"])
def test_a_malformed_authorization_header_is_a_401_saying_so(header):
    """Kills hub.server.auth.xǁAuthǁuser_for__mutmut_14 (the 401 for a malformed header had no message)."""
    from hub.server.auth import Auth, hash_token
    from hub.server.errors import ServerError

    auth = Auth({"secret-token": "alice", hash_token("other-token"): "bob"})
    assert auth.user_for("Bearer secret-token") == "alice" and auth.user_for("bearer other-token") == "bob"
    assert auth.user_for(None) is None and auth.user_for("") is None
    with pytest.raises(ServerError) as err:
        auth.user_for(header)
    assert err.value.status == 401 and str(err.value) == "Invalid credentials in Authorization header"
