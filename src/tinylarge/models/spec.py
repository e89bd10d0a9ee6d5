"""``ModelSpec``: the few numbers that pick one architecture out of a family.

A spec is data (YAML/JSON friendly, hashable) so the artifact cache and architecture search can key
on it; ``build_model`` turns it into an ``nn.Module`` given the input shape and class count.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ModelSpec(BaseModel):
    """One architecture: a family ``name`` plus its width/depth knobs.

    Conv families (``resnet2d``, ``resnet1d``, ``cnn2d``, ``dscnn2d``, ``cnn1d``, ``dscnn1d``) are a
    stem (``width`` channels, stride ``stem_stride``) then ``depth`` stages; stage ``i`` has
    ``round(width * growth**i)`` channels and halves the resolution (the time axis for 1-D
    families). ``mlp`` reads ``width`` as hidden units and ``depth`` as hidden layers.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    width: int = Field(
        16, ge=1, description="channels of the stem / first stage (MLP: hidden units)"
    )
    depth: int = Field(3, ge=1, description="stages after the stem (MLP: hidden layers)")
    kernel_size: int = Field(3, ge=1, description="odd conv kernel (k x k in 2-D, 1 x k in 1-D)")
    stem_stride: int = Field(1, ge=1, description="resolution option: stride of the first conv")
    growth: float = Field(2.0, gt=0.0, description="channel multiplier from one stage to the next")
    blocks_per_stage: int = Field(1, ge=1, description="residual blocks per stage (resnet only)")

    @field_validator("name")
    @classmethod
    def _known_family(cls, name: str) -> str:
        from tinylarge.models.registry import family  # registry imports spec: resolve lazily

        family(name)  # raises UnknownNameError listing the valid names
        return name

    @field_validator("kernel_size")
    @classmethod
    def _odd_kernel(cls, k: int) -> int:
        # "same" padding k // 2 keeps residual shapes aligned only for odd kernels
        if k % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {k}")
        return k

    def stage_channels(self) -> list[int]:
        """Output channels of each stage, ``[c_0, ..., c_{depth-1}]``."""
        return [max(1, round(self.width * self.growth**i)) for i in range(self.depth)]
