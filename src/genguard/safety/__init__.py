"""Safety: classifiers that judge prompts and outputs, and one category list for every block."""

from .categories import CATEGORIES
from .chain import ChainResult, ClassifierChain, Decision
from .loader import ENTRY_POINT_GROUP, build_chain, build_classifier, resolve_classifier
from .moderation import ModerationClassifier, parse_moderation_response
from .rules import RulesClassifier
from .verdict import SafetyClassifier, Verdict

__all__ = [
    "CATEGORIES",
    "ENTRY_POINT_GROUP",
    "ChainResult",
    "ClassifierChain",
    "Decision",
    "ModerationClassifier",
    "RulesClassifier",
    "SafetyClassifier",
    "Verdict",
    "build_chain",
    "build_classifier",
    "parse_moderation_response",
    "resolve_classifier",
]
