"""lime's module name: ``from lumos import lime_image`` where notebooks have ``from lime import lime_image``."""
from lumos.lime import ImageExplanation, LimeImageExplainer, SegmentationAlgorithm

__all__ = ["ImageExplanation", "LimeImageExplainer", "SegmentationAlgorithm"]
