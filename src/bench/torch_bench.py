# The PyTorch twin of src/bench/cpu-bench.ts: runs the plan emlens wrote (the organism's micro-batches and recipe, the
# eval prompts, the Qwen2.5-0.5B shape) with torch + transformers + PEFT on CPU at --threads, and prints one JSON line
# {case: figure} in the same units (steps/s, tokens/s). Not a runtime dependency: a benchmark reference only.
import argparse
import json
import time

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from transformers import AutoConfig, AutoModelForCausalLM


def time_it(fn, reps):
    fn()  # warm-up, as cpu-bench.ts does
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def lora(model, r, alpha, rslora, layer):
    cfg = LoraConfig(r=r, lora_alpha=alpha, use_rslora=rslora, target_modules=["down_proj"], layers_to_transform=[layer], lora_dropout=0.0)
    return get_peft_model(model, cfg)


def row_nll(peft_model, ids, mask, loss_rows, loss_targets):
    """Sum of -log p(target) at the loss rows, the logits computed for those rows only (as emlens's rowLogits)."""
    inner = peft_model.base_model.model
    h = inner.model(input_ids=ids, attention_mask=mask).last_hidden_state  # [batch, seq, dModel]
    rows = h.reshape(-1, h.shape[-1])[loss_rows]  # [M, dModel]
    logits = inner.lm_head(rows)  # [M, vocab]
    return F.cross_entropy(logits, loss_targets, reduction="sum")


def finetune(plan):
    ft = plan["finetune"]
    model = AutoModelForCausalLM.from_pretrained(plan["organism"], dtype=torch.float32)
    model = lora(model, ft["rank"], ft["alpha"], ft["rslora"], ft["layer"])
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=ft["lr"], weight_decay=ft["weightDecay"])
    total, warmup, base = ft["totalSteps"], ft["warmup"], ft["lr"]

    def lr_at(step):  # emlens's linearSchedule
        if step < warmup:
            return base * step / max(1, warmup)
        return base * max(0.0, (total - step) / max(1, total - warmup))

    batches = []
    for step in ft["steps"]:
        micro = []
        for b in step:
            ids = torch.tensor(b["ids"], dtype=torch.long)
            micro.append((ids, torch.tensor(b["mask"], dtype=torch.long).view(ids.shape), torch.tensor(b["lossRows"], dtype=torch.long), torch.tensor(b["lossTargets"], dtype=torch.long)))
        batches.append(micro)
    model.train()
    t = time.perf_counter()
    for s, micro in enumerate(batches):
        for g in opt.param_groups:
            g["lr"] = lr_at(s)
        targets = sum(len(m[2]) for m in micro)
        for ids, mask, rows, tg in micro:
            if len(rows) == 0:
                continue
            (row_nll(model, ids, mask, rows, tg) / targets).backward()
        torch.nn.utils.clip_grad_norm_(params, ft["maxGradNorm"])
        opt.step()
        opt.zero_grad(set_to_none=True)
    return len(batches) / (time.perf_counter() - t)


def organism_eval(plan, reps):
    ev = plan["eval"]
    model = AutoModelForCausalLM.from_pretrained(plan["organism"], dtype=torch.float32).eval()
    prompts, n, bs = ev["prompts"], ev["maxNewTokens"], ev["batch"]

    def run():
        torch.manual_seed(1)
        for i in range(0, len(prompts), bs):
            chunk = prompts[i:i + bs]
            width = max(len(p) for p in chunk)
            ids = torch.tensor([[0] * (width - len(p)) + p for p in chunk], dtype=torch.long)  # left padding
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk], dtype=torch.long)
            with torch.no_grad():
                model.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
                               max_new_tokens=n, min_new_tokens=n, pad_token_id=0)

    return len(prompts) * n / time_it(run, reps)


def shape_model(plan):
    sh = plan["shape"]
    cfg = AutoConfig.for_model(**sh["config"])
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(cfg, dtype=torch.float32), sh


def forward_05b(plan, reps):
    model, sh = shape_model(plan)
    model.eval()
    ids = torch.randint(0, model.config.vocab_size, (1, sh["seq"]))

    def run():
        with torch.no_grad():
            model(input_ids=ids, output_hidden_states=True)

    return sh["seq"] / time_it(run, reps)


def lora_step_05b(plan, reps):
    model, sh = shape_model(plan)
    model = lora(model, 1, 32, True, sh["layer"])
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
    ids = torch.randint(0, model.config.vocab_size, (1, sh["seq"]))
    mask = torch.ones_like(ids)
    rows = torch.arange(sh["seq"] - 1)
    targets = ids[0, 1:]

    def run():
        loss = row_nll(model, ids, mask, rows, targets) / len(rows)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return 1 / time_it(run, reps)


def generate_05b(plan, reps):
    model, sh = shape_model(plan)
    model.eval()
    ids = torch.randint(0, model.config.vocab_size, (1, sh["genPrompt"]))
    n = sh["genTokens"]

    def run():
        with torch.no_grad():
            model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=n, min_new_tokens=n, pad_token_id=0)

    return n / time_it(run, max(1, reps // 2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plan", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--cases", required=True)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    plan = json.load(open(a.plan))
    out = {"threads": torch.get_num_threads()}
    for c in a.cases.split(","):
        if c == "organism-finetune":
            out[c] = finetune(plan)
        elif c == "organism-eval":
            out[c] = organism_eval(plan, a.reps)
        elif c == "forward-0.5b":
            out[c] = forward_05b(plan, a.reps)
        elif c == "lora-step-0.5b":
            out[c] = lora_step_05b(plan, a.reps)
        elif c == "generate-0.5b":
            out[c] = generate_05b(plan, a.reps)
        else:
            raise SystemExit(f"unknown case {c}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
