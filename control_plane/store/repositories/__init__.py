"""Data access: every query of the store lives in one of these repositories, one module per
aggregate. Every query that reads or writes a company's rows takes `company_id`; the few that
span companies (the background jobs', the worker's) say so."""

from .agents import VoiceAgentRepository
from .analyses import AnalysisRepository
from .companies import CompanyRepository
from .conversations import ConversationRepository
from .deployments import DeploymentRepository
from .keys import ApiKeyRepository, IssuedKey, ProviderKeyRepository
from .knowledge import ClaimedItem, KnowledgeRepository, StoredPassage, StorePassages
from .mcp import McpServerRepository
from .phone import PhoneNumberRepository
from .users import ConsoleSessionRepository, UserRepository
from .voices import CustomVoiceRepository, VoicePreviewRepository
from .webhooks import DueDelivery, WebhookDeliveryRepository, WebhookRepository

__all__ = [
    "AnalysisRepository",
    "ApiKeyRepository",
    "ClaimedItem",
    "CompanyRepository",
    "CustomVoiceRepository",
    "ConsoleSessionRepository",
    "ConversationRepository",
    "DeploymentRepository",
    "DueDelivery",
    "IssuedKey",
    "KnowledgeRepository",
    "McpServerRepository",
    "PhoneNumberRepository",
    "ProviderKeyRepository",
    "StorePassages",
    "StoredPassage",
    "UserRepository",
    "VoiceAgentRepository",
    "VoicePreviewRepository",
    "WebhookDeliveryRepository",
    "WebhookRepository",
]
