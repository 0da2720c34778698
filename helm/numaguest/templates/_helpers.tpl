{{/*
Chart name, overridable.
*/}}
{{- define "numaguest.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of every object name. Truncated to leave room for the longest suffix ("-operator-leader-election")
within the 63 characters of a label value / DNS label.
*/}}
{{- define "numaguest.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 38 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 38 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 38 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "numaguest.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Standard labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/).
Call with (dict "ctx" $ "component" "operator").
*/}}
{{- define "numaguest.labels" -}}
helm.sh/chart: {{ include "numaguest.chart" .ctx }}
{{ include "numaguest.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: numaguest
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels: stable across upgrades (a Deployment's or DaemonSet's selector is immutable), so no
version in them. Call with (dict "ctx" $ "component" "operator").
*/}}
{{- define "numaguest.selectorLabels" -}}
app.kubernetes.io/name: {{ include "numaguest.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{- define "numaguest.operator.fullname" -}}
{{- printf "%s-operator" (include "numaguest.fullname" .) }}
{{- end }}

{{- define "numaguest.agent.fullname" -}}
{{- printf "%s-agent" (include "numaguest.fullname" .) }}
{{- end }}

{{- define "numaguest.operator.serviceAccountName" -}}
{{- default (include "numaguest.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- end }}

{{- define "numaguest.agent.serviceAccountName" -}}
{{- default (include "numaguest.agent.fullname" .) .Values.agent.serviceAccount.name }}
{{- end }}

{{/*
Image reference: repository:tag, or repository@digest when a digest is given.
Call with (dict "image" .Values.operator.image "ctx" $).
*/}}
{{- define "numaguest.image" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag) }}
{{- end }}
{{- end }}

{{/*
Whether to render a ServiceMonitor: "always", or "auto" when the Prometheus Operator's API is served.
*/}}
{{- define "numaguest.serviceMonitor.enabled" -}}
{{- $mode := .Values.metrics.serviceMonitor.enabled }}
{{- if or (eq $mode "always") (and (eq $mode "auto") (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor")) }}true{{ end }}
{{- end }}

{{/*
kubevirt.integration as off, plugin or sidecar (a bare YAML off arrives as false).
*/}}
{{- define "numaguest.kubevirt.integration" -}}
{{- $integration := toString .Values.kubevirt.integration }}
{{- if eq $integration "false" }}off{{ else }}{{ $integration }}{{ end }}
{{- end }}

{{/*
The VMI annotation the operator writes from an NGM and the KubeVirt hook reads (HookedVmi.ANNOTATION).
*/}}
{{- define "numaguest.kubevirt.annotation" -}}
numaguest.io/guest-memory
{{- end }}

{{/*
A resources map (requests or limits) as a CEL map literal of quantity strings.
*/}}
{{- define "numaguest.celQuantities" -}}
{{- $entries := list }}
{{- range $name, $quantity := . }}
{{- $entries = append $entries (printf "%q: %q" $name (toString $quantity)) }}
{{- end }}
{{- printf "{%s}" (join ", " $entries) }}
{{- end }}
