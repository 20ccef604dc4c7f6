"""Writes the test fixtures that the Rust tests compare against reference implementations.

Run it through tools/make_fixtures.sh (a throwaway venv with pinned packages). Every fixture
is small and seeded, so rerunning reproduces the committed bytes.

Fixtures:
- crates/lm/tests/fixtures/quants.gguf: one small tensor per ggml type the lm crate
  dequantises, each followed by `<name>.expected`, the F32 values the `gguf` package's own
  dequantisation gives for it; plus metadata of every GGUF value type, and a non-default
  alignment, for the parser tests.
- crates/lm/tests/fixtures/<arch>/: tiny random-weight Hugging Face checkpoints
  (config.json + safetensors) of every decoder family, saved the way transformers saves them
  (tied and untied heads, a sharded checkpoint, a bf16 checkpoint, a Llama 3 RoPE scaling, a
  sequence-classification reward model), and expected.json: a padded batch of uneven
  sequences and transformers' float32 outputs for it.
- crates/lm/tests/fixtures/minilm.json: three sentences, their token ids and their
  all-MiniLM-L6-v2 sentence embeddings (mean pooling + L2 norm, as sentence-transformers
  computes them), from the real model fetched by `cargo xtask assets`.
"""

import sys
from pathlib import Path

import json

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize

# Types with a quantiser in the gguf package: quantise real-valued data.
QUANTISED = [T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1]
# K-quants have only a dequantiser there: random blocks with finite f16 scales.
K_QUANTS = {T.Q4_K: 144, T.Q5_K: 176, T.Q6_K: 210}
ROWS, COLS = 3, 512


def f16_bytes(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float16).view(np.uint8).reshape(-1, 2)


def random_k_blocks(rng: np.random.Generator, qtype: T, n_blocks: int) -> np.ndarray:
    size = K_QUANTS[qtype]
    blocks = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    scales = f16_bytes(rng.uniform(-0.05, 0.05, size=n_blocks))
    if qtype == T.Q6_K:
        blocks[:, size - 2:] = scales  # d is the last field
    else:
        blocks[:, 0:2] = scales  # d
        blocks[:, 2:4] = f16_bytes(rng.uniform(0.0, 0.05, size=n_blocks))  # dmin
    return blocks


def write_quants(path: Path) -> None:
    rng = np.random.default_rng(20261126)
    writer = gguf.GGUFWriter(path, arch="fixture")
    writer.add_custom_alignment(64)
    writer.add_uint8("test.u8", 200)
    writer.add_int8("test.i8", -100)
    writer.add_uint16("test.u16", 60000)
    writer.add_int16("test.i16", -30000)
    writer.add_uint32("test.u32", 4000000000)
    writer.add_int32("test.i32", -2000000000)
    writer.add_float32("test.f32", 0.15625)
    writer.add_bool("test.bool", True)
    writer.add_string("test.string", "héllo, wörld ✓")
    writer.add_uint64("test.u64", 2**63 + 5)
    writer.add_int64("test.i64", -(2**62))
    writer.add_float64("test.f64", -2.5e-300)
    writer.add_array("test.array_i32", [1, -2, 3])
    writer.add_array("test.array_str", ["a", "", "ç"])

    data = rng.standard_normal((ROWS, COLS)).astype(np.float32)
    writer.add_tensor("f32", data)
    writer.add_tensor("f16", data.astype(np.float16))
    writer.add_tensor("f16.expected", data.astype(np.float16).astype(np.float32))
    for qtype in QUANTISED:
        raw = quantize(data, qtype)
        name = qtype.name.lower()
        writer.add_tensor(name, raw, raw_dtype=qtype)
        writer.add_tensor(name + ".expected", dequantize(raw, qtype).astype(np.float32))
    for qtype in K_QUANTS:
        n_blocks = ROWS * COLS // 256
        raw = random_k_blocks(rng, qtype, n_blocks).reshape(ROWS, -1)
        name = qtype.name.lower()
        writer.add_tensor(name, raw, raw_dtype=qtype)
        writer.add_tensor(name + ".expected", dequantize(raw, qtype).astype(np.float32))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# Sequences of uneven lengths, right-padded with PAD in the batch.
SEQUENCES = [[5, 17, 99, 3, 64, 2, 11], [7, 7, 120, 45], [33]]
PAD = 0

TINY = dict(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
            rms_norm_eps=1e-5, pad_token_id=PAD, bos_token_id=1, eos_token_id=2)

DECODERS = {
    # name: (config class, model class, extra config, save options)
    "llama": ("LlamaConfig", "LlamaForCausalLM",
              dict(tie_word_embeddings=True, rope_theta=10000.0,
                   rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                     high_freq_factor=4.0, original_max_position_embeddings=16)),
              dict()),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM",
              dict(tie_word_embeddings=False, rope_theta=1000000.0),
              dict(max_shard_size="100KB")),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM",
              dict(tie_word_embeddings=True, head_dim=24, rope_theta=1000000.0),
              dict(dtype="bfloat16")),
    "llama-rm": ("LlamaConfig", "LlamaForSequenceClassification",
                 dict(tie_word_embeddings=False, num_labels=1), dict()),
}


def write_decoders(fixtures: Path) -> None:
    import torch
    import transformers

    torch.manual_seed(20261126)
    for name, (config_class, model_class, extra, save) in DECODERS.items():
        config = getattr(transformers, config_class)(**TINY, **extra)
        model = getattr(transformers, model_class)(config).eval()
        out = fixtures / name
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("*"):
            old.unlink()
        if save.get("dtype") == "bfloat16":
            # Store bf16 weights; the reference runs in f32 on exactly those values.
            model = model.to(torch.bfloat16)
            model.save_pretrained(out, safe_serialization=True)
            model = model.to(torch.float32)
        else:
            model.save_pretrained(out, safe_serialization=True,
                                  max_shard_size=save.get("max_shard_size", "10GB"))
        width = max(len(s) for s in SEQUENCES)
        ids = torch.tensor([s + [PAD] * (width - len(s)) for s in SEQUENCES])
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in SEQUENCES])
        with torch.no_grad():
            output = model(input_ids=ids, attention_mask=mask)
        expected = dict(sequences=SEQUENCES, pad_token_id=PAD)
        if model_class.endswith("ForSequenceClassification"):
            expected["scores"] = output.logits.tolist()
        else:
            # Logits at real positions only (row-major [position][vocab] per sequence).
            expected["logits"] = [output.logits[i, :len(s)].tolist() for i, s in enumerate(SEQUENCES)]
        (out / "expected.json").write_text(json.dumps(expected))
        print(f"wrote {out}")


MINILM_SENTENCES = [
    "The capital of France is Paris.",
    "A reward model scores how good a response is.",
    "Café au lait — 3 croissants, s'il vous plaît!",
]


def write_minilm(root: Path, fixtures: Path) -> None:
    import torch
    import transformers

    model_dir = root / "assets" / "models" / "all-MiniLM-L6-v2"
    if not model_dir.exists():
        sys.exit(f"{model_dir} is missing: run `cargo xtask assets` first")
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModel.from_pretrained(model_dir).eval()
    batch = tokenizer(MINILM_SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    embeddings = torch.nn.functional.normalize(pooled, p=2, dim=1)
    token_ids = [ids[: int(m.sum())].tolist() for ids, m in zip(batch["input_ids"], batch["attention_mask"])]
    (fixtures / "minilm.json").write_text(json.dumps(dict(
        sentences=MINILM_SENTENCES, token_ids=token_ids, embeddings=embeddings.tolist())))
    print(f"wrote {fixtures / 'minilm.json'}")


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    fixtures = root / "crates" / "lm" / "tests" / "fixtures"
    fixtures.mkdir(parents=True, exist_ok=True)
    write_quants(fixtures / "quants.gguf")
    print(f"wrote {fixtures / 'quants.gguf'}")
    write_decoders(fixtures)
    write_minilm(root, fixtures)


if __name__ == "__main__":
    main()
