{{/* Short name of the chart's objects. */}}
{{- define "omring-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object names: the release name, prefixed to the chart name unless it already contains it. */}}
{{- define "omring-operator.fullname" -}}
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

{{- define "omring-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "omring-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "omring-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "omring-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: omring
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "omring-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "omring-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "omring-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Names shared between the Deployment's flags and the objects they point at. */}}
{{- define "omring-operator.webhookServiceName" -}}
{{- printf "%s-webhook" (include "omring-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "omring-operator.webhookConfigName" -}}
{{- printf "%s-%s-eviction" (include "omring-operator.fullname" .) .Release.Namespace | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "omring-operator.leaseName" -}}
{{- printf "%s-leader" (include "omring-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
