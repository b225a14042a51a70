{{/*
The chart name, truncated to the 63 characters a Kubernetes name allows.
*/}}
{{- define "control-panel.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of every resource: the release name, with the chart name appended unless
the release name already contains it.
*/}}
{{- define "control-panel.fullname" -}}
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
{{- define "control-panel.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every resource.
*/}}
{{- define "control-panel.labels" -}}
helm.sh/chart: {{ include "control-panel.chart" . }}
{{ include "control-panel.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: ironcage
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels: they never change between releases, so Deployments can be upgraded.
*/}}
{{- define "control-panel.selectorLabels" -}}
app.kubernetes.io/name: {{ include "control-panel.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount the pods run as.
*/}}
{{- define "control-panel.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "control-panel.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Labels and selector labels of one component (api or web): pass (dict "root" $ "component" "api").
*/}}
{{- define "control-panel.componentLabels" -}}
{{ include "control-panel.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "control-panel.componentSelectorLabels" -}}
{{ include "control-panel.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
The image reference of one component: pass (dict "root" $ "image" .Values.api.image).
registry/repository@digest when a digest is set, else registry/repository:tag with the
tag falling back to the chart's appVersion.
*/}}
{{- define "control-panel.image" -}}
{{- $repository := .image.repository }}
{{- with .root.Values.image.registry }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository }}
{{- end }}
{{- if .image.digest }}
{{- printf "%s@%s" $repository .image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (.image.tag | default .root.Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The name of the PersistentVolumeClaim holding the database.
*/}}
{{- define "control-panel.claimName" -}}
{{- default (printf "%s-data" (include "control-panel.fullname" .)) .Values.api.persistence.existingClaim }}
{{- end }}
