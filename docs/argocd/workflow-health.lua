-- Argo CD health of a flowplane.dev/Workflow, from its Ready condition.
local hs = {}
local status = obj.status
if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the flowplane operator"
  return hs
end
local ready = nil
for _, c in ipairs(status.conditions) do
  if c.type == "Ready" then
    ready = c
  end
end
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to act on generation " .. generation
  return hs
end
if status.phase == "Disabled" then
  hs.status = "Suspended"
  hs.message = ready.message or "spec.suspend is true"
  return hs
end
local message = (ready.reason or "") .. ": " .. (ready.message or "")
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message
  return hs
end
local degraded = {
  PublishRejected = true, SafetyPaused = true, ValidationFailed = true,
  CompileFailed = true, ServiceConflict = true, InvalidSpec = true, ForkRefused = true,
}
if degraded[ready.reason] then
  hs.status = "Degraded"
else
  -- Publishing, VersionNotFound (a GitOps sync may apply the version next), or unknown.
  hs.status = "Progressing"
end
hs.message = message
return hs
