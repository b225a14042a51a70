{{/*
The chart name, truncated to the 63 characters a Kubernetes name allows.
*/}}
{{- define "agent-runtime.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of every resource: the release name, with the chart name appended unless
the release name already contains it.
*/}}
{{- define "agent-runtime.fullname" -}}
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

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "agent-runtime.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every resource.
*/}}
{{- define "agent-runtime.labels" -}}
helm.sh/chart: {{ include "agent-runtime.chart" . }}
{{ include "agent-runtime.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: worker
app.kubernetes.io/part-of: ironcage
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels: they never change between releases, so Deployments can be upgraded.
*/}}
{{- define "agent-runtime.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agent-runtime.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount the pods run as.
*/}}
{{- define "agent-runtime.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "agent-runtime.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference: registry/repository@digest when a digest is set, else
registry/repository:tag with the tag falling back to the chart's appVersion.
*/}}
{{- define "agent-runtime.image" -}}
{{- $repository := .Values.image.repository }}
{{- with .Values.image.registry }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Whether tasks live in a shared Redis (deployed here or external): only then can the runtime
run more than one replica.
*/}}
{{- define "agent-runtime.sharedStore" -}}
{{- if or .Values.redis.enabled .Values.redis.external.existingSecret }}true{{- end }}
{{- end }}

{{/* Labels of the Redis that holds the tasks (never matched by the runtime's selector). */}}
{{- define "agent-runtime.redisSelectorLabels" -}}
app.kubernetes.io/name: {{ include "agent-runtime.name" . }}-redis
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The Redis image, always by digest: registry/repository@digest. */}}
{{- define "agent-runtime.redisImage" -}}
{{- $repository := .Values.redis.image.repository }}
{{- with .Values.redis.image.registry }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository }}
{{- end }}
{{- printf "%s@%s" $repository (required "redis.image.digest is required: a third-party image runs by digest" .Values.redis.image.digest) }}
{{- end }}
