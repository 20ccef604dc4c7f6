"""Fixtures for crates/rm-pool: the tiny lm fixture models (tools/make_fixtures.py) given a
tiny tokenizer and chat template, and transformers' scores for a few conversations:

- tiny-rm: the tiny LlamaForSequenceClassification; reference = its score of the chat-templated
  conversation + response (the way Skywork-Reward-V2's model card scores: apply_chat_template
  to text, then tokenize without adding special tokens).
- tiny-judge: the tiny LlamaForCausalLM as an LLM judge; reference = log p("Yes") − log p("No")
  and the expected rating over "1".."5" at the assistant turn after the rendered judge prompt.

Run by tools/make_fixtures.sh after make_fixtures.py (it reads that script's lm fixtures).
"""
import json
import shutil
import sys
from pathlib import Path

import jinja2
import torch
import transformers
from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
CORPUS = [
    "What is two plus two? The answer is 4. Yes No",
    "Is the response correct? Answer Yes or No. Rate it from 1 to 5: 1 2 3 4 5",
    "user assistant system Question: Response: the a of to and is in",
    "Paris is the capital of France. Berlin is in Germany.",
]
# The judge prompt (a minijinja/Jinja template over `prompt` and `response`), as in
# configs/rm-pool.toml.
# Short: every rendered prompt must fit the tiny model's 64 positions untruncated.
JUDGE_TEMPLATE = "{{ prompt }}\n{{ response }}\nIs the response correct?"
RATING_TEMPLATE = "{{ prompt }}\n{{ response }}\nRate it from 1 to 5:"
ITEMS = [
    dict(prompt=[{"role": "user", "content": "What is two plus two?"}],
         response="The answer is 4."),
    dict(prompt=[{"role": "system", "content": "Answer briefly."},
                 {"role": "user", "content": "What is the capital of France?"}],
         response="Paris is the capital of France."),
    dict(prompt=[{"role": "user", "content": "Where is Berlin?"}],
         response="Berlin is in France."),
]


def tiny_tokenizer() -> transformers.PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=128, special_tokens=SPECIALS)
    tokenizer.train_from_iterator(CORPUS, trainer)
    assert tokenizer.get_vocab_size() <= 128, tokenizer.get_vocab_size()
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        unk_token="<unk>", chat_template=CHAT_TEMPLATE)


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    lm_fixtures = root / "crates" / "lm" / "tests" / "fixtures"
    out = root / "crates" / "rm-pool" / "tests" / "fixtures"
    tokenizer = tiny_tokenizer()
    expected = dict(items=ITEMS, judge_template=JUDGE_TEMPLATE, rating_template=RATING_TEMPLATE)

    rm_dir = out / "tiny-rm"
    shutil.rmtree(rm_dir, ignore_errors=True)
    rm = transformers.LlamaForSequenceClassification.from_pretrained(lm_fixtures / "llama-rm").eval()
    rm.save_pretrained(rm_dir)
    tokenizer.save_pretrained(rm_dir)
    scores = []
    for item in ITEMS:
        messages = item["prompt"] + [{"role": "assistant", "content": item["response"]}]
        text = tokenizer.apply_chat_template(messages, tokenize=False)
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
        with torch.no_grad():
            scores.append(rm(input_ids=ids).logits[0, 0].item())
    expected["rm_scores"] = scores

    judge_dir = out / "tiny-judge"
    shutil.rmtree(judge_dir, ignore_errors=True)
    judge = transformers.LlamaForCausalLM.from_pretrained(lm_fixtures / "llama").eval()
    judge.save_pretrained(judge_dir)
    tokenizer.save_pretrained(judge_dir)

    def next_token_logps(template: str, item) -> torch.Tensor:
        # The judge sees the conversation's last user turn as `prompt`.
        prompt = item["prompt"][-1]["content"]
        rendered = jinja2.Template(template).render(prompt=prompt, response=item["response"])
        text = tokenizer.apply_chat_template([{"role": "user", "content": rendered}],
                                             tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
        assert ids.shape[1] <= judge.config.max_position_embeddings, ids.shape
        with torch.no_grad():
            return torch.log_softmax(judge(input_ids=ids).logits[0, -1], dim=-1)

    def token(text: str) -> int:
        ids = tokenizer(text, add_special_tokens=False).input_ids
        assert len(ids) == 1, (text, ids)
        return ids[0]

    margins, ratings = [], []
    for item in ITEMS:
        logps = next_token_logps(JUDGE_TEMPLATE, item)
        margins.append((logps[token("Yes")] - logps[token("No")]).item())
        logps = next_token_logps(RATING_TEMPLATE, item)
        labels = [token(str(r)) for r in range(1, 6)]
        probs = torch.softmax(logps[labels], dim=0)
        ratings.append(sum((r + 1) * p.item() for r, p in enumerate(probs)))
    expected["judge_margins"] = margins
    expected["judge_ratings"] = ratings
    (out / "expected.json").write_text(json.dumps(expected, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
