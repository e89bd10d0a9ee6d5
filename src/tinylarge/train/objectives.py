"""Training objectives of ``fit``: cross-entropy, soft targets, attention transfer (pure functions).

A teacher is just a module: ``fit`` runs it on each augmented batch and hands its logits (and
feature maps) to the objective, so plain training and distillation share one loop.

- Soft targets (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network",
  arXiv:1503.02531): ``L = alpha * T^2 * KL(softmax(z_t / T) || softmax(z_s / T))
  + (1 - alpha) * CE(z_s, y)``. The ``T^2`` keeps the soft-target gradients on the same scale as
  the hard-label ones when ``T`` changes.
- Attention transfer (Zagoruyko & Komodakis, ICLR 2017, "Paying More Attention to Attention",
  arXiv:1612.03928): the spatial attention map of a feature map ``f`` (C, H, W) is
  ``Q = sum_c f_c^2`` (H, W), flattened and L2-normalised; the loss is
  ``beta * sum over matched (student, teacher) pairs of mean_batch ||Q_s - Q_t||_2^2``.
  It needs no extra parameters, so the student that is deployed is exactly the one trained.
  Pairs are matched by resolution; a teacher map of another size is average-pooled to the
  student's (both are spatial distributions, so pooling keeps the meaning).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def soft_target_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """``T^2 * KL(softmax(teacher / T) || softmax(student / T))``, mean over the batch."""
    t = float(temperature)
    log_p_student = F.log_softmax(student_logits / t, dim=1)
    log_p_teacher = F.log_softmax(teacher_logits / t, dim=1)
    return F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True) * t * t


def attention_map(features: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Unit-norm spatial attention ``(n, H*W)`` of ``features`` ``(n, C, H, W)``.

    ``size`` average-pools the ``(H, W)`` map first (to match a student of lower resolution).
    """
    q = features.pow(2).mean(dim=1, keepdim=True)  # (n, 1, H, W): energy per location
    if size is not None and tuple(q.shape[-2:]) != tuple(size):
        q = F.adaptive_avg_pool2d(q, size)
    return F.normalize(q.flatten(1), dim=1)


def match_by_resolution(
    student_shapes: list[tuple[int, ...]], teacher_shapes: list[tuple[int, ...]]
) -> list[tuple[int, int]]:
    """Pairs ``(student_block, teacher_block)`` to compare, one per student block.

    Each student feature map ``(C, H, W)`` is paired with the teacher's deepest block whose
    resolution is at least the student's (pooling down is fine, up-sampling is not); blocks with
    no such teacher block (or 1x1 maps, which carry no spatial attention) are skipped.
    """
    pairs = []
    for i, s in enumerate(student_shapes):
        if s[-2] * s[-1] <= 1:
            continue
        candidates = [j for j, t in enumerate(teacher_shapes) if t[-2] >= s[-2] and t[-1] >= s[-1]]
        if candidates:
            pairs.append((i, candidates[-1]))
    return pairs


def attention_transfer_loss(
    student_features: list[torch.Tensor],
    teacher_features: list[torch.Tensor],
    pairs: list[tuple[int, int]],
) -> torch.Tensor:
    """``sum over pairs of mean_batch ||Q_s - Q_t||_2^2`` (Zagoruyko & Komodakis 2017, eq. 2)."""
    total = student_features[0].new_zeros(())
    for i, j in pairs:
        s = student_features[i]
        q_s = attention_map(s)
        q_t = attention_map(teacher_features[j], size=tuple(s.shape[-2:]))
        total = total + (q_s - q_t).pow(2).sum(dim=1).mean()
    return total


@dataclass(frozen=True)
class DistillObjective:
    """The training loss: hard labels, soft targets, optional attention transfer.

    ``alpha = 0`` and ``attention_weight = 0`` give plain cross-entropy (with ``label_smoothing``):
    the "same student trained without the teacher" baseline runs through exactly the same code.
    """

    alpha: float = 0.0
    temperature: float = 4.0
    attention_weight: float = 0.0
    label_smoothing: float = 0.0

    @property
    def needs_teacher(self) -> bool:
        return self.alpha > 0.0 or self.attention_weight > 0.0

    @property
    def needs_features(self) -> bool:
        return self.attention_weight > 0.0

    def __call__(
        self,
        student_logits: torch.Tensor,
        labels: torch.Tensor,
        teacher_logits: torch.Tensor | None = None,
        student_features: list[torch.Tensor] | None = None,
        teacher_features: list[torch.Tensor] | None = None,
        pairs: list[tuple[int, int]] | None = None,
    ) -> torch.Tensor:
        loss = F.cross_entropy(student_logits, labels, label_smoothing=self.label_smoothing)
        if self.alpha > 0.0:
            assert teacher_logits is not None, "soft targets need the teacher's logits"
            soft = soft_target_loss(student_logits, teacher_logits, self.temperature)
            loss = self.alpha * soft + (1.0 - self.alpha) * loss
        if self.attention_weight > 0.0 and pairs:
            assert student_features is not None and teacher_features is not None
            at = attention_transfer_loss(student_features, teacher_features, pairs)
            loss = loss + self.attention_weight * at
        return loss
