"""Condition types and reasons the operator writes: part of the API, read by the plugin.

A reason is a machine-readable word (metav1.Condition syntax) that clients match on, so
it is spelled once, here. Safety reasons come from the runtime and are not listed.
"""

from __future__ import annotations

# Condition types.
READY = "Ready"
PUBLISHED = "Published"
TRIGGER_WIRED = "TriggerWired"
SAFETY_PAUSED = "SafetyPaused"
VALIDATED = "Validated"
COMPILED = "Compiled"
ACTIVE = "Active"
WORKFLOW_FOUND = "WorkflowFound"

# Publish outcomes (status.lastPublish.reason; Ready's reason while not done).
REASON_PUBLISHED = "Published"
REASON_ROLLED_BACK = "RolledBack"
REASON_PUBLISHING = "Publishing"
REASON_VERSION_NOT_FOUND = "VersionNotFound"
REASON_VALIDATION_FAILED = "ValidationFailed"
REASON_COMPILE_FAILED = "CompileFailed"
REASON_SAFETY_PAUSED = "SafetyPaused"
REASON_ARCHIVED = "Archived"
REASON_INVALID_NAME = "InvalidName"
"""The workflow's name cannot name its trigger Service (also the plugin linter's code)."""

# Workflow conditions.
REASON_INVALID_SPEC = "InvalidSpec"
"""Ready's reason while the Workflow's spec cannot be read (what is live is held)."""
REASON_FORK_REFUSED = "ForkRefused"
"""Ready's reason while an edit of the live version has no version number left to take."""
REASON_LIVE_PLAN_LOST = "LivePlanLost"
"""Ready's reason while the live version's plan is gone and its graph was edited since."""
REASON_SERVICE_CONFLICT = "ServiceConflict"
REASON_ENDPOINT_SLICE_CONFLICT = "EndpointSliceConflict"
REASON_NOTHING_PUBLISHED = "NothingPublished"
REASON_SUSPENDED = "Suspended"
REASON_VERSION_ACTIVE = "VersionActive"
REASON_NO_ACTIVE_VERSION = "NoActiveVersion"
REASON_WIRED = "Wired"
REASON_SAFETY_TRIPPED = "SafetyTripped"
"""SafetyPaused's reason when the trip's own reason is empty."""
REASON_RESUMED = "Resumed"
REASON_NOT_TRIPPED = "NotTripped"

# Version conditions (and the codes of errors the family, not the graph, causes).
REASON_VALID = "Valid"
REASON_GRAPH_INVALID = "GraphInvalid"
REASON_PLAN_LIMIT_EXCEEDED = "PlanLimitExceeded"
REASON_PLAN_READY = "PlanReady"
REASON_PLAN_OUTDATED = "PlanOutdated"
REASON_NOT_COMPILED = "NotCompiled"
REASON_LIVE = "Live"
REASON_RETIRED = "Retired"
REASON_NOT_LIVE = "NotLive"
REASON_WORKFLOW_FOUND = "WorkflowFound"
REASON_WORKFLOW_NOT_FOUND = "WorkflowNotFound"
REASON_DUPLICATE_VERSION = "DuplicateVersion"
REASON_OWNER_MISMATCH = "OwnerMismatch"
REASON_TOO_MANY_ERRORS = "TooManyErrors"

PENDING_REASONS = frozenset({REASON_PUBLISHING, REASON_VERSION_NOT_FOUND})
"""Ready=False reasons that mean "not done yet" rather than "rejected"."""

# Event reasons (besides the publish outcomes above, an event each when recorded, and the
# Ready reasons InvalidSpec and ForkRefused, and WorkflowNotFound on a version).
EVENT_PUBLISH_REJECTED = "PublishRejected"
EVENT_PUBLISH_PENDING = "PublishPending"
EVENT_DEACTIVATED = "Deactivated"
EVENT_ARCHIVED = "Archived"
EVENT_RESUMED = "Resumed"
EVENT_SAFETY_PAUSED = "SafetyPaused"
EVENT_FORKED = "Forked"
EVENT_REVERTED = "Reverted"
EVENT_REVERT_IGNORED = "RevertIgnored"
EVENT_TRIGGER_REPAIRED = "TriggerRepaired"
EVENT_VERSION_DELETED = "VersionDeleted"
