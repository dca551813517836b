{{/* Names and labels. */}}
{{- define "tessera.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tessera.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tessera.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "tessera.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "tessera.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tessera.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tessera.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tessera.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tessera.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret the pods and the hook Job read: the user's, or the chart's. */}}
{{- define "tessera.secretName" -}}
{{- default (include "tessera.fullname" .) .Values.existingSecret }}
{{- end }}

{{/* The roles deployed: [all] or [api worker]. */}}
{{- define "tessera.roles" -}}
{{- if .Values.splitRoles }}["api","worker"]{{ else }}["all"]{{ end }}
{{- end }}

{{/* A value as an env string: YAML numbers arrive as float64 (1048576 would print 1.048576e+06). */}}
{{- define "tessera.envString" -}}
{{- if kindIs "float64" . }}{{- int64 . | toString }}{{- else }}{{- toString . }}{{- end }}
{{- end }}

{{/* Variables the chart derives from other settings: refused under config and secret. */}}
{{- define "tessera.derivedEnv" -}}
{{- list "TESSERA_ROLE" "PORT" "METRICS_PORT" "SHUTDOWN_DRAIN_DELAY_MS" "SHUTDOWN_TIMEOUT_MS" | toJson }}
{{- end }}

{{/* The ConfigMap's data: config (nulls left out) and the derived variables. */}}
{{- define "tessera.configData" -}}
{{- $derived := include "tessera.derivedEnv" . | fromJsonArray }}
{{- range $key, $value := .Values.config }}
{{- if has $key $derived }}
{{- fail (printf "config.%s is derived by the chart (splitRoles, port, metrics.port, shutdown): set that instead" $key) }}
{{- end }}
{{- if not (kindIs "invalid" $value) }}
{{ $key }}: {{ include "tessera.envString" $value | quote }}
{{- end }}
{{- end }}
PORT: {{ .Values.port | int | toString | quote }}
{{- if not (kindIs "invalid" .Values.metrics.port) }}
METRICS_PORT: {{ .Values.metrics.port | int | toString | quote }}
{{- end }}
SHUTDOWN_DRAIN_DELAY_MS: {{ mul (int .Values.shutdown.drainDelaySeconds) 1000 | toString | quote }}
SHUTDOWN_TIMEOUT_MS: {{ mul (int .Values.shutdown.timeoutSeconds) 1000 | toString | quote }}
{{- end }}

{{/* The Secret's data (base64), nulls left out. */}}
{{- define "tessera.secretData" -}}
{{- $derived := include "tessera.derivedEnv" . | fromJsonArray }}
{{- range $key, $value := .Values.secret }}
{{- if has $key $derived }}
{{- fail (printf "secret.%s is derived by the chart: set it through its setting" $key) }}
{{- end }}
{{- if not (kindIs "invalid" $value) }}
{{ $key }}: {{ include "tessera.envString" $value | b64enc | quote }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tessera.checks" -}}
{{- if lt (int .Values.shutdown.timeoutSeconds) (add (int .Values.shutdown.drainDelaySeconds) 5 | int) }}
{{- fail "shutdown.timeoutSeconds must exceed shutdown.drainDelaySeconds by 5 s at least: the timeout includes the drain delay" }}
{{- end }}
{{- if and .Values.firstAdmin.enabled (not .Values.firstAdmin.email) }}
{{- fail "firstAdmin.email is required when firstAdmin.enabled" }}
{{- end }}
{{- if and .Values.firstAdmin.enabled (not .Values.existingSecret) (not .Values.secret.FIRST_ADMIN_PASSWORD) }}
{{- fail "secret.FIRST_ADMIN_PASSWORD is required when firstAdmin.enabled (or use existingSecret with that key)" }}
{{- end }}
{{- if and .Values.firstAdmin.enabled (not .Values.migrations.enabled) }}
{{- fail "firstAdmin runs in the migration Job: it needs migrations.enabled" }}
{{- end }}
{{- end }}

{{/* The pod spec shared by the role Deployments: role in .role, root context in .root. */}}
{{- define "tessera.terminationGrace" -}}
{{- add (int .Values.shutdown.preStopSleepSeconds) (int .Values.shutdown.timeoutSeconds) (int .Values.shutdown.graceMarginSeconds) }}
{{- end }}
