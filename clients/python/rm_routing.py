"""Clients of the reward service that `cargo xtask serve` runs (docs/FORMATS.md, "Reward
service"): the pool and a router behind HTTP, for training engines that scale out.

Standard library only. Three ways in:

- ``RoutingClient``: the endpoints as methods (``get_reward``, ``route_pairs``, ``feedback``).
- ``trl_reward_function(url)``: a TRL reward function for ``GRPOTrainer(reward_funcs=[...])``;
  TRL passes ``prompts`` and ``completions`` (strings, or conversations as lists of
  ``{"role", "content"}`` messages) and takes one float per completion. Each completion is
  routed on its own (``/get_reward``).
- ``trl_pairwise_reward_function(url)``: the same for TRL's online DPO
  (``OnlineDPOTrainer(reward_funcs=[...])``), which passes a batch of B prompts as 2B
  completions, pair i being completions i and i + B. Each pair is routed to one RM
  (``/route_pairs``), which scores both of its responses: the method's one RM call per pair.
  A dataset column with the reference answer (``reference``, ``answer`` or ``solution``) and
  one with the category travel with each pair, so a service started with ``--verifier``
  learns from them.
- ``compute_score``: a verl custom reward function
  (``custom_reward_function.path=clients/python/rm_routing.py``,
  ``custom_reward_function.name=compute_score``); the service's URL and token come from
  ``RM_SERVICE_URL`` and ``RM_SERVICE_TOKEN``.

OpenRLHF needs no client: point its remote reward URL at ``http://HOST:PORT/get_reward``
(``--reward.remote_url``; older releases: ``--remote_rm_url``). Each item's route id, routed
RM index and propensity come back in ``extra_logs``, which OpenRLHF logs.

None of these engines sends the policy's loss back, so the router stays at its prior unless
the trainer calls ``RoutingClient.feedback`` with each pair's DPO loss or a reward by route id.
"""

import json
import os
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

DEFAULT_URL = "http://127.0.0.1:8000"


class ServiceError(RuntimeError):
    """The service answered with an error (its status and message)."""

    def __init__(self, status, message):
        super().__init__(f"reward service answered {status}: {message}")
        self.status = status
        self.message = message


class RoutingClient:
    """The service's endpoints. ``url`` is the service root, ``token`` its bearer token."""

    def __init__(self, url=DEFAULT_URL, token=None, timeout=180.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _post(self, path, body):
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            try:
                message = json.loads(err.read()).get("error", "")
            except ValueError:
                message = err.reason
            raise ServiceError(err.code, message) from None

    def get_reward(self, queries, prompts=None, labels=None):
        """OpenRLHF's request: ``queries[i]`` is prompt + response; returns the answer with
        ``rewards``, ``scores``, ``extra_logs`` and ``routes``."""
        body = {"query": list(queries)}
        if prompts is not None:
            body["prompts"] = list(prompts)
        if labels is not None:
            body["labels"] = list(labels)
        return self._post("/get_reward", body)

    def route_pairs(self, prompt, responses, pairs=None, label=None, category=None):
        """One routed RM per pair of ``responses``; returns ``{"pairs": [...]}`` with route
        ids, scores and the preferred response of each pair (and, where the service's
        verifier or an audit rewarded the route, its ``reward``)."""
        body = {"prompt": prompt, "responses": list(responses)}
        if pairs is not None:
            body["pairs"] = [list(pair) for pair in pairs]
        if label is not None:
            body["label"] = label
        if category is not None:
            body["category"] = category
        return self._post("/route_pairs", body)

    def feedback(self, items):
        """``items``: dicts ``{"route_id": N, "loss": nats}`` or ``{"route_id": N, "reward": r}``."""
        return self._post("/feedback", {"items": list(items)})


def _text(value):
    """A prompt or completion as text: a string, or a conversation's contents joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return str(value.get("content", ""))
    return "".join(_text(message) for message in value)


LABEL_COLUMNS = ("reference", "answer", "solution")


def _column(kwargs, names, i):
    """Entry ``i`` of the first dataset column among ``names`` that TRL passed, as text."""
    for name in names:
        values = kwargs.get(name)
        if values is None:
            continue
        if not isinstance(values, (list, tuple)):
            raise TypeError(f"column {name!r} should hold one value per completion, got {values!r}")
        if values[i] is not None:
            return str(values[i])
    return None


def trl_reward_function(url=DEFAULT_URL, token=None, timeout=180.0):
    """A TRL reward function calling the service: one float per completion, each scored by
    the RM the router picks for it."""
    client = RoutingClient(url, token, timeout)

    def routed_reward(prompts, completions, **kwargs):
        prompt_texts = [_text(p) for p in prompts]
        completion_texts = [_text(c) for c in completions]
        queries = [p + c for p, c in zip(prompt_texts, completion_texts)]
        labels = [_column(kwargs, LABEL_COLUMNS, i) for i in range(len(queries))]
        answer = client.get_reward(
            queries,
            prompts=prompt_texts,
            labels=labels if all(label is not None for label in labels) else None,
        )
        return [float(r) for r in answer["rewards"]]

    routed_reward.__name__ = "routed_reward"
    return routed_reward


def trl_pairwise_reward_function(url=DEFAULT_URL, token=None, timeout=180.0, concurrency=8):
    """A reward function for TRL's online DPO: completions i and i + B of a 2B batch are one
    candidate pair, routed to one RM, which scores both. Returns one float per completion.
    Up to ``concurrency`` pairs are in flight at once (the service micro-batches them)."""
    client = RoutingClient(url, token, timeout)

    def routed_pair_reward(prompts, completions, **kwargs):
        if len(completions) % 2:
            raise ValueError(
                f"online DPO passes pairs as 2B completions; got {len(completions)}"
            )
        half = len(completions) // 2
        for i in range(half):
            if _text(prompts[i + half]) != _text(prompts[i]):
                raise ValueError(
                    f"completions {i} and {i + half} answer different prompts: not TRL's "
                    "online-DPO layout (use trl_reward_function for per-completion routing)"
                )

        def judge(i):
            answer = client.route_pairs(
                _text(prompts[i]),
                [_text(completions[i]), _text(completions[i + half])],
                pairs=[(0, 1)],
                label=_column(kwargs, LABEL_COLUMNS, i),
                category=_column(kwargs, ("category",), i),
            )
            return answer["pairs"][0]["scores"]

        rewards = [0.0] * len(completions)
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            for i, (first, second) in enumerate(pool.map(judge, range(half))):
                rewards[i], rewards[i + half] = float(first), float(second)
        return rewards

    routed_pair_reward.__name__ = "routed_pair_reward"
    return routed_pair_reward


def compute_score(data_source, solution_str, ground_truth, extra_info=None):
    """verl's custom reward function: the routed RM's score of ``solution_str``."""
    client = RoutingClient(
        os.environ.get("RM_SERVICE_URL", DEFAULT_URL), os.environ.get("RM_SERVICE_TOKEN")
    )
    prompt = ""
    if isinstance(extra_info, dict):
        prompt = _text(extra_info.get("prompt", ""))
    answer = client.get_reward(
        [prompt + solution_str],
        prompts=[prompt],
        labels=[str(ground_truth)] if ground_truth is not None else None,
    )
    return float(answer["rewards"][0])
