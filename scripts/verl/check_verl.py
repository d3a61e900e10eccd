"""Check `valor export verl` against verl's own code (run by `npm run check:verl`, see docs/training.md).

Reads one JSON job on stdin and prints one JSON result on stdout:

    {"config_yaml": path of verl's _generated_ppo_trainer.yaml (the full trainer schema),
     "overrides": {"release": [...], "valor-fork": [...]},   # as `valor export verl` printed them
     "drive": {...} or null}                                  # see drive() below

1. Schema: every override that is not `+key` must name a key verl's schema has (Hydra refuses
   unknown keys), and every `+key` must not (Hydra refuses to append an existing one). Needs
   only PyYAML; runs wherever a verl checkout is.
2. Drive: verl's RLHFDataset reads the parquet export with a tokenizer built
   here from scratch (byte-level BPE, a chat template of Qwen's shape); both reward managers
   (naive, batch) are made by verl's load_reward_manager from the printed overrides and score
   rollouts through python/valor_reward.py and the running reward service; verl's
   compute_reward and compute_grpo_outcome_advantage run on the result. Where verl does not
   import (its dependencies tensordict and omegaconf's antlr4 runtime are not on every package
   mirror), verl's own source files run with import placeholders (install_placeholders); the
   result says so.
"""

from __future__ import annotations

import json
import sys
import traceback


def _schema_keys(config_yaml):
    import yaml

    with open(config_yaml, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _has(cfg, dotted):
    node = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def check_schema(config_yaml, overrides):
    cfg = _schema_keys(config_yaml)
    problems = []
    checked = 0
    for layout, lines in overrides.items():
        for line in lines:
            text = line.strip().strip('"')
            key = text.split("=", 1)[0]
            append = key.startswith("+")
            key = key.lstrip("+")
            present = _has(cfg, key)
            checked += 1
            if append and present:
                problems.append("%s: +%s appends a key verl's schema already has (Hydra refuses it; drop the +)" % (layout, key))
            if not append and not present:
                problems.append("%s: %s is not in verl's schema (Hydra refuses it)" % (layout, key))
    return {"checked": checked, "problems": problems}


class AttrDict(dict):
    """A dict read like OmegaConf's DictConfig (attribute access and .get), for placeholder mode."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value


def _attr(node):
    if isinstance(node, dict):
        return AttrDict({k: _attr(v) for k, v in node.items()})
    return node


def install_placeholders(verl_src):
    """Import placeholders for what cannot be installed here, so verl's own modules load from source.

    - tensordict and omegaconf: empty modules with the names verl imports (the dataset and reward
      code paths checked here do not use them);
    - the `verl` package without its __init__ (which imports verl.protocol);
    - verl.protocol.DataProto: a stand-in holding `batch` (tensors) and `non_tensor_batch`
      (object arrays) with len(), [i] and iteration, which is all the reward managers use.
    """
    import types

    td = types.ModuleType("tensordict")
    td.TensorDict = type("TensorDict", (), {})
    sys.modules["tensordict"] = td
    om = types.ModuleType("omegaconf")
    om.DictConfig = type("DictConfig", (dict,), {})
    om.ListConfig = type("ListConfig", (list,), {})
    om.OmegaConf = type("OmegaConf", (), {})
    lc = types.ModuleType("omegaconf.listconfig")
    lc.ListConfig = om.ListConfig
    om.listconfig = lc
    sys.modules["omegaconf"] = om
    sys.modules["omegaconf.listconfig"] = lc
    pkg = types.ModuleType("verl")
    pkg.__path__ = [verl_src.rstrip("/") + "/verl"]
    sys.modules["verl"] = pkg

    class Item:
        def __init__(self, batch, non_tensor_batch):
            self.batch, self.non_tensor_batch = batch, non_tensor_batch

    class DataProto:
        def __init__(self, batch, non_tensor_batch):
            self.batch, self.non_tensor_batch = batch, non_tensor_batch

        @classmethod
        def from_dict(cls, tensors, non_tensors):
            return cls(dict(tensors), dict(non_tensors))

        def __len__(self):
            return next(iter(self.batch.values())).shape[0]

        def __getitem__(self, i):
            return Item({k: v[i] for k, v in self.batch.items()}, {k: v[i] for k, v in self.non_tensor_batch.items()})

        def __iter__(self):
            return (self[i] for i in range(len(self)))

    prot = types.ModuleType("verl.protocol")
    prot.DataProto = DataProto
    prot.DataProtoItem = Item
    sys.modules["verl.protocol"] = prot
    pkg.DataProto = DataProto


def _parse_value(text):
    try:
        return int(text)
    except ValueError:
        return text


CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tokenizer(texts):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = ["<pad>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<|im_end|>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def drive(job, placeholders=False):
    """verl's own dataset, reward managers, compute_reward and GRPO advantage on the export."""
    import numpy as np
    import torch

    from verl import DataProto
    from verl.trainer.ppo import core_algos
    from verl.trainer.ppo.reward import compute_reward, load_reward_manager
    from verl.utils.dataset.rl_dataset import RLHFDataset

    d = job["drive"]
    overrides = [line.strip().strip('"') for line in job["overrides"]["release"]]
    if placeholders:
        cfg = _attr(_schema_keys(job["config_yaml"]))
        for line in overrides:
            key, value = line.split("=", 1)
            node = cfg
            parts = key.split(".")
            for part in parts[:-1]:
                node = node[part]
            node[parts[-1]] = _parse_value(value)
    else:
        from omegaconf import OmegaConf

        base = OmegaConf.load(job["config_yaml"])
        OmegaConf.set_struct(base, True)
        cfg = OmegaConf.merge(base, OmegaConf.from_dotlist(overrides))
    cfg.data.max_prompt_length = 8192
    cfg.data.filter_overlong_prompts = False

    records = d["records"]
    replies = d["replies"]
    texts = [m["content"] for r in records for m in r["prompt"]] + replies
    tok = build_tokenizer(texts)
    ds = RLHFDataset(data_files=[d["parquet"]], tokenizer=tok, config=cfg.data)
    out = {"dataset_len": len(ds)}
    rows = [ds[i] for i in range(len(ds))]
    # The prompt verl feeds the policy is our message through the chat template, unchanged.
    expected = [tok.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=False) for r in records]
    decoded = [tok.decode(row["input_ids"][row["attention_mask"].bool()], skip_special_tokens=False) for row in rows]
    out["prompts_match"] = decoded == expected

    # Rollouts: every prompt gets every reply (len(replies) rollouts per prompt, as GRPO's n).
    n = len(rows) * len(replies)
    resp_ids = [tok(r, add_special_tokens=False)["input_ids"] for r in replies]
    rlen = max(len(x) for x in resp_ids)
    prompts, responses, masks, index = [], [], [], []
    data_source = np.empty(n, dtype=object)
    reward_model = np.empty(n, dtype=object)
    extra_info = np.empty(n, dtype=object)
    k = 0
    for i, row in enumerate(rows):
        for ids in resp_ids:
            prompts.append(row["input_ids"])
            pad = [tok.pad_token_id] * (rlen - len(ids))
            responses.append(torch.tensor(ids + pad))
            masks.append(torch.cat([row["attention_mask"], torch.tensor([1] * len(ids) + [0] * len(pad))]))
            data_source[k] = records[i]["data_source"]
            reward_model[k] = dict(records[i]["reward_model"])
            extra_info[k] = dict(records[i]["extra_info"])
            index.append(str(i))
            k += 1
    tensors = {"prompts": torch.stack(prompts), "responses": torch.stack(responses), "attention_mask": torch.stack(masks)}
    data = DataProto.from_dict(tensors=tensors, non_tensors={"data_source": data_source, "reward_model": reward_model, "extra_info": extra_info})
    response_mask = tensors["attention_mask"][:, tensors["prompts"].shape[-1] :]
    out["managers"] = {}
    for manager, fn in (("naive", "compute_score"), ("batch", "compute_score_batch")):
        cfg.reward_model.reward_manager = manager
        cfg.custom_reward_function.name = fn
        reward_fn = load_reward_manager(cfg, tok, num_examine=0)
        reward_tensor, extra = compute_reward(data, reward_fn)
        last = response_mask.sum(-1) - 1
        on_last = all(
            float(reward_tensor[j].abs().sum() - reward_tensor[j, last[j]].abs()) == 0.0 for j in range(n)
        )
        adv, _ = core_algos.compute_grpo_outcome_advantage(
            token_level_rewards=reward_tensor, response_mask=response_mask, index=np.array(index, dtype=object)
        )
        out["managers"][manager] = {
            "scores": [float(x) for x in reward_tensor.sum(-1)],
            "score_on_last_token": on_last,
            "extra_keys": sorted(extra.keys()),
            "advantages": [float(adv[j, 0]) for j in range(n)],
        }

    # A judge that fails, in the default "fail" mode: verl's compute_reward catches the error and
    # calls the manager again on the same batch; that second call must not score the batch again
    # (the caller counts the judge requests).
    if d.get("fail_reply"):
        fail_ids = tok(d["fail_reply"], add_special_tokens=False)["input_ids"]
        row = rows[0]
        ids = torch.tensor(fail_ids)
        one = {
            "prompts": row["input_ids"].unsqueeze(0).repeat(2, 1),
            "responses": ids.unsqueeze(0).repeat(2, 1),
            "attention_mask": torch.cat([row["attention_mask"], torch.ones(len(fail_ids), dtype=row["attention_mask"].dtype)]).unsqueeze(0).repeat(2, 1),
        }
        nt = {k: np.empty(2, dtype=object) for k in ("data_source", "reward_model", "extra_info")}
        for j in range(2):
            nt["data_source"][j] = records[0]["data_source"]
            nt["reward_model"][j] = dict(records[0]["reward_model"])
            nt["extra_info"][j] = dict(records[0]["extra_info"])
        cfg.reward_model.reward_manager = "batch"
        cfg.custom_reward_function.name = "compute_score_batch"
        reward_fn = load_reward_manager(cfg, tok, num_examine=0)
        try:
            compute_reward(DataProto.from_dict(tensors=one, non_tensors=nt), reward_fn)
            out["failing_batch"] = {"raised": False}
        except Exception as e:
            out["failing_batch"] = {"raised": True, "error": "%s: %s" % (type(e).__name__, e)}
    return out


def main():
    job = json.load(sys.stdin)
    result = {"schema": check_schema(job["config_yaml"], job["overrides"])}
    if job.get("drive"):
        placeholders = None
        try:
            import verl  # noqa: F401
        except Exception as e:  # verl or one of its dependencies is missing
            placeholders = "verl does not import in %s (%s: %s)" % (sys.executable, type(e).__name__, e)
            for name in [m for m in sys.modules if m == "verl" or m.startswith("verl.")]:
                del sys.modules[name]
            install_placeholders(job["verl_src"])
        try:
            result["drive"] = drive(job, placeholders=placeholders is not None)
            if placeholders:
                result["drive"]["placeholders"] = placeholders + "; ran verl's source with import placeholders for tensordict and omegaconf and a stand-in DataProto"
            with open(job["verl_src"].rstrip("/") + "/verl/version/version", encoding="utf-8") as f:
                result["drive"]["verl_version"] = f.read().strip()
        except Exception:
            result["drive"] = {"error": traceback.format_exc(), **({"placeholders": placeholders} if placeholders else {})}
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
