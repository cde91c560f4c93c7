"""A frozen explicit PRM as a process-reward source (``process_reward.source=explicit_prm``).

Each response is cut into steps (the estimator's step ids when it reads them, e.g. process_grpo,
else ``process_reward.explicit_prm.steps``: use the split the PRM was trained on); the PRM scores
every step in [0, 1] and the score is placed at the step's last token: token rewards [B, T], 0
elsewhere. The PRM never trains here.

Layouts (``layout``; ``auto`` = what the directory's prm.json says, else ``tag``):
  tag   a causal LM; p(good) / (p(good) + p(bad)) at the step tag after each step (prl's own PRMs from
        ``python -m prl.prm train``, Math-Shepherd); ``tag``/``good``/``bad`` default to prm.json's
  head  a two-class token head (AutoModelForTokenClassification or a remote-code
        ``*ForProcessRewardModel``); softmax(logits)[1] at the separator after each step
        (Qwen2.5-Math-PRM: ``sep: <extra_0>``, ``chat: true``, ``trust_remote_code: true``)

Under torchrun every rank scores the whole batch with its own copy (it holds every rollout), so no
collective is involved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from torch import Tensor

from prl.config import setting
from prl.signals import ProcessRewardSource, SourceContext, register_source

__all__ = ["ExplicitPRMConfig", "ExplicitPRM"]


@dataclass
class ExplicitPRMConfig:
    """A frozen explicit PRM scoring each step's end (prl.signals.explicit_prm)."""

    path: str = setting("", "HF directory of the PRM (python -m prl.prm train writes one)")
    layout: Literal["auto", "tag", "head"] = setting("auto", "'tag' (+/- at a step tag), 'head' (two-class head at a "
                                                     "separator), 'auto' (the directory's prm.json, else tag)")
    tag: str = setting("", "tag layout: the step tag ('' = prm.json's, else 'ки')")
    sep: str = setting("", "head layout: the separator token ('' = prm.json's, else '<extra_0>')")
    chat: bool = setting(False, "head layout: render the prompt with the tokenizer's chat template")
    trust_remote_code: bool = setting(False, "head layout: allow the PRM directory's own modelling code")
    steps: str = setting("newline", "step split when the estimator sets none (e.g. prime)", check="steps_spec")
    batch_size: int = setting(64, "responses per PRM forward", check=lambda v: v >= 1, must="must be >= 1")


@register_source("explicit_prm", config=ExplicitPRMConfig)
class ExplicitPRM(ProcessRewardSource):
    """A frozen explicit PRM: each step's score in [0, 1] at the step's last token."""

    def __init__(self, ctx: SourceContext, settings: ExplicitPRMConfig):
        from prl.errors import ConfigError
        from prl.prm import StepScorer

        if not settings.path:
            raise ConfigError("process_reward.explicit_prm.path is required (a PRM directory; "
                              "python -m prl.prm train writes one)")
        self.settings = settings
        self.scorer = StepScorer(settings.path, layout=settings.layout, tag=settings.tag, sep=settings.sep,
                                 device=ctx.device, dtype=ctx.cfg.model.dtype, batch_size=settings.batch_size,
                                 trust_remote_code=settings.trust_remote_code, chat=settings.chat)

    def token_rewards(self, batch: Any) -> tuple[Tensor, dict[str, float]]:
        from prl.prm import batch_steps, place_step_rewards

        s = self.settings
        split = batch_steps(batch, s.steps)
        scores = self.scorer.score(batch.prompts, [steps for steps, _ in split])
        q = place_step_rewards(scores, [last for _, last in split], batch.B, batch.T, batch.response_mask.device)
        flat = [v for sc in scores for v in sc]
        metrics = {"prm/step_score_mean": sum(flat) / max(len(flat), 1),
                   "prm/steps_per_response": len(flat) / max(batch.B, 1),
                   "prm/response_min_mean": sum(min(sc) for sc in scores if sc) / max(batch.B, 1)}
        if batch.correct is not None:  # does the PRM's minimum step score rank correct above wrong responses?
            import torch

            from prl import algos

            mins = torch.tensor([min(sc) if sc else 0.0 for sc in scores])
            auc = algos.binary_auc(mins, batch.correct.cpu(), batch.group_ids.cpu() if batch.group_ids is not None else None)
            if auc == auc:
                metrics["prm/auc"] = auc
        return q, metrics
