-- Argo CD health of a flowplane.dev/WorkflowVersion, from its phase.
local hs = {}
local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the flowplane operator"
  return hs
end
local phase = status.phase
if phase == "Compiling" then
  hs.status = "Progressing"
elseif phase == "Invalid" or phase == "Failed" then
  hs.status = "Degraded"
else
  -- Draft, Active, Inactive. A draft with errors is still healthy: it is work in progress.
  hs.status = "Healthy"
end
hs.message = phase
if status.errors ~= nil and #status.errors > 0 then
  hs.message = phase .. ": " .. #status.errors .. " error(s), first: " .. status.errors[1].code
    .. ": " .. (status.errors[1].message or "")
end
return hs
