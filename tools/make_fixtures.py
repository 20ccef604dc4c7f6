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
- crates/lm/tests/fixtures/tokenizers.json: awkward strings and the token ids reference
  tokenizers give them (the Python `tokenizers` library on the real tokenizer.json files,
  transformers' own GGUF conversion for SmolLM2), and conversations with the text
  transformers' `apply_chat_template` renders from each model's own chat template.
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
GENERATE_TOKENS = 10

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
            # Greedy continuations from transformers' own generate (no EOS stop).
            greedy = transformers.GenerationConfig(max_new_tokens=GENERATE_TOKENS, do_sample=False,
                                                   eos_token_id=None, pad_token_id=PAD)
            with torch.no_grad():
                expected["greedy"] = [
                    model.generate(torch.tensor([s]), generation_config=greedy)[0, len(s):].tolist()
                    for s in SEQUENCES]
        (out / "expected.json").write_text(json.dumps(expected))
        print(f"wrote {out}")


LORA = dict(r=4, lora_alpha=8.0, lora_dropout=0.0,
            target_modules=["q_proj", "v_proj", "o_proj", "down_proj"])


def write_lora(fixtures: Path) -> None:
    """A PEFT LoRA adapter on the tiny llama (B made non-zero so it changes the output),
    saved by PEFT itself, with the adapted and the merged model's logits."""
    import peft
    import torch
    import transformers

    base = transformers.LlamaForCausalLM.from_pretrained(fixtures / "llama").eval()
    model = peft.get_peft_model(base, peft.LoraConfig(task_type="CAUSAL_LM", **LORA)).eval()
    torch.manual_seed(20261127)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.normal_(0.0, 0.1)
    out = fixtures / "llama-lora"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*"):
        old.unlink()
    model.save_pretrained(out)
    (out / "README.md").unlink()  # PEFT's model-card template
    config_path = out / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = "llama"  # not this machine's absolute path
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True))
    width = max(len(s) for s in SEQUENCES)
    ids = torch.tensor([s + [PAD] * (width - len(s)) for s in SEQUENCES])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in SEQUENCES])
    with torch.no_grad():
        adapted = model(input_ids=ids, attention_mask=mask).logits
        merged = model.merge_and_unload()(input_ids=ids, attention_mask=mask).logits
    expected = dict(
        sequences=SEQUENCES, pad_token_id=PAD, peft_version=peft.__version__,
        logits=[adapted[i, :len(s)].tolist() for i, s in enumerate(SEQUENCES)],
        merged_logits=[merged[i, :len(s)].tolist() for i, s in enumerate(SEQUENCES)])
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


# Strings that trip tokenizers: unicode, whitespace runs, digits, contractions, special tokens.
AWKWARD_TEXTS = [
    "Hello, world!",
    "  leading and trailing  ",
    "tabs\tand\nnewlines\n\n\n",
    "numbers 12345 and 3.14159 and 1,000,000",
    "unicode: héllo wörld — 東京 🙂 🇫🇷",
    "don't we'll I'M",
    "    def f(x):\n        return x**2\n",
    "\u00a0non-breaking\u2009thin space",
    "emoji 👩\u200d👩\u200d👧 zwj",
    "Ĳ ǅ ﬁ ligatures",
    "a\r\nb\rc",
    " ",
    "ａｂｃ fullwidth",
    "<|im_start|>user\nHi<|im_end|>",
    "<|endoftext|> mid <|im_end|>",
]

# SmolLM2's published tokenizer.json pre-tokenizer (every digit alone, then byte-level BPE
# with the GPT-2 pattern). transformers' GGUF converter gives plain byte-level instead, so
# the reference takes the vocabulary and merges from that converter and this step from the
# published file.
SMOLLM2_PRE_TOKENIZER = dict(type="Sequence", pretokenizers=[
    dict(type="Digits", individual_digits=True),
    dict(type="ByteLevel", add_prefix_space=False, trim_offsets=True, use_regex=True),
])

CONVERSATIONS = [
    dict(messages=[dict(role="user", content="What is the capital of France?")],
         add_generation_prompt=True),
    dict(messages=[dict(role="system", content="You are terse."),
                   dict(role="user", content="Hi"),
                   dict(role="assistant", content="Hello!"),
                   dict(role="user", content="  Bye  ")],
         add_generation_prompt=True),
    dict(messages=[dict(role="user", content="2 + 2?"),
                   dict(role="assistant", content="4")],
         add_generation_prompt=False),
]


def write_tokenizers(root: Path, fixtures: Path) -> None:
    import tokenizers
    import transformers

    models = root / "assets" / "models"
    smollm2 = "SmolLM2-135M-Instruct.Q4_1.gguf"
    qwen = "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf"
    for needed in [models / smollm2, models / qwen, models / "qwen-tokenizer", models / "all-MiniLM-L6-v2"]:
        if not needed.exists():
            sys.exit(f"{needed} is missing: run `cargo xtask assets` first")

    def encode_all(tokenizer: "tokenizers.Tokenizer", add_special_tokens: bool) -> list:
        return [tokenizer.encode(t, add_special_tokens=add_special_tokens).ids for t in AWKWARD_TEXTS]

    smollm2_hf = transformers.AutoTokenizer.from_pretrained(models, gguf_file=smollm2)
    smollm2_spec = json.loads(smollm2_hf.backend_tokenizer.to_str())
    smollm2_spec["pre_tokenizer"] = SMOLLM2_PRE_TOKENIZER
    smollm2_backend = tokenizers.Tokenizer.from_str(json.dumps(smollm2_spec))
    qwen_json = tokenizers.Tokenizer.from_file(str(models / "qwen-tokenizer" / "tokenizer.json"))
    minilm = tokenizers.Tokenizer.from_file(str(models / "all-MiniLM-L6-v2" / "tokenizer.json"))
    minilm.no_padding()
    minilm.no_truncation()
    encodings = {
        # name: (how the Rust test loads it, asset path, add_special_tokens, ids)
        "smollm2-gguf": ("gguf", "models/" + smollm2, False, encode_all(smollm2_backend, False)),
        "qwen-gguf": ("gguf", "models/" + qwen, False, encode_all(qwen_json, False)),
        "qwen-json": ("hf_dir", "models/qwen-tokenizer", False, encode_all(qwen_json, False)),
        "minilm": ("hf_dir", "models/all-MiniLM-L6-v2", True, encode_all(minilm, True)),
    }

    qwen_hf = transformers.AutoTokenizer.from_pretrained(models, gguf_file=qwen)
    qwen3_hf = transformers.AutoTokenizer.from_pretrained(models / "qwen-tokenizer")
    templates = {
        # name: (how the Rust test loads the tokenizer, asset path, transformers tokenizer)
        "smollm2-gguf": ("gguf", "models/" + smollm2, smollm2_hf),
        "qwen-gguf": ("gguf", "models/" + qwen, qwen_hf),
        "qwen3-json": ("hf_dir", "models/qwen-tokenizer", qwen3_hf),
    }
    chats = []
    for name, (source, path, tokenizer) in templates.items():
        for conversation in CONVERSATIONS:
            text = tokenizer.apply_chat_template(
                conversation["messages"], tokenize=False,
                add_generation_prompt=conversation["add_generation_prompt"])
            chats.append(dict(tokenizer=name, source=source, path=path, text=text, **conversation))

    out = fixtures / "tokenizers.json"
    out.write_text(json.dumps(dict(
        texts=AWKWARD_TEXTS,
        encodings=[dict(tokenizer=name, source=source, path=path,
                        add_special_tokens=special, ids=ids)
                   for name, (source, path, special, ids) in encodings.items()],
        chats=chats,
    ), ensure_ascii=False, indent=1))
    print(f"wrote {out}")


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    fixtures = root / "crates" / "lm" / "tests" / "fixtures"
    fixtures.mkdir(parents=True, exist_ok=True)
    write_quants(fixtures / "quants.gguf")
    print(f"wrote {fixtures / 'quants.gguf'}")
    write_decoders(fixtures)
    write_lora(fixtures)
    write_minilm(root, fixtures)
    write_tokenizers(root, fixtures)


if __name__ == "__main__":
    main()
