"""Can PRIME's implicit PRM learn the task?  A held-out probe of the PRM on the policy's own rollouts.

    python benches/probe_prime_prm.py --config configs/demo.yaml --train-batches 12 --test-batches 4 \
        --epochs 20 --lr 6e-4

Samples ``train + test`` batches from the *start* policy exactly as a PRIME run would (same prompts per
step, group size, temperature, reward), then trains a fresh implicit PRM (initialised from the start
model, reference frozen, q_t = beta (log pi_phi - log pi_ref), PRIME's binary cross-entropy on the
outcome) for several epochs over the train batches and reports, after every epoch, its loss and
accuracy on the train batches and on held-out batches it never saw.  In a PRIME run the PRM takes
*one* optimiser step per batch; if a PRM given many epochs over many batches cannot beat chance on
held-out rollouts, its token rewards carry no signal about correctness at this scale, and adding them
to the advantage can only add noise.  Everything here is the trainer's own code path
(``Trainer._generate``, ``Trainer._logp``, ``prl.algos.prime_prm_loss``).
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from prl import algos
from prl.config import load_config
from prl.rewards import grade
from prl.trainer import Trainer, build_batch


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/demo.yaml")
    ap.add_argument("--train-batches", type=int, default=12)
    ap.add_argument("--test-batches", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--lr", type=float, default=6e-4, help="PRM learning rate (PRIME default 1e-6)")
    ap.add_argument("--beta", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="/tmp/prl_prime_probe", help="scratch output dir of the trainer")
    ap.add_argument("--json", default=None, help="write the per-epoch figures here")
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    cfg = load_config(a.config, ["algo.name=prime", f"algo.prime.lr={a.lr}", f"train.output_dir={a.out}",
                                 "ckpt.every=0", "ckpt.save_final=false", "log.tensorboard=false",
                                 *a.overrides])
    t = Trainer(cfg)
    c = t.cfg
    batches = []
    for s in range(a.train_batches + a.test_batches):
        items = t.data_iter.take(c.train.prompts_per_step)
        rolls = t._generate(items, s + 1)
        golds = [items[r.prompt_index]["answer"] for r in rolls]
        v = grade([r.text for r in rolls], golds, grader=c.reward.grader, threads=1,
                  last_number=c.reward.last_number)
        R = torch.tensor([float(x.correct) for x in v], device=t.device)
        b = build_batch(rolls, t.engine.pad_token_id, t.device)
        ref, _ = t._logp_all(t.ref, b)
        grp = torch.tensor([s * 10_000 + r.prompt_index for r in rolls])  # [B] the prompt of each row
        batches.append((b, ref, R, grp))
    train, test = batches[: a.train_batches], batches[a.train_batches:]
    base = float(torch.cat([R for _, _, R, _ in test]).mean())
    print(f"held-out rollouts: {sum(b.B for b, _, _, _ in test)}, fraction correct {base:.3f} "
          f"(majority-class accuracy {max(base, 1 - base):.3f})")

    def evaluate(bs):
        """(BCE loss, sign accuracy as PRIME logs it, AUC of the sequence logit within prompts, AUC across
        the batches) over the batches."""
        out, logits, labels, groups = [], [], [], []
        with torch.no_grad():
            for b, ref, R, grp in bs:
                lp, _ = t._logp(t.prm, b, torch.arange(b.B, device=t.device), grad=False)
                _, mm = algos.prime_prm_loss(lp, ref, R, b.response_mask, beta=a.beta)
                out.append((mm["prm/loss"] * b.B, mm["prm/acc"] * b.B, b.B))
                logits.append(algos.prime_token_rewards(lp, ref, b.response_mask, beta=a.beta).sum(1).cpu())
                labels.append(R.cpu())
                groups.append(grp)
        o = np.array(out)
        lg, lb, gr = torch.cat(logits), torch.cat(labels), torch.cat(groups)
        return (o[:, 0].sum() / o[:, 2].sum(), o[:, 1].sum() / o[:, 2].sum(), algos.binary_auc(lg, lb, gr),
                algos.binary_auc(lg, lb))

    const = -(base * np.log(base) + (1 - base) * np.log(1 - base))
    print(f"a constant predictor at the base rate has held-out loss {const:.3f}; AUC 0.5 = no ranking signal "
          "(auc: correct vs wrong responses of the same prompt; all: across the batch)")
    rows = []
    for ep in range(0, a.epochs + 1):
        if ep == 0:
            _report(rows, 0, evaluate(train), evaluate(test))
            continue
        for b, ref, R, _ in train:  # one optimiser step per batch, as in a PRIME run
            t.prm_opt.zero_grad(set_to_none=True)
            lp, _ = t._logp(t.prm, b, torch.arange(b.B, device=t.device), grad=True)
            loss, _ = algos.prime_prm_loss(lp, ref, R, b.response_mask, beta=a.beta)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(t.prm.parameters(), c.optim.max_grad_norm or float("inf"))
            t.prm_opt.step()
        _report(rows, ep, evaluate(train), evaluate(test))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), "heldout_fraction_correct": base, "constant_loss": const, "epochs": rows},
                      f, indent=1)
    return 0


def _report(rows: list, ep: int, tr: tuple, te: tuple) -> None:
    rows.append({"epoch": ep, "train_loss": tr[0], "train_acc": tr[1], "train_auc": tr[2], "train_auc_all": tr[3],
                 "heldout_loss": te[0], "heldout_acc": te[1], "heldout_auc": te[2], "heldout_auc_all": te[3]})
    print(f"epoch {ep:2d}: train loss {tr[0]:.3f} acc {tr[1]:.3f} auc {tr[2]:.3f} (all {tr[3]:.3f}) | "
          f"held-out loss {te[0]:.3f} acc {te[1]:.3f} auc {te[2]:.3f} (all {te[3]:.3f})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
